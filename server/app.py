"""The server's application: the route tables of its listeners and how access is decided."""

from __future__ import annotations

from dataclasses import dataclass

from server.api.admin import admin_routes
from server.api.auth import auth_routes
from server.api.system import metrics_routes, system_routes
from server.auth.authorizer import Authenticator, check_route_policies, make_authorizer
from server.auth.context import AuthContext
from server.http.dispatch import Authorizer
from server.http.routing import Router
from server.state import ServerState


@dataclass(frozen=True)
class Application:
    api: Router
    metrics: Router
    authorizer: Authorizer
    auth: AuthContext


def build_application(state: ServerState) -> Application:
    auth = AuthContext.create(state.database, state.settings, state.keys)
    api = Router()
    system_routes(api, state)
    auth_routes(api, auth)
    admin_routes(api, auth)
    metrics = Router()
    metrics_routes(metrics, state)
    check_route_policies([*api, *metrics])
    authorizer = make_authorizer(Authenticator(state.database, auth.codec, auth.clock))
    return Application(api=api, metrics=metrics, authorizer=authorizer, auth=auth)
