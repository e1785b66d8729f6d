"""The sync endpoints: push commands, pull records, and wait for changes."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict, Field

from server.auth.authorizer import principal_of
from server.auth.permissions import Permission
from server.http.messages import Request, Response
from server.http.routing import Requires, Router
from server.sync.service import SyncService, check_protocol
from shared.sync.protocol import PokeResponse, PullRequest, PullResponse, PushRequest, PushResponse

MAX_POKE_SECONDS = 30.0


class PokeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    client_id: uuid.UUID
    schema_version: int = Field(ge=1)
    cursor: str | None = Field(None, max_length=512)
    wait_seconds: float = Field(25.0, ge=0, le=MAX_POKE_SECONDS)


def sync_routes(router: Router, service: SyncService) -> None:
    access = Requires(Permission.SESSION_SELF)

    @router.post(
        "/api/v1/sync/push",
        access=access,
        summary="Apply a batch of this client's mutations in order.",
        tags=["sync"],
        errors=[403, 409, 426],
    )
    async def sync_push(request: Request, body: PushRequest) -> PushResponse:
        return await service.push(principal_of(request), body)

    @router.post(
        "/api/v1/sync/pull",
        access=access,
        summary="The next page of changes to the records this device may hold.",
        tags=["sync"],
        errors=[403, 409, 426],
        response=PullResponse,
    )
    async def sync_pull(request: Request, body: PullRequest) -> Response:
        answer = await service.answer_pull(principal_of(request), body)
        return Response(status=200, body=answer.to_json())

    @router.post(
        "/api/v1/sync/poke",
        access=access,
        summary="Wait until this device's records change, or for at most wait_seconds.",
        tags=["sync"],
        errors=[403, 409, 426],
    )
    async def sync_poke(request: Request, body: PokeRequest) -> PokeResponse:
        check_protocol(body.schema_version)
        return await service.poke(principal_of(request), body.client_id, body.cursor, body.wait_seconds)
