"""The server's application: the route tables of its listeners and how access is decided."""

from __future__ import annotations

from dataclasses import dataclass

from server.api.system import metrics_routes, system_routes
from server.http.dispatch import Authorizer, deny_protected_routes
from server.http.routing import Router
from server.state import ServerState


@dataclass(frozen=True)
class Application:
    api: Router
    metrics: Router
    authorizer: Authorizer


def build_application(state: ServerState) -> Application:
    api = Router()
    system_routes(api, state)
    metrics = Router()
    metrics_routes(metrics, state)
    return Application(api=api, metrics=metrics, authorizer=deny_protected_routes)
