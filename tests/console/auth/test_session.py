"""The session the sync engine builds on: authorised requests, silent refresh ahead of expiry
and once on 401 ``token_expired``, never a loop, and each way a session ends."""

from __future__ import annotations

import asyncio
import json

import pytest
from pydantic import SecretStr

from console.auth.api import IdentityAPI, SessionAnswer
from console.auth.device import DeviceKey
from console.auth.local import OnlineGrant
from console.auth.session import Session, SessionEnded, identity_of
from console.net.trust import load_trust_anchor
from console.operations import Operations
from console.vault.keyring_store import KeyringStore
from console.vault.vault import Vault
from server.http.errors import HTTPError
from server.http.limits import Limits
from server.http.messages import Request, Response
from server.http.routing import Public, Router
from shared.crypto import verify
from testkit.console import (
    FAST_KDF,
    Monotonic,
    RecordingClient,
    expired_access_token,
    revoke_device,
    set_active,
)
from testkit.servers import RunningListener

OPEN = Public("test")
REFRESH = "/api/v1/auth/refresh"
CHALLENGE = "/api/v1/auth/challenge"
ME = "/api/v1/auth/me"


async def open_session(harness, staff, *, monotonic=None, access_token: str | None = None) -> Session:
    """Sign in through the API with a new device key and hold the session, as the sign-in
    service does (optionally holding a different access token)."""
    device = DeviceKey.generate()
    answer = await IdentityAPI(harness.client).sign_in(
        staff.username,
        staff.password,
        totp_code=staff.next_code(),
        recovery_code=None,
        device=device,
        device_id=None,
        device_name="Test desk",
    )
    grant = OnlineGrant(identity_of(answer), answer.offline_unlock_hours, answer.offline_unlock_until)
    unlocked = await harness.operations.in_thread(
        lambda: harness.vaults.create(staff.username, staff.password, grant, device, "Test desk")
    )
    if access_token is not None:
        answer = answer.model_copy(update={"access_token": SecretStr(access_token(answer))})
    return Session(
        unlocked.identity,
        unlocked.vault,
        device,
        harness.client,
        harness.operations,
        answer=answer,
        monotonic=monotonic or Monotonic(),
    )


def ended_signals(session: Session) -> list[SessionEnded]:
    seen: list[SessionEnded] = []
    session.ended.connect(seen.append)
    return seen


def test_requests_carry_the_token_and_any_answer_is_returned(run, harness, staff):
    async def scenario():
        session = await open_session(harness, staff)
        me = await session.request("GET", ME)
        assert me.status_code == 200
        assert me.json()["device_id"] == str(session.identity.device_id)
        forbidden = await session.request("GET", "/api/v1/admin/users")
        assert forbidden.status_code == 403  # a teller is not an administrator: the caller decides
        missing = await session.request("GET", "/api/v1/no-such-thing")
        assert missing.status_code == 404
        assert session.online
        await session.sign_out()

    run(scenario())


def test_the_access_token_is_refreshed_shortly_before_it_expires(run, harness, staff):
    monotonic = Monotonic()

    async def scenario():
        session = await open_session(harness, staff, monotonic=monotonic)
        await session.request("GET", ME)
        harness.client.sent.clear()
        monotonic.value += 280  # 20 s before a 300 s token expires
        responses = await asyncio.gather(*(session.request("GET", ME) for _ in range(3)))
        assert [response.status_code for response in responses] == [200, 200, 200]
        assert harness.client.paths().count(REFRESH) == 1  # concurrent requests share one refresh
        assert harness.client.paths()[:2] == [CHALLENGE, REFRESH]
        harness.client.sent.clear()
        await session.request("GET", ME)
        assert harness.client.paths() == [ME]
        await session.sign_out()

    run(scenario())


