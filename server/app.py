"""The server's application: the route tables of its listeners and how access is decided."""

from __future__ import annotations

from dataclasses import dataclass

from server.api.admin import admin_routes
from server.api.auth import auth_routes
from server.api.customers import customer_routes
from server.api.sync import sync_routes
from server.api.system import metrics_routes, system_routes
from server.audit.api import audit_routes
from server.auth.authorizer import Authenticator, check_route_policies, make_authorizer
from server.auth.context import AuthContext
from server.customers.service import CustomerRegister
from server.http.dispatch import Authorizer
from server.http.routing import Router
from server.state import ServerState
from server.sync.feed import ChangeFeed
from server.sync.notify import ChangeNotifier
from server.sync.service import SyncService


@dataclass(frozen=True)
class Application:
    api: Router
    metrics: Router
    authorizer: Authorizer
    auth: AuthContext
    customers: CustomerRegister
    sync: SyncService

    async def start(self) -> None:
        """Stores and background work that live as long as the listeners."""
        await self.customers.start()
        self.sync.notifier.start(self.sync.database.url)

    async def release(self) -> None:
        """First step of shutdown: release long-polls so their connections can close, and
        stop reading pull pages ahead."""
        await self.sync.release()

    async def close(self) -> None:
        """Last step of shutdown, once no request is running."""
        await self.customers.close()


def build_application(state: ServerState) -> Application:
    auth = AuthContext.create(state.database, state.settings, state.keys)
    api = Router()
    system_routes(api, state)
    auth_routes(api, auth)
    admin_routes(api, auth)
    customers = CustomerRegister.create(state.settings)
    sync = SyncService(
        state.database,
        ChangeFeed([customers.synced]),
        ChangeNotifier(),
        customers.commands.handlers(),
        auth.clock,
    )
    sync_routes(api, sync)
    customer_routes(api, state.database, customers.store)
    audit_routes(api, state.audit)
    metrics = Router()
    metrics_routes(metrics, state)
    check_route_policies([*api, *metrics])
    authorizer = make_authorizer(Authenticator(state.database, auth.codec, auth.clock))
    return Application(
        api=api, metrics=metrics, authorizer=authorizer, auth=auth, customers=customers, sync=sync
    )
