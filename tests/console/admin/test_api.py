"""The admin API as the console calls it, on a real signed-in administrator's session against
a real server over TLS: every call an administrator needs is answered, refusals carry the
server's code and a readable message, enrollment codes stay out of reprs, and answers the
console cannot read (or that never come) are typed failures fit for the screen."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from keyring.backends import fail

from console.admin.api import EVENT_LIMIT, AdminAPI, AdminRefused
from console.admin.describe import explain, permission_matrix
from console.auth.api import IdentityAPI
from console.auth.session import SessionEnded
from console.net.client import ServerClient
from console.net.errors import InvalidResponse, ServerUnreachable
from server.auth.accounts import account_by_username
from testkit.console import installed_keyring
from testkit.console_sync import Consoles

ME = "/api/v1/auth/me"


@pytest.fixture(autouse=True)
def no_keyring() -> Iterator[None]:
    with installed_keyring(fail.Keyring()):
        yield


@pytest.fixture
def with_consoles(qloop, run, server, tmp_path: Path):
    """``with_consoles(scenario)``: run ``scenario(consoles)`` and close every console, in one
    run of the loop."""

    def go(scenario) -> None:
        consoles = Consoles(qloop, server, tmp_path / "consoles")

        async def whole() -> None:
            try:
                await scenario(consoles)
            finally:
                await consoles.aclose()

        run(whole(), timeout=180)
        assert consoles.unexpected == []

    return go


async def on_server(server, coroutine):
    return await asyncio.to_thread(server.run, coroutine)


async def account(server, username: str):
    async def read():
        async with server.server.database.transaction() as connection:
            return await account_by_username(connection, username)

    return await on_server(server, read())


def test_an_administrator_manages_accounts_branches_and_devices(with_consoles, server):
    async def scenario(consoles):
        admin = await consoles.sign_in(await consoles.staff("ada", "admin", branch_code="HO"))
        teller = await consoles.sign_in(await consoles.staff("thandi", "teller"))
        api = AdminAPI(admin.session)

        branch = await api.create_branch(code="cpt02", name="Cape Town Waterfront", region="Western Cape")
        assert branch.code == "CPT02"
        assert {b.code for b in await api.branches()} == {"CPT02", "HO", "JHB01"}
        with pytest.raises(AdminRefused) as taken:
            await api.create_branch(code="CPT02", name="Again", region="Western Cape")
        assert (taken.value.status, taken.value.code) == (409, "branch_code_taken")

        created = await api.create_user(
            username="Nomsa.Dube", display_name="Nomsa Dube", branch_id=branch.id, roles=["teller"]
        )
        code = created.enrollment_code.get_secret_value()
        assert len(code) >= 16
        assert code not in repr(created)
        assert code not in str(created.model_dump())
        assert created.user.username == "nomsa.dube"
        assert (created.user.mfa_enrolled, created.user.enrollment_pending) == (False, True)
        stored = await account(server, "nomsa.dube")
        assert stored is not None
        assert stored.id == created.user.id
        assert stored.branch.code == "CPT02"
        assert list(stored.roles) == ["teller"]
        started = await IdentityAPI(consoles.client).start_enrollment("nomsa.dube", code)
        assert started.username == "nomsa.dube"  # the code is the real one

        with pytest.raises(AdminRefused) as duplicate:
            await api.create_user(
                username="nomsa.dube", display_name="Someone Else", branch_id=branch.id, roles=["teller"]
            )
        assert (duplicate.value.status, duplicate.value.code) == (409, "username_taken")
        assert "That username is taken." in str(duplicate.value)
        assert explain(duplicate.value).startswith("The server refused this: That username is taken.")
        with pytest.raises(AdminRefused) as invalid:
            await api.create_user(
                username="no spaces", display_name="X", branch_id=branch.id, roles=["teller"]
            )
        assert (invalid.value.status, invalid.value.code) == (422, "invalid_username")

        assert [user.username for user in await api.users(branch_id=branch.id)] == ["nomsa.dube"]
        assert {user.username for user in await api.users()} == {"ada", "nomsa.dube", "thandi"}
        assert await api.users(active=False) == ()
        thandi = teller.session.identity.user_id

        disabled = await api.disable(thandi)
        assert not disabled.active
        assert disabled.disabled_at is not None
        assert [user.username for user in await api.users(active=False)] == ["thandi"]
        with pytest.raises(SessionEnded) as ended:
            await teller.session.request("GET", ME)
        assert ended.value.reason == "expired"  # the server ended the teller's session at once
        assert (await api.enable(thandi)).active
        assert (await api.user(thandi)).active

        with pytest.raises(AdminRefused) as own:
            await api.disable(admin.session.identity.user_id)
        assert own.value.code == "cannot_change_self"
        assert "your own account" in str(own.value)

        detail = await api.user_detail(thandi)
        assert detail.user.id == thandi
        assert [device.id for device in detail.devices] == [teller.session.identity.device_id]
        assert all(device.active for device in detail.devices)
        everyone = await api.devices()
        assert {device.user_id for device in everyone} == {thandi, admin.session.identity.user_id}

        other = await consoles.sign_in(await consoles.staff("sipho", "teller"))
        revoked = await api.revoke_device(other.session.identity.device_id)
        assert not revoked.active
        assert revoked.revoked_at is not None
        assert not (await api.revoke_device(revoked.id)).active  # revoking again changes nothing
        with pytest.raises(SessionEnded) as gone:
            await other.session.request("GET", ME)
        assert gone.value.reason == "revoked_device"

        reset = await api.reset_mfa(thandi)
        assert reset.enrollment_code.get_secret_value() != code
        assert (reset.user.mfa_enrolled, reset.user.enrollment_pending) == (False, True)
        started = await IdentityAPI(consoles.client).start_enrollment(
            "thandi", reset.enrollment_code.get_secret_value()
        )
        assert started.username == "thandi"

        roles = {role.name: {p.name for p in role.permissions} for role in await api.roles()}
        assert set(roles) == {
            "teller",
            "supervisor",
            "compliance_officer",
            "information_officer",
            "auditor",
            "admin",
        }
        assert {"users.manage", "mfa.reset", "devices.manage", "branches.manage"} <= roles["admin"]
        assert not any(name.startswith("customers.") for name in roles["admin"])
        matrix = {row.permission.name: row.held_by for row in permission_matrix(await api.roles())}
        assert matrix["security_events.read"] == {
            "auditor",
            "compliance_officer",
            "information_officer",
            "admin",
        }

        events = await api.security_events()
        assert len(events) <= EVENT_LIMIT
        sequences = [event.sequence for event in events]
        assert sequences == sorted(sequences, reverse=True)
        mine = [event.kind for event in events if event.actor_id == admin.session.identity.user_id]
        for kind in ("branch_created", "user_created", "user_disabled", "user_enabled", "mfa_reset"):
            assert kind in mine
        assert "device_revoked" in mine

        overview = await api.overview()
        assert {user.username for user in overview.users} == {"ada", "nomsa.dube", "thandi", "sipho"}
        assert overview.events[0].sequence >= events[0].sequence
        forbidden = [(method, path) for method, path, status in consoles.client.sent if status == 403]
        assert forbidden == []  # an administrator is refused nothing an administrator may do

    with_consoles(scenario)


def test_a_teller_is_refused_with_a_readable_message(with_consoles):
    async def scenario(consoles):
        teller = await consoles.sign_in(await consoles.staff("thandi", "teller"))
        with pytest.raises(AdminRefused) as refused:
            await AdminAPI(teller.session).users()
        assert (refused.value.status, refused.value.code) == (403, "forbidden")
        assert str(refused.value).startswith("Your roles do not allow this.")
        assert teller.session.online  # a refusal is not a reason to sign in again

    with_consoles(scenario)


class Plain:
    """Requests without a session, for servers that only answer canned bytes."""

    def __init__(self, client: ServerClient) -> None:
        self.client = client

    async def request(self, method, path, *, json=None, timeout=None):
        return await self.client.send(method, path, json=json, timeout=timeout)


def test_answers_the_console_cannot_use_are_typed_and_quote_no_values(qloop, run, canned):
    person = {
        "id": "not-a-uuid",
        "username": "private.person",
        "display_name": "Private Person",
        "branch": {"id": str(uuid.uuid4()), "code": "JHB01", "name": "Johannesburg", "region": "Gauteng"},
        "roles": ["teller"],
        "active": True,
        "mfa_enrolled": True,
        "enrollment_pending": False,
        "created_at": "2026-01-01T00:00:00Z",
        "disabled_at": None,
    }
    unreadable = {"users": [person]}
    servers = {
        "unreadable": canned.serve(canned.response("200 OK", json.dumps(unreadable).encode())),
        "html": canned.serve(canned.response("502 Bad Gateway", b"<html>oops</html>", "text/html")),
        "gone": canned.serve(b""),  # the connection closes before any answer
    }

    async def scenario():
        clients = {name: ServerClient([server.url], canned.trust) for name, server in servers.items()}
        try:
            with pytest.raises(InvalidResponse) as unusable:
                await AdminAPI(Plain(clients["unreadable"])).users()
            assert str(unusable.value).endswith("unexpected or missing fields: users.0.id.")
            assert "private" not in str(unusable.value).lower()
            with pytest.raises(AdminRefused) as failed:
                await AdminAPI(Plain(clients["html"])).users()
            assert failed.value.status == 502
            assert str(failed.value).startswith("The server failed to do this")
            with pytest.raises(ServerUnreachable) as lost:
                await AdminAPI(Plain(clients["gone"])).disable(uuid.uuid4())
            message = explain(lost.value)
            assert message is not None
            assert "broke before the answer was complete" in message
            assert "refresh once the server is back" in message
            assert explain(ValueError("a bug")) is None
        finally:
            for client in clients.values():
                await client.aclose()

    run(scenario())
