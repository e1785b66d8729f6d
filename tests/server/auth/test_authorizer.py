"""The authorizer: token, then the database's word on session, user and device (epochs
included), then the permission."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import BaseModel
from sqlalchemy import update

from server.auth.accounts import Actor, set_active
from server.auth.authorizer import PRINCIPAL, Authenticator, check_route_policies, make_authorizer
from server.auth.devices import revoke_device
from server.auth.permissions import Permission
from server.auth.refresh import sign_out
from server.auth.tables import auth_sessions, devices, users
from server.http.errors import HTTPError
from server.http.messages import Request
from server.http.routing import Public, Requires, Router
from testkit.auth import Device, service_sign_in


class Nothing(BaseModel):
    ok: bool = True


def request_with(token: str | None = None, scheme: str = "Bearer") -> Request:
    headers = [] if token is None else [(b"authorization", f"{scheme} {token}".encode())]
    return Request(method="GET", path="/x", query_string="", headers=headers, request_id="r1")


@pytest.fixture
def authenticator(context) -> Authenticator:
    return Authenticator(context.database, context.codec, context.clock)


async def refused(coroutine) -> HTTPError:
    with pytest.raises(HTTPError) as caught:
        await coroutine
    return caught.value


async def test_a_valid_token_yields_the_principal(context, enroll, authenticator):
    staff = await enroll("thandi", "teller", branch_code="CPT01")
    grant = await service_sign_in(context, staff, Device())
    principal = await authenticator.authenticate(grant.access.token)
    assert principal.user_id == staff.user_id
    assert principal.username == "thandi"
    assert principal.roles == ("teller",)
    assert principal.branch_code == "CPT01"
    assert principal.device_id == grant.device.id
    assert principal.session_id == grant.session_id
    assert Permission.CUSTOMERS_CREATE in principal.permissions
    assert not principal.may(Permission.USERS_MANAGE)


async def test_disabling_the_user_stops_the_access_token_at_once(context, enroll, authenticator, clock):
    staff = await enroll("thandi", "teller")
    grant = await service_sign_in(context, staff, Device())
    async with context.database.transaction(write=True) as connection:
        await set_active(connection, staff.user_id, False, actor=Actor.cli(), now=clock())
    assert (await refused(authenticator.authenticate(grant.access.token))).code == "session_revoked"


async def test_revoking_the_device_stops_the_access_token_with_its_own_code(
    context, enroll, authenticator, clock
):
    staff = await enroll("thandi", "teller")
    grant = await service_sign_in(context, staff, Device())
    async with context.database.transaction(write=True) as connection:
        await revoke_device(connection, grant.device.id, actor_id=None, now=clock())
    error = await refused(authenticator.authenticate(grant.access.token))
    assert (error.status, error.code) == (401, "device_revoked")


@pytest.mark.parametrize("table", ["users", "devices"])
async def test_a_raised_epoch_alone_is_enough(context, enroll, authenticator, table):
    staff = await enroll("thandi", "teller")
    grant = await service_sign_in(context, staff, Device())
    async with context.database.transaction(write=True) as connection:
        if table == "users":
            statement = (
                update(users).where(users.c.id == staff.user_id).values(token_epoch=users.c.token_epoch + 1)
            )
        else:
            statement = (
                update(devices)
                .where(devices.c.id == grant.device.id)
                .values(token_epoch=devices.c.token_epoch + 1)
            )
        await connection.execute(statement)
    error = await refused(authenticator.authenticate(grant.access.token))
    assert error.code == ("session_revoked" if table == "users" else "device_revoked")


async def test_signing_out_and_session_expiry_stop_the_access_token(context, enroll, authenticator, clock):
    staff = await enroll("thandi", "teller")
    grant = await service_sign_in(context, staff, Device())
    await sign_out(
        context, session_id=grant.session_id, user_id=staff.user_id, device_id=grant.device.id, client=None
    )
    assert (await refused(authenticator.authenticate(grant.access.token))).code == "session_revoked"

    clock.advance(seconds=30)
    grant = await service_sign_in(context, staff, Device())
    async with context.database.transaction(write=True) as connection:
        await connection.execute(
            update(auth_sessions)
            .where(auth_sessions.c.id == grant.session_id)
            .values(expires_at=clock() - dt.timedelta(seconds=1))
        )
    assert (await refused(authenticator.authenticate(grant.access.token))).code == "session_expired"


async def test_an_expired_access_token_says_so(context, enroll, authenticator, clock):
    staff = await enroll("thandi", "teller")
    grant = await service_sign_in(context, staff, Device())
    clock.advance(minutes=6)
    error = await refused(authenticator.authenticate(grant.access.token))
    assert (error.status, error.code) == (401, "token_expired")


async def test_the_authorizer_checks_header_and_permission(context, enroll, authenticator):
    router = Router()

    @router.get("/open", access=Public("test"), summary="open")
    async def open_route(request: Request) -> Nothing:
        return Nothing()

    @router.get("/tellers", access=Requires(Permission.TRANSACTIONS_CAPTURE), summary="tellers only")
    async def tellers(request: Request) -> Nothing:
        return Nothing()

    @router.get("/admins", access=Requires(Permission.USERS_MANAGE), summary="admins only")
    async def admins(request: Request) -> Nothing:
        return Nothing()

    routes = {route.path: route for route in router}
    authorize = make_authorizer(authenticator)
    await authorize(request_with(), routes["/open"])

    missing = await refused(authorize(request_with(), routes["/tellers"]))
    assert (missing.status, missing.code) == (401, "unauthenticated")
    assert ("www-authenticate", 'Bearer realm="kluis"') in missing.headers
    assert (
        await refused(authorize(request_with("abc", "Basic"), routes["/tellers"]))
    ).code == "invalid_token"
    assert (await refused(authorize(request_with("not.a.jwt"), routes["/tellers"]))).code == "invalid_token"

    staff = await enroll("thandi", "teller")
    grant = await service_sign_in(context, staff, Device())
    allowed = request_with(grant.access.token)
    await authorize(allowed, routes["/tellers"])
    assert allowed.state[PRINCIPAL].username == "thandi"
    denied = await refused(authorize(request_with(grant.access.token), routes["/admins"]))
    assert (denied.status, denied.code) == (403, "forbidden")


def test_a_route_naming_an_unknown_permission_or_no_reason_fails_the_build():
    router = Router()

    @router.get("/typo", access=Requires("users.mange"), summary="typo")
    async def typo(request: Request) -> Nothing:
        return Nothing()

    with pytest.raises(ValueError, match=r"users\.mange"):
        check_route_policies(router)

    router = Router()

    @router.get("/why", access=Public(" "), summary="no reason")
    async def why(request: Request) -> Nothing:
        return Nothing()

    with pytest.raises(ValueError, match="no access policy"):
        check_route_policies(router)
