"""Who is calling, and may they: the authorizer the dispatcher runs before every handler.

For a protected route it verifies the bearer access token, then asks the database (one
query by primary keys, every request, no cache) whether the session, the user and the
device still stand and their epochs still match the token's, so that a disabled user or a
revoked device is refused on the very next request on every server instance.  Then it
checks the route's permission against the principal's roles."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, bindparam, select

from server.auth import errors
from server.auth.clock import Clock
from server.auth.permissions import Permission, is_permission, permissions_of
from server.auth.tables import auth_sessions, branches, devices, users
from server.auth.tokens import AccessClaims, TokenCodec, TokenError
from server.db.engine import Database
from server.http.dispatch import Authorizer
from server.http.messages import Request
from server.http.routing import Public, Requires, Route

PRINCIPAL = "principal"

_STANDING = (
    select(
        auth_sessions.c.user_id,
        auth_sessions.c.device_id,
        auth_sessions.c.expires_at,
        auth_sessions.c.revoked_at.label("session_revoked_at"),
        users.c.username,
        users.c.display_name,
        users.c.active,
        users.c.token_epoch.label("user_epoch"),
        users.c.branch_id,
        branches.c.code.label("branch_code"),
        devices.c.revoked_at.label("device_revoked_at"),
        devices.c.token_epoch.label("device_epoch"),
    )
    .select_from(
        auth_sessions.join(users, users.c.id == auth_sessions.c.user_id)
        .join(devices, devices.c.id == auth_sessions.c.device_id)
        .join(branches, branches.c.id == users.c.branch_id)
    )
    .where(auth_sessions.c.id == bindparam("session_id"))
)


@dataclass(frozen=True)
class Principal:
    """The signed-in caller, as handlers find it in ``request.state["principal"]``."""

    user_id: uuid.UUID
    username: str
    display_name: str
    roles: tuple[str, ...]
    branch_id: uuid.UUID
    branch_code: str
    device_id: uuid.UUID
    session_id: uuid.UUID
    session_expires_at: dt.datetime
    permissions: frozenset[Permission]

    def may(self, permission: Permission) -> bool:
        return permission in self.permissions


def principal_of(request: Request) -> Principal:
    principal = request.state.get(PRINCIPAL)
    if not isinstance(principal, Principal):
        raise errors.unauthenticated()
    return principal


def bearer_token(request: Request) -> str:
    header = request.header(b"authorization")
    if header is None:
        raise errors.unauthenticated()
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise errors.invalid_token()
    return token.strip()


class Authenticator:
    def __init__(self, database: Database, codec: TokenCodec, clock: Clock) -> None:
        self.database = database
        self.codec = codec
        self.clock = clock

    async def _standing(self, session_id: uuid.UUID) -> Row[*tuple[Any, ...]] | None:
        """The one query.  A single SELECT is consistent on its own, so on PostgreSQL it runs
        without BEGIN/COMMIT round trips."""
        async with self.database.engine.connect() as connection:
            if self.database.dialect == "postgresql":
                connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
            return (await connection.execute(_STANDING, {"session_id": session_id})).first()

    def verify_token(self, token: str) -> AccessClaims:
        try:
            return self.codec.verify_access(token)
        except TokenError as exc:
            raise errors.token_expired() if exc.code == "token_expired" else errors.invalid_token() from None

    async def authenticate(self, token: str) -> Principal:
        claims = self.verify_token(token)
        row = await self._standing(claims.session_id)
        if row is None or row.user_id != claims.user_id or row.device_id != claims.device_id:
            raise errors.invalid_token()
        if row.device_revoked_at is not None or row.device_epoch != claims.device_epoch:
            raise errors.device_revoked()
        if row.session_revoked_at is not None or not row.active or row.user_epoch != claims.user_epoch:
            raise errors.session_revoked()
        if row.expires_at <= self.clock():
            raise errors.session_expired()
        return Principal(
            user_id=claims.user_id,
            username=row.username,
            display_name=row.display_name,
            roles=claims.roles,
            branch_id=row.branch_id,
            branch_code=row.branch_code,
            device_id=claims.device_id,
            session_id=claims.session_id,
            session_expires_at=row.expires_at,
            permissions=permissions_of(claims.roles),
        )


def check_route_policies(routes: Iterable[Route]) -> None:
    """Refuse to build a route table with a route whose access rule names no known
    permission: a typo must fail at start-up, not deny (or allow) at run time."""
    for route in routes:
        if isinstance(route.access, Requires):
            if not is_permission(route.access.permission):
                raise ValueError(
                    f"{route.method} {route.path} requires {route.access.permission!r}, "
                    "which is not in server.auth.permissions"
                )
        elif not isinstance(route.access, Public) or not route.access.reason.strip():
            raise ValueError(f"{route.method} {route.path} has no access policy")


def make_authorizer(authenticator: Authenticator) -> Authorizer:
    async def authorize(request: Request, route: Route) -> None:
        if isinstance(route.access, Public):
            return
        if not isinstance(route.access, Requires):
            raise errors.forbidden("unknown")
        principal = await authenticator.authenticate(bearer_token(request))
        request.state[PRINCIPAL] = principal
        permission = route.access.permission
        if not is_permission(permission) or Permission(permission) not in principal.permissions:
            raise errors.forbidden(permission)

    return authorize
