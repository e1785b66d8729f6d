"""Signing in against a real server over TLS 1.3: the first sign-in enrolls the computer and
makes its vault, later ones prove the same device; wrong passwords are caught and throttled
locally; without the server the vault opens offline within the announced period, and every
offline unlock is queued as a signed audit event."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import pytest
from sqlalchemy import select, update

from console.auth.offline import OfflineUnlockRefused
from console.auth.session import SessionEnded
from console.auth.signin import PasswordDoesNotOpenVault, SignInFailed, SignInForm
from console.net.errors import ServerHTTPError
from console.vault import records
from console.vault.errors import UnlockThrottled, WrongPassword
from console.vault.schema import audit_outbox, device_key
from shared.audit.event import parse_event, verify_event_signature
from testkit.console import MemoryKeyring, device_count, installed_keyring, revoke_device, set_active

T0 = dt.datetime(2025, 6, 2, 7, 30, tzinfo=dt.UTC)


def form(staff, **changes) -> SignInForm:
    """A filled-in form; a TOTP code is spent only when the test does not give one."""
    values = {"username": staff.username, "password": staff.password}
    values.update(changes)
    if "totp_code" not in changes:
        values["totp_code"] = staff.next_code()
    return SignInForm(**values)


def outbox(vault) -> list[tuple]:
    with vault.engine.connect() as connection:
        return connection.execute(select(audit_outbox).order_by(audit_outbox.c.occurred_at)).all()


async def sign_in_and_out(harness, staff, **changes):
    signed = await harness.service.sign_in(form(staff, **changes))
    await signed.session.sign_out()
    return signed


def test_the_first_sign_in_enrolls_this_computer_and_makes_its_vault(run, harness, staff, auth_server):
    async def scenario():
        signed = await harness.service.sign_in(form(staff, device_name="  Teller   desk 3 "))
        session = signed.session
        try:
            assert session.online
            identity = session.identity
            assert (identity.user_id, identity.username, identity.roles) == (
                staff.user_id,
                "thandi",
                ("teller",),
            )
            assert identity.branch_code == "JHB01"
            me = await session.request("GET", "/api/v1/auth/me")
            assert me.status_code == 200
            assert me.json()["user"]["id"] == str(staff.user_id)
            assert me.json()["device_id"] == str(identity.device_id)
            with session.vault.engine.connect() as connection:
                stored = records.load_device_key(connection)
                online = records.load_online_sign_in(connection)
                assert records.load_identity(connection) == identity
            assert stored.device_id == identity.device_id
            assert stored.name == "Teller desk 3"
            assert stored.public_key == session.device.public_key
            assert online.offline_unlock_hours == 72
            assert session.vault.directory == harness.vaults.directory("thandi")
            # Without a keyring the console says that the password alone protects the vault.
            assert any("no usable OS keyring" in notice for notice in signed.notices)
        finally:
            await session.sign_out()
        assert session.closed
        assert session.vault.closed

    run(scenario())
    assert device_count(auth_server.settings, staff.user_id) == 1


def test_a_later_sign_in_proves_the_same_device(run, harness, staff, auth_server):
    async def scenario():
        first = await sign_in_and_out(harness, staff)
        again = await harness.service.sign_in(form(staff))
        try:
            assert again.session.identity.device_id == first.session.identity.device_id
            assert (await again.session.request("GET", "/api/v1/auth/me")).status_code == 200
        finally:
            await again.session.sign_out()

    run(scenario())
    assert device_count(auth_server.settings, staff.user_id) == 1


def test_a_wrong_password_is_caught_by_the_vault_and_throttled_and_audited(run, harness, staff, clock):
    clock.set(T0)

    async def scenario():
        await sign_in_and_out(harness, staff)
        sent = len(harness.client.sent)
        for _ in range(3):
            with pytest.raises(WrongPassword):
                await harness.service.sign_in(form(staff, password="not the password at all", totp_code="1"))
        assert len(harness.client.sent) == sent  # the server never saw them
        with pytest.raises(UnlockThrottled) as waiting:
            await harness.service.sign_in(form(staff, totp_code="1"))
        assert waiting.value.retry_after == 5
        clock.set(T0 + dt.timedelta(seconds=5))
        signed = await harness.service.sign_in(form(staff))
        try:
            failures = [row for row in outbox(signed.session.vault) if row.action == "offline_unlock_failure"]
            assert len(failures) == 3
            for row in failures:
                event = parse_event(row.event)
                assert event.outcome == "failure"
                assert event.reason == "wrong_password"
                assert event.actor == staff.user_id
                assert event.device == signed.session.identity.device_id
                assert verify_event_signature(signed.session.device.public_key, row.event, row.signature)
        finally:
            await signed.session.sign_out()

    run(scenario())


def test_a_wrong_second_factor_is_the_servers_answer_and_keeps_the_vault(run, harness, staff):
    async def scenario():
        await sign_in_and_out(harness, staff)
        with pytest.raises(ServerHTTPError) as refused:
            await harness.service.sign_in(form(staff, totp_code="000000"))
        assert refused.value.code == "invalid_credentials"
        assert harness.vaults.exists("thandi")

    run(scenario())


def test_without_the_server_the_password_opens_the_vault_offline_and_that_is_audited(
    run, harness, staff, auth_servers, clock
):
    clock.set(T0)

    async def scenario():
        await sign_in_and_out(harness, staff)
        await asyncio.to_thread(auth_servers.stop)
        clock.set(T0 + dt.timedelta(hours=71))
        signed = await harness.service.sign_in(form(staff, totp_code=None))
        session = signed.session
        try:
            assert not session.online
            assert session.offline_until == T0 + dt.timedelta(hours=72)
            assert any("could not be reached" in notice for notice in signed.notices)
            with pytest.raises(SessionEnded) as needs_server:
                await session.request("GET", "/api/v1/auth/me")
            assert needs_server.value.reason == "expired"
            assert "unlocked without the server" in str(needs_server.value)
            (row,) = outbox(session.vault)
            event = parse_event(row.event)
            assert (event.action, event.outcome) == ("offline_unlock", "success")
            assert event.actor == staff.user_id
            assert event.device == session.identity.device_id
            assert event.role == "teller"
            assert event.signer == f"device:{session.identity.device_id}"
            assert event.occurred_at == T0 + dt.timedelta(hours=71)
            assert verify_event_signature(session.device.public_key, row.event, row.signature)
            assert row.state == "pending"
        finally:
            await session.sign_out()
        # A code typed out of habit does not matter when the server cannot be reached.
        again = await harness.service.sign_in(form(staff, totp_code="123456"))
        assert not again.session.online
        await again.session.sign_out()

    run(scenario())


def test_offline_unlock_ends_with_the_announced_period(run, harness, staff, auth_servers, clock):
    clock.set(T0)

    async def scenario():
        await sign_in_and_out(harness, staff)
        await asyncio.to_thread(auth_servers.stop)
        clock.set(T0 + dt.timedelta(hours=72))
        with pytest.raises(OfflineUnlockRefused) as refused:
            await harness.service.sign_in(form(staff, totp_code=None))
        assert "Offline use ended at 2025-06-05 07:30:00 UTC" in str(refused.value)
        assert "72 hours" in str(refused.value)

    run(scenario())


def test_a_clock_set_back_does_not_extend_offline_use(run, harness, staff, auth_servers, clock):
    clock.set(T0)

    async def scenario():
        await sign_in_and_out(harness, staff)
        await asyncio.to_thread(auth_servers.stop)
        clock.set(T0 + dt.timedelta(hours=70))
        signed = await harness.service.sign_in(form(staff, totp_code=None))
        await signed.session.sign_out()
        clock.set(T0 + dt.timedelta(hours=1))
        with pytest.raises(OfflineUnlockRefused) as refused:
            await harness.service.sign_in(form(staff, totp_code=None))
        assert "clock is earlier" in str(refused.value)

    run(scenario())


def test_the_first_sign_in_needs_the_server(run, harness, staff, auth_servers):
    async def scenario():
        await asyncio.to_thread(auth_servers.stop)
        with pytest.raises(SignInFailed) as refused:
            await harness.service.sign_in(form(staff, totp_code="123456"))
        assert "first sign-in here needs the server" in str(refused.value)
        assert not harness.vaults.exists("thandi")

    run(scenario())


def test_without_a_code_while_the_server_answers_the_code_is_asked_for(run, harness, staff):
    async def scenario():
        await sign_in_and_out(harness, staff)
        with pytest.raises(SignInFailed) as refused:
            await harness.service.sign_in(form(staff, totp_code=None))
        assert "enter the 6-digit code" in str(refused.value)

    run(scenario())


def test_a_revoked_device_is_wiped_at_sign_in(run, harness, staff, auth_server):
    async def scenario():
        signed = await sign_in_and_out(harness, staff)
        await asyncio.to_thread(revoke_device, auth_server.settings, signed.session.identity.device_id)
        with pytest.raises(SessionEnded) as ended:
            await harness.service.sign_in(form(staff))
        assert ended.value.reason == "revoked_device"
        assert "removed" in str(ended.value)
        assert not harness.vaults.directory("thandi").exists()
        # Signing in afresh enrolls the computer as a new device.
        fresh = await harness.service.sign_in(form(staff))
        assert fresh.session.identity.device_id != signed.session.identity.device_id
        await fresh.session.sign_out()

    run(scenario())


def test_a_disabled_account_is_refused_and_its_vault_kept(run, harness, staff, auth_server):
    async def scenario():
        await sign_in_and_out(harness, staff)
        await asyncio.to_thread(set_active, auth_server.settings, staff.user_id, False)
        with pytest.raises(ServerHTTPError) as refused:
            await harness.service.sign_in(form(staff))
        assert refused.value.code == "account_disabled"
        assert harness.vaults.exists("thandi")

    run(scenario())


def test_a_recovery_code_signs_in_instead_of_a_totp_code(run, harness, staff):
    async def scenario():
        await sign_in_and_out(harness, staff)
        signed = await harness.service.sign_in(
            form(staff, totp_code=None, recovery_code=staff.recovery_codes[0])
        )
        assert signed.session.online
        await signed.session.sign_out()

    run(scenario())


NEW_PASSWORD = "a freshly chosen passphrase 9"


async def change_password_on_the_server(harness, staff) -> None:
    """As if on another computer: the server's password changes, this vault's does not."""
    signed = await harness.service.sign_in(form(staff))
    response = await signed.session.request(
        "POST",
        "/api/v1/auth/password",
        json={"current_password": staff.password, "new_password": NEW_PASSWORD},
    )
    assert response.status_code == 204
    await signed.session.sign_out()


def test_a_password_changed_elsewhere_needs_the_previous_one_once(run, harness, staff):
    async def scenario():
        await change_password_on_the_server(harness, staff)
        with pytest.raises(PasswordDoesNotOpenVault) as refused:
            await harness.service.sign_in(form(staff, password=NEW_PASSWORD, totp_code="123456"))
        assert "enter the previous one as well" in str(refused.value)
        signed = await harness.service.sign_in(
            form(staff, password=NEW_PASSWORD, previous_password=staff.password)
        )
        assert signed.session.online
        await signed.session.sign_out()
        # The vault has taken the new password; the old one no longer opens it.
        with pytest.raises(WrongPassword):
            await harness.service.sign_in(form(staff, totp_code=None))
        again = await harness.service.sign_in(form(staff, password=NEW_PASSWORD))
        await again.session.sign_out()

    run(scenario())


def test_with_a_keyring_a_password_changed_elsewhere_just_works(run, harness, staff):
    async def scenario():
        await change_password_on_the_server(harness, staff)
        signed = await harness.service.sign_in(form(staff, password=NEW_PASSWORD))
        assert signed.session.online
        assert await harness.operations.in_thread(lambda: signed.session.vault.password_opens(NEW_PASSWORD))
        await signed.session.sign_out()

    with installed_keyring(MemoryKeyring()):
        run(scenario())


def test_a_device_the_server_does_not_know_is_explained_and_the_vault_kept(run, harness, staff):
    async def scenario():
        await sign_in_and_out(harness, staff)
        unlocked = await harness.operations.in_thread(lambda: harness.vaults.unlock("thandi", staff.password))
        with unlocked.vault.engine.begin() as connection:
            connection.execute(update(device_key).values(device_id=uuid.uuid4()))
        await harness.operations.in_thread(unlocked.vault.close)
        with pytest.raises(SignInFailed) as refused:
            await harness.service.sign_in(form(staff))
        assert "does not recognise this computer" in str(refused.value)
        assert harness.vaults.exists("thandi")

    run(scenario())
