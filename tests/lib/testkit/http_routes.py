"""A route table for testing the HTTP layer: each route exercises one behaviour."""

from __future__ import annotations

import asyncio

from pydantic import BaseModel, Field

from server.http.errors import HTTPError
from server.http.messages import Request, Response
from server.http.routing import Public, Requires, Router

OPEN = Public("test route")


class Greeting(BaseModel):
    message: str


class EchoIn(BaseModel):
    text: str = Field(max_length=100)
    count: int = Field(ge=0)


class EchoOut(BaseModel):
    text: str
    count: int
    body_bytes: int


class SlowQuery(BaseModel):
    seconds: float = Field(0.0, ge=0, le=30)


class Probe:
    """What the test handlers saw, for assertions."""

    def __init__(self) -> None:
        self.echo_calls = 0
        self.slow_started = asyncio.Event()
        self.slow_finished = 0
        self.slow_cancelled = 0


def build_router(probe: Probe) -> Router:
    router = Router()

    @router.get("/hello", access=OPEN, summary="Say hello.")
    async def hello(request: Request) -> Greeting:
        return Greeting(message="hello")

    @router.post("/echo", access=OPEN, summary="Echo the body back.")
    async def echo(request: Request, body: EchoIn) -> EchoOut:
        probe.echo_calls += 1
        return EchoOut(text=body.text, count=body.count, body_bytes=len(body.model_dump_json()))

    @router.get("/slow", access=OPEN, summary="Sleep, then answer.", query=SlowQuery)
    async def slow(request: Request) -> Greeting:
        query = request.query_as(SlowQuery)
        probe.slow_started.set()
        try:
            await asyncio.sleep(query.seconds)
        except asyncio.CancelledError:
            probe.slow_cancelled += 1
            raise
        probe.slow_finished += 1
        return Greeting(message=f"slept {query.seconds}")

    @router.get("/boom", access=OPEN, summary="Fail with a secret in the exception.")
    async def boom(request: Request) -> Greeting:
        raise RuntimeError("ID 8001015009087 leaked")

    @router.get("/items/{item_id:int}", access=OPEN, summary="One item.")
    async def item(request: Request) -> Greeting:
        return Greeting(message=f"item {request.path_params['item_id']}")

    @router.delete("/items/{item_id:int}", access=OPEN, summary="Delete an item.", status=204)
    async def delete_item(request: Request) -> None:
        return None

    @router.get("/teapot", access=OPEN, summary="A handler-raised error.", errors=[418])
    async def teapot(request: Request) -> Greeting:
        raise HTTPError(418, "teapot", "I am a teapot.")

    @router.get("/text", access=OPEN, summary="Plain text.", produces="text/plain")
    async def text(request: Request) -> Response:
        return Response(body=b"plain", content_type="text/plain")

    @router.post("/protected", access=Requires("test.write"), summary="Needs a permission.")
    async def protected(request: Request, body: EchoIn) -> Greeting:
        return Greeting(message="never without a principal")

    return router