def test_a_401_token_expired_refreshes_once_and_retries_once(run, harness, staff, auth_server):
    def expired(answer) -> str:
        return expired_access_token(
            auth_server.settings,
            user_id=answer.user.id,
            session_id=answer.session_id,
            device_id=answer.device.id,
            branch_id=answer.user.branch.id,
            roles=tuple(answer.user.roles),
        )

    async def scenario():
        session = await open_session(harness, staff, access_token=expired)
        harness.client.sent.clear()
        me = await session.request("GET", ME)
        assert me.status_code == 200
        assert harness.client.sent == [
            ("GET", ME, 401),
            ("POST", CHALLENGE, 200),
            ("POST", REFRESH, 200),
            ("GET", ME, 200),
        ]
        await session.sign_out()

    run(scenario())


def test_a_server_session_that_ends_asks_for_a_sign_in_and_keeps_the_vault(run, harness, staff, auth_server):
    async def scenario():
        session = await open_session(harness, staff)
        seen = ended_signals(session)
        await asyncio.to_thread(set_active, auth_server.settings, staff.user_id, False)
        harness.client.sent.clear()
        with pytest.raises(SessionEnded) as ended:
            await session.request("GET", ME)
        assert ended.value.reason == "expired"
        assert harness.client.paths() == [ME]  # session_revoked: no refresh is tried
        assert [signal.reason for signal in seen] == ["expired"]
        assert not session.online
        assert not session.closed
        assert not session.vault.closed  # the local work stays available
        with pytest.raises(SessionEnded):
            await session.request("GET", ME)
        assert harness.client.paths() == [ME]  # nothing more was sent
        assert len(seen) == 1

        # Signing in again brings the same session back online.
        await asyncio.to_thread(set_active, auth_server.settings, staff.user_id, True)
        resumed: list[bool] = []
        session.resumed.connect(lambda: resumed.append(True))
        await harness.service.reauthenticate(
            session, staff.password, totp_code=staff.next_code(), recovery_code=None
        )
        assert resumed == [True]
        assert session.online
        assert (await session.request("GET", ME)).status_code == 200
        await session.sign_out()

    run(scenario())


def test_signing_in_again_as_a_disabled_user_closes_the_session(run, harness, staff, auth_server):
    async def scenario():
        session = await open_session(harness, staff)
        seen = ended_signals(session)
        await asyncio.to_thread(set_active, auth_server.settings, staff.user_id, False)
        with pytest.raises(SessionEnded):
            await session.request("GET", ME)
        with pytest.raises(SessionEnded) as disabled:
            await harness.service.reauthenticate(
                session, staff.password, totp_code=staff.next_code(), recovery_code=None
            )
        assert disabled.value.reason == "disabled"
        assert [signal.reason for signal in seen] == ["expired", "disabled"]
        assert session.closed
        assert session.vault.closed
        assert session.vault.directory.exists()  # kept, not wiped

    run(scenario())


def test_a_revoked_device_ends_the_session_and_wipes_the_vault(run, harness, staff, auth_server):
    async def scenario():
        session = await open_session(harness, staff)
        seen = ended_signals(session)
        directory = session.vault.directory
        await asyncio.to_thread(revoke_device, auth_server.settings, session.identity.device_id)
        with pytest.raises(SessionEnded) as ended:
            await session.request("POST", "/api/v1/auth/sign-out")
        assert ended.value.reason == "revoked_device"
        assert [signal.reason for signal in seen] == ["revoked_device"]
        assert not directory.exists()
        assert session.closed
        with pytest.raises(SessionEnded):
            await session.request("GET", ME)

    run(scenario())


def test_signing_out_ends_the_server_session_and_closes_the_vault(run, harness, staff):
    async def scenario():
        session = await open_session(harness, staff)
        seen = ended_signals(session)
        token = session._tokens.access
        await session.sign_out()
        assert [signal.reason for signal in seen] == ["signed_out"]
        assert session.vault.closed
        assert session.vault.directory.exists()
        after = await harness.client.send("GET", ME, headers={"authorization": f"Bearer {token}"})
        assert after.status_code == 401
        assert after.json()["error"]["code"] == "session_revoked"
        with pytest.raises(SessionEnded) as ended:
            await session.request("GET", ME)
        assert ended.value.reason == "signed_out"

    run(scenario())


