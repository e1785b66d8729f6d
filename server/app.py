"""The route tables of the server's listeners."""

from __future__ import annotations

from server.api.system import metrics_routes, system_routes
from server.http.routing import Router
from server.state import ServerState


def api_router(state: ServerState) -> Router:
    router = Router()
    system_routes(router, state)
    return router


def metrics_router(state: ServerState) -> Router:
    router = Router()
    metrics_routes(router, state)
    return router
