"""Every route of the real application, for every role: allowed or 403, exactly as the
permission table says.  A route this test does not know, or whose declared access differs
from what is written here, fails the build: adding a route means adding it here."""

from __future__ import annotations

import uuid

import pytest

from server.app import build_application
from server.audit.log import AuditLog
from server.auth.accounts import require_account
from server.auth.context import AuthContext, Grant
from server.auth.devices import enroll_device
from server.auth.keystore import ServerKeys
from server.auth.permissions import RULES, Permission, Role
from server.db.engine import Database
from server.http.errors import HTTPError
from server.http.messages import Request
from server.http.routing import Public, Requires
from server.observability import Metrics
from server.state import ServerState
from testkit.auth import FAST_ARGON2, Device, enroll_staff
from testkit.servers import server_settings

P = Permission
PUBLIC = "public"

# (method, path) -> PUBLIC or the permission the route must require.
EXPECTED: dict[tuple[str, str], str] = {
    ("GET", "/livez"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/api/v1/server-info"): PUBLIC,
    ("GET", "/api/openapi.json"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    ("POST", "/api/v1/auth/challenge"): PUBLIC,
    ("POST", "/api/v1/auth/sign-in"): PUBLIC,
    ("POST", "/api/v1/auth/enrollment/start"): PUBLIC,
    ("POST", "/api/v1/auth/enrollment/complete"): PUBLIC,
    ("POST", "/api/v1/auth/refresh"): PUBLIC,
    ("GET", "/api/v1/auth/me"): P.SESSION_SELF,
    ("POST", "/api/v1/auth/sign-out"): P.SESSION_SELF,
    ("POST", "/api/v1/auth/password"): P.SESSION_SELF,
    ("POST", "/api/v1/auth/recovery-codes"): P.SESSION_SELF,
    ("GET", "/api/v1/admin/users"): P.USERS_READ,
    ("POST", "/api/v1/admin/users"): P.USERS_MANAGE,
    ("GET", "/api/v1/admin/users/{user_id:uuid}"): P.USERS_READ,
    ("POST", "/api/v1/admin/users/{user_id:uuid}/disable"): P.USERS_MANAGE,
    ("POST", "/api/v1/admin/users/{user_id:uuid}/enable"): P.USERS_MANAGE,
    ("POST", "/api/v1/admin/users/{user_id:uuid}/reset-mfa"): P.MFA_RESET,
    ("GET", "/api/v1/admin/devices"): P.DEVICES_READ,
    ("POST", "/api/v1/admin/devices/{device_id:uuid}/revoke"): P.DEVICES_MANAGE,
    ("GET", "/api/v1/admin/branches"): P.BRANCHES_READ,
    ("POST", "/api/v1/admin/branches"): P.BRANCHES_MANAGE,
    ("GET", "/api/v1/admin/roles"): P.ROLES_READ,
    ("GET", "/api/v1/security-events"): P.SECURITY_EVENTS_READ,
    # Sync: every signed-in device syncs; each mutation is checked against its own permission.
    ("POST", "/api/v1/sync/push"): P.SESSION_SELF,
    ("POST", "/api/v1/sync/pull"): P.SESSION_SELF,
    ("POST", "/api/v1/sync/poke"): P.SESSION_SELF,
    ("POST", "/api/v1/customers/search"): P.CUSTOMERS_SEARCH,
    # The audit log: devices submit their own events; the signed log itself is public.
    ("POST", "/api/v1/audit/events"): P.SESSION_SELF,
    ("GET", "/api/v1/audit/checkpoint"): PUBLIC,
    ("GET", "/api/v1/audit/verifier-key"): PUBLIC,
    ("GET", "/api/v1/audit/log"): PUBLIC,
    ("GET", "/api/v1/audit/devices"): P.AUDIT_VERIFY,
    ("GET", "/api/v1/audit/entries"): P.AUDIT_READ,
    ("GET", "/api/v1/audit/erasures"): P.AUDIT_READ,
    ("GET", "/api/v1/audit/proof/inclusion"): P.AUDIT_VERIFY,
    ("GET", "/api/v1/audit/proof/consistency"): P.AUDIT_VERIFY,
    ("POST", "/api/v1/audit/export"): P.AUDIT_EXPORT,
    # tlog-tiles: hash tiles are public like the checkpoint; entry bundles need audit.read.
    **{
        (
            "GET",
            "/api/v1/audit/tile/entries/" + "/".join(f"{{p{n}}}" for n in range(1, depth + 1)),
        ): P.AUDIT_READ
        for depth in range(1, 9)
    },
    **{
        ("GET", "/api/v1/audit/tile/" + "/".join(f"{{p{n}}}" for n in range(depth + 1))): PUBLIC
        for depth in range(1, 9)
    },
}


@pytest.fixture
async def application(tmp_path, database_url):
    settings = server_settings(tmp_path, database_url, **FAST_ARGON2)
    database = Database(database_url)
    audit = AuditLog.from_settings(settings, database)
    state = ServerState(
        settings=settings,
        database=database,
        metrics=Metrics(),
        ca_fingerprint=None,
        keys=ServerKeys.ephemeral(),
        audit=audit,
    )
    yield build_application(state)
    audit.close()
    await database.dispose()


def routes_of(application):
    return [*application.api, *application.metrics]


async def open_session(context: AuthContext, user_id: uuid.UUID) -> Grant:
    """A real session and access token, opened directly: the matrix is about authorization,
    and sign-in has tests of its own."""
    now = context.clock()
    async with context.database.transaction(write=True) as connection:
        account = await require_account(connection, user_id)
        device = await enroll_device(
            connection, user_id=user_id, name="matrix", public_key=Device().public_key, now=now
        )
        return await context.open_session(connection, account, device, now)


def test_every_route_is_known_and_declares_the_expected_access(application):
    found = {(route.method, route.path): route for route in routes_of(application)}
    unknown = sorted(set(found) - set(EXPECTED))
    assert not unknown, f"routes without an entry in the role matrix: {unknown}"
    gone = sorted(set(EXPECTED) - set(found))
    assert not gone, f"routes in the role matrix that no longer exist: {gone}"
    for key, route in found.items():
        expected = EXPECTED[key]
        if expected == PUBLIC:
            assert isinstance(route.access, Public), key
        else:
            assert isinstance(route.access, Requires), key
            assert route.access.permission == expected, key


async def test_every_role_is_allowed_exactly_what_the_table_says_on_every_route(application):
    context: AuthContext = application.auth
    tokens = {}
    for role in Role:
        staff = await enroll_staff(
            context.database,
            context.cipher,
            context.hasher.dummy_hash,
            f"matrix.{role.value.replace('_', '-')}",
            (role.value,),
        )
        tokens[role] = (await open_session(context, staff.user_id)).access.token

    outcomes = {}
    for route in routes_of(application):
        for role in Role:
            request = Request(
                method=route.method,
                path=route.path,
                query_string="",
                headers=[(b"authorization", f"Bearer {tokens[role]}".encode())],
                request_id="matrix",
            )
            try:
                await application.authorizer(request, route)
                outcomes[(route.method, route.path, role)] = "allowed"
            except HTTPError as error:
                outcomes[(route.method, route.path, role)] = f"{error.status} {error.code}"
    for (method, path, role), outcome in outcomes.items():
        expected = EXPECTED[(method, path)]
        allowed = expected == PUBLIC or role in RULES[Permission(expected)].roles
        assert outcome == ("allowed" if allowed else "403 forbidden"), (method, path, role)
    assert len(outcomes) == len(EXPECTED) * len(Role)
    assert outcomes[("GET", "/api/v1/admin/users", Role.ADMIN)] == "allowed"
    assert outcomes[("GET", "/api/v1/admin/users", Role.AUDITOR)] == "403 forbidden"
    assert outcomes[("GET", "/api/v1/security-events", Role.TELLER)] == "403 forbidden"
    assert outcomes[("POST", "/api/v1/customers/search", Role.ADMIN)] == "403 forbidden"


def test_over_http_each_role_meets_the_admin_api_as_the_table_says(auth, make_staff):
    for role in Role:
        staff = make_staff(f"http.{role.value.replace('_', '-')}", role.value, branch_code="HO")
        token = auth.session(staff)["access_token"]
        response = auth.get("/api/v1/admin/users", token)
        expected = 200 if role in RULES[Permission.USERS_READ].roles else 403
        assert response.status_code == expected, role
        assert auth.get("/api/v1/auth/me", token).status_code == 200