def test_the_device_key_signs_for_the_audit_log(run, harness, staff):
    async def scenario():
        session = await open_session(harness, staff)
        signature = session.sign(b"event bytes")
        assert verify(session.device.public_key, b"event bytes", signature)
        await session.sign_out()

    run(scenario())


class AlwaysUnauthorised:
    """A server whose refresh works but whose resource keeps answering 401 token_expired."""

    def __init__(self, data_dir) -> None:
        self.hits: list[str] = []
        router = Router()

        @router.post(CHALLENGE, access=OPEN, summary="nonce")
        async def challenge(request: Request) -> Response:
            self.hits.append(CHALLENGE)
            return Response(body=json.dumps({"nonce": "n-1", "expires_at": "2030-01-01T00:00:00Z"}).encode())

        @router.post(REFRESH, access=OPEN, summary="refresh")
        async def refresh(request: Request) -> Response:
            self.hits.append(REFRESH)
            return Response(body=json.dumps(self.session_body).encode())

        @router.get("/api/v1/thing", access=OPEN, summary="never", errors=[401])
        async def thing(request: Request) -> Response:
            self.hits.append("/api/v1/thing")
            raise HTTPError(401, "token_expired", "The access token has expired; refresh it.")

        self.listener = RunningListener(router, data_dir, Limits())
        self.url = f"https://localhost:{self.listener.address[1]}"
        self.session_body: dict = {}


def test_a_server_that_keeps_answering_401_ends_the_session_without_a_loop(qloop, run, tmp_path, staff):
    fake = AlwaysUnauthorised(tmp_path / "fake")
    unexpected: list[BaseException] = []
    operations = Operations(qloop, unexpected.append)
    client = RecordingClient([fake.url], load_trust_anchor(fake.listener.ca_file))
    device = DeviceKey.generate()
    vault = Vault.create(tmp_path / "vault", "a long passphrase", keyring=KeyringStore(), kdf=FAST_KDF)
    identity_body = {
        "user": {
            "id": str(staff.user_id),
            "username": "thandi",
            "display_name": "Thandi",
            "branch": {"id": "00000000-0000-4000-8000-000000000001", "code": "JHB01", "name": "Branch"},
            "roles": ["teller"],
        },
        "device": {"id": "00000000-0000-4000-8000-000000000002", "name": "Test desk"},
    }
    fake.session_body = {
        "access_token": "a2",
        "access_token_expires_at": "2030-01-01T00:00:00Z",
        "expires_in": 300,
        "refresh_token": "r2",
        "session_id": "00000000-0000-4000-8000-000000000003",
        "session_expires_at": "2030-01-01T00:00:00Z",
        "idle_timeout_seconds": 1800,
        "offline_unlock_hours": 72,
        "offline_unlock_until": "2030-01-01T00:00:00Z",
        "permissions": [],
        "recovery_codes_left": 10,
        **identity_body,
    }

    async def scenario():
        answer = SessionAnswer.model_validate(
            {**fake.session_body, "access_token": "a1", "refresh_token": "r1"}
        )
        session = Session(identity_of(answer), vault, device, client, operations, answer=answer)
        seen = ended_signals(session)
        with pytest.raises(SessionEnded) as ended:
            await session.request("GET", "/api/v1/thing")
        assert ended.value.reason == "expired"
        assert fake.hits == ["/api/v1/thing", CHALLENGE, REFRESH, "/api/v1/thing"]
        assert [signal.reason for signal in seen] == ["expired"]
        with pytest.raises(SessionEnded):
            await session.request("GET", "/api/v1/thing")
        assert len(fake.hits) == 4
        await session.sign_out()
        await operations.aclose()
        await client.aclose()

    try:
        run(scenario())
    finally:
        fake.listener.stop()
    assert unexpected == []
