"""Liveness, readiness, the server's identity and the OpenAPI document."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from typing import Literal

from pydantic import BaseModel, Field
from sqlalchemy.exc import SQLAlchemyError

from server import __version__
from server.db.migrate import current_revision, head_revision
from server.http.messages import Request, Response
from server.http.openapi import openapi_document
from server.http.routing import Public, Router
from server.state import ServerState

logger = logging.getLogger("kluis.health")

API_VERSION = 1
READINESS_TIMEOUT = 2.0


class Liveness(BaseModel):
    status: Literal["alive"] = "alive"


class ReadinessChecks(BaseModel):
    database: Literal["ok", "unreachable"]
    schema_: Literal["ok", "not_at_head", "unknown"] = Field(alias="schema", serialization_alias="schema")


class Readiness(BaseModel):
    status: Literal["ready", "not_ready", "draining"]
    checks: ReadinessChecks


class ServerInfo(BaseModel):
    """Who this server is; the console shows it and checks the CA fingerprint."""

    name: Literal["kluis"] = "kluis"
    version: str
    api_version: int
    schema_revision: str
    ca_fingerprint: str | None = Field(
        description="SHA-256 fingerprint of the CA clients should trust, when the server knows it."
    )
    time: dt.datetime


def system_routes(router: Router, state: ServerState) -> None:
    openapi_cache: list[bytes] = []

    alive = Liveness().model_dump_json().encode()

    @router.get(
        "/livez",
        access=Public("probes must work without credentials"),
        summary="The event loop answers.",
        tags=["system"],
        response=Liveness,
    )
    async def livez(request: Request) -> Response:
        return Response(body=alive)

    @router.get(
        "/readyz",
        access=Public("probes must work without credentials"),
        summary="Database reachable and schema at head; 503 otherwise or while draining.",
        tags=["system"],
        response=Readiness,
        errors=[503],
    )
    async def readyz(request: Request) -> Response:
        database_ok = True
        schema = "unknown"
        try:
            async with asyncio.timeout(READINESS_TIMEOUT):
                revision = await current_revision(state.database)
            schema = "ok" if revision == head_revision() else "not_at_head"
        except (SQLAlchemyError, OSError, TimeoutError):
            database_ok = False
            logger.warning("readiness: database unreachable")
        checks = ReadinessChecks(database="ok" if database_ok else "unreachable", schema=schema)
        if state.draining:
            status = "draining"
        elif database_ok and schema == "ok":
            status = "ready"
        else:
            status = "not_ready"
        body = Readiness(status=status, checks=checks)
        return Response(
            status=200 if status == "ready" else 503, body=body.model_dump_json(by_alias=True).encode()
        )

    @router.get(
        "/api/v1/server-info",
        access=Public("clients identify the server before anyone signs in"),
        summary="The server's name, version, schema and CA fingerprint.",
        tags=["system"],
    )
    async def server_info(request: Request) -> ServerInfo:
        return ServerInfo(
            version=__version__,
            api_version=API_VERSION,
            schema_revision=head_revision(),
            ca_fingerprint=state.ca_fingerprint,
            time=dt.datetime.now(dt.UTC),
        )

    @router.get(
        "/api/openapi.json",
        access=Public("the API description contains no data"),
        summary="This API as an OpenAPI 3.1 document.",
        tags=["system"],
    )
    async def openapi(request: Request) -> Response:
        if not openapi_cache:
            document = openapi_document(
                router, title="Kluis API", version=__version__, description="The Kluis sync server."
            )
            openapi_cache.append(json.dumps(document, separators=(",", ":")).encode())
        return Response(body=openapi_cache[0])


def metrics_routes(router: Router, state: ServerState) -> None:
    @router.get(
        "/metrics",
        access=Public("scraped by monitoring on an internal address; carries no personal information"),
        summary="Prometheus metrics.",
        produces="text/plain; version=0.0.4; charset=utf-8",
        tags=["system"],
    )
    async def metrics(request: Request) -> Response:
        return Response(
            body=state.metrics.exposition(), content_type="text/plain; version=0.0.4; charset=utf-8"
        )
