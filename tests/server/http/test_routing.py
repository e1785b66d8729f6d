"""The route table as a plain object: matching, declaration errors, negotiation helpers."""

from __future__ import annotations

import uuid

import pytest
from pydantic import BaseModel

from server.http.messages import Request, Response
from server.http.negotiation import accepts, is_json
from server.http.routing import Public, Requires, RouteMatch, RouteMiss, Router

OPEN = Public("test")


class Out(BaseModel):
    value: str


class In(BaseModel):
    value: str


def make_router() -> Router:
    router = Router()

    @router.get("/a", access=OPEN, summary="a")
    async def get_a(request: Request) -> Out:
        return Out(value="a")

    @router.post("/a", access=Requires("a.write"), summary="post a")
    async def post_a(request: Request, body: In) -> Out:
        return Out(value=body.value)

    @router.get("/things/{thing_id:uuid}/parts/{index:int}", access=OPEN, summary="part")
    async def part(request: Request) -> Response:
        return Response()

    return router


def test_static_and_templated_routes_match_with_converted_parameters():
    router = make_router()
    matched = router.match("GET", "/a")
    assert isinstance(matched, RouteMatch)
    assert matched.route.name == "get_a"
    thing = uuid.uuid4()
    matched = router.match("GET", f"/things/{thing}/parts/7")
    assert isinstance(matched, RouteMatch)
    assert matched.path_params == {"thing_id": thing, "index": 7}


def test_head_is_served_by_get():
    matched = make_router().match("HEAD", "/a")
    assert isinstance(matched, RouteMatch)
    assert matched.route.method == "GET"


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/b", RouteMiss(404)),
        ("GET", "/things/not-a-uuid/parts/1", RouteMiss(404)),
        ("GET", f"/things/{uuid.UUID(int=1)}/parts/-1", RouteMiss(404)),
        ("DELETE", "/a", RouteMiss(405, ("GET", "HEAD", "POST"))),
    ],
)
def test_misses(method, path, expected):
    assert make_router().match(method, path) == expected


def test_models_are_read_from_annotations():
    routes = {route.name: route for route in make_router()}
    assert routes["post_a"].body_model is In
    assert routes["post_a"].response_model is Out
    assert routes["get_a"].body_model is None
    assert routes["post_a"].access == Requires("a.write")


def test_duplicate_routes_are_refused():
    router = make_router()

    async def get_a(request: Request) -> Out:
        return Out(value="again")

    with pytest.raises(ValueError, match="duplicate route"):
        router.get("/a", access=OPEN, summary="again")(get_a)


def test_handler_declarations_are_checked():
    router = Router()

    async def untyped(request):  # type: ignore[no-untyped-def]
        return None

    with pytest.raises(TypeError):
        router.get("/x", access=OPEN, summary="x")(untyped)

    async def returns_none(request: Request) -> None:
        return None

    with pytest.raises(TypeError, match="204"):
        router.get("/y", access=OPEN, summary="y")(returns_none)

    async def bad_body(request: Request, body: dict) -> Out:  # type: ignore[type-arg]
        return Out(value="")

    with pytest.raises(TypeError, match="pydantic"):
        router.post("/z", access=OPEN, summary="z")(bad_body)


def test_access_is_mandatory():
    router = Router()

    async def handler(request: Request) -> Out:
        return Out(value="")

    with pytest.raises(TypeError):
        router.get("/x", summary="x")(handler)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("header", "media", "expected"),
    [
        (None, "application/json", True),
        ("*/*", "application/json", True),
        ("application/*", "application/json", True),
        ("application/json;q=0", "application/json", False),
        ("*/*, application/json;q=0", "application/json", False),
        ("text/html", "application/json", False),
        ("text/plain;version=0.0.4;q=0.5, */*;q=0.1", "text/plain; version=0.0.4", True),
        ("application/json;q=bogus", "application/json", False),
    ],
)
def test_accepts(header, media, expected):
    assert accepts(header, media) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("application/json", True),
        ("Application/JSON; charset=UTF-8", True),
        ("application/json; charset=latin-1", False),
        ("application/jsonx", False),
        ("text/json", False),
        (None, False),
    ],
)
def test_is_json(value, expected):
    assert is_json(value) is expected
