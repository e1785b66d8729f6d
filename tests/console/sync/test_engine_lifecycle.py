"""The engine over a session's life: scope changes, a revoked device, the long-poll, an
update-required server, tokens refreshed mid-sync, and access records uploaded."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid

import pytest
from sqlalchemy import select, update

from console.auth.session import SessionEnded
from console.customers.access import OPEN, REVEAL, SEARCH, AccessRecorder
from console.sync.engine import POKE_PATH, PULL_PATH
from console.sync.errors import SyncUnavailable, UpdateRequired
from server.audit.tables import audit_entries
from server.auth.tables import users
from server.sync import service as sync_service
from testkit.console import Monotonic
from testkit.console_sync import server_customer_versions


async def eventually(predicate, timeout: float = 20.0) -> None:
    async with asyncio.timeout(timeout):
        while not await predicate():
            await asyncio.sleep(0.05)


def test_a_shrunk_scope_removes_what_the_device_may_no_longer_hold(run, consoles, servers):
    async def setup():
        north = await consoles.sign_in(await consoles.staff("naledi", "teller", branch_code="NTH01"))
        south = await consoles.sign_in(await consoles.staff("sipho", "teller", branch_code="STH01"))
        ours = await north.create_customer(surname="North")
        theirs = await south.create_customer(surname="South")
        await north.sync()
        await south.sync()
        assert set(await north.customers()) == {ours}
        return north, south, ours, theirs

    north, south, _ours, theirs = run(setup())

    async def move_to_south() -> None:
        async with servers.server.server.database.transaction(write=True) as connection:
            await connection.execute(
                update(users).where(users.c.id == north.staff.user_id).values(branch_id=south.branch_id)
            )

    servers.server.run(move_to_south())

    async def after():
        applied = await north.sync()
        assert applied.reset
        assert set(await north.customers()) == {theirs}
        assert set(await north.server_customers()) == {theirs}

    run(after())


def test_a_revoked_device_stops_the_engine_and_wipes_the_vault(run, consoles):
    async def scenario():
        teller = await consoles.sign_in(await consoles.staff("tumi", "teller"))
        admin = await consoles.sign_in(await consoles.staff("ayanda", "admin"))
        await teller.create_customer(surname="Wiped")
        await teller.sync()
        task = asyncio.get_running_loop().create_task(teller.engine.run())
        await eventually(lambda: _true(POKE_PATH in teller.flaky.sent))
        device_id = teller.session.identity.device_id
        answer = await admin.session.request("POST", f"/api/v1/admin/devices/{device_id}/revoke")
        assert answer.status_code in (200, 204)
        teller.engine.wake()
        with pytest.raises(SessionEnded) as ended:
            await asyncio.wait_for(task, 30)
        assert ended.value.reason == "revoked_device"
        assert teller.session.vault.closed
        assert not teller.session.vault.directory.exists()
        assert not teller.session.vault.path.exists()

    run(scenario())


async def _true(value: bool) -> bool:
    return value


def test_another_consoles_edit_arrives_through_the_long_poll(run, consoles):
    async def scenario():
        watcher = await consoles.sign_in(await consoles.staff("thabo", "teller"))
        writer = await consoles.sign_in(await consoles.staff("zodwa", "teller"))
        task = asyncio.get_running_loop().create_task(watcher.engine.run())
        try:
            await eventually(lambda: _true(POKE_PATH in watcher.flaky.sent))
            pulls = watcher.flaky.sent.count(PULL_PATH)
            created = await writer.create_customer(surname="Arrives")
            await writer.sync()

            async def arrived() -> bool:
                return created in await watcher.customers()

            await eventually(arrived, timeout=15)
            assert watcher.flaky.sent.count(PULL_PATH) > pulls  # the engine pulled, woken by the poll
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    run(scenario())


def test_the_running_engine_folds_a_pulls_log_into_the_vault_once_it_is_applied(run, consoles):
    async def scenario():
        writer = await consoles.sign_in(await consoles.staff("lerato", "teller"))
        created = await writer.create_customer(surname="Folded")
        await writer.sync()
        reader = await consoles.sign_in(await consoles.staff("sizwe", "teller"))
        store = reader.engine.store
        folds: list[tuple[bool, tuple[int, int]]] = []
        fold_log = store.fold_log

        def spy() -> tuple[int, int]:
            applied = store.record("customer", created) is not None
            result = fold_log()
            folds.append((applied, result))
            return result

        store.fold_log = spy  # type: ignore[method-assign]
        task = asyncio.get_running_loop().create_task(reader.engine.run())
        try:
            await eventually(lambda: _true(bool(folds)))
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        applied, (frames, folded) = folds[0]
        assert applied  # folded after the pull was applied, not instead of it
        assert folded == frames > 0

    run(scenario())


def test_update_required_keeps_the_outbox_until_the_server_accepts_this_console(run, consoles, monkeypatch):
    async def scenario():
        teller = await consoles.sign_in(await consoles.staff("palesa", "teller"))
        await teller.sync()
        kept = await teller.create_customer(surname="Kept")
        monkeypatch.setattr(sync_service, "MIN_PROTOCOL_VERSION", 2)
        with pytest.raises(UpdateRequired) as held:
            await teller.sync()
        assert "Update required" in str(held.value)
        assert (await teller.counts()).mutations == 1
        assert kept in await teller.customers()
        monkeypatch.setattr(sync_service, "MIN_PROTOCOL_VERSION", 1)
        await teller.sync()
        assert (await teller.counts()).mutations == 0
        return kept

    kept = run(scenario())
    assert server_customer_versions(consoles.server.settings) == {kept: 1}


def test_tokens_expiring_mid_sync_are_refreshed_through_the_session(run, consoles):
    monotonic = Monotonic()

    async def scenario():
        teller = await consoles.sign_in(await consoles.staff("refilwe", "teller"), monotonic=monotonic)
        await teller.sync()
        consoles.client.sent.clear()
        monotonic.value += 290  # the 300 s access token is about to expire
        await teller.create_customer(surname="Refresh")
        await teller.sync()
        paths = consoles.client.paths()
        assert paths.count("/api/v1/auth/refresh") == 1
        assert all(status != 401 for _, _, status in consoles.client.sent)
        assert (await teller.counts()).mutations == 0

    run(scenario())


def test_access_records_are_uploaded_and_removed_only_once_acknowledged(run, consoles, servers):
    async def scenario():
        teller = await consoles.sign_in(await consoles.staff("vusi", "teller"))
        customer = await teller.create_customer(surname="Audited")
        await teller.sync()
        kept = [
            await teller.blocking(lambda: teller.access.record(OPEN, customer, "customer_service")),
            await teller.blocking(lambda: teller.access.record(REVEAL, customer, "identity_verification")),
            await teller.blocking(lambda: teller.access.record(SEARCH, None, "customer_service")),
        ]
        # An event the server must refuse: a role this user does not hold.
        forged = AccessRecorder(
            dataclasses.replace(teller.session.identity, roles=("compliance_officer",)),
            teller.session.sign,
            teller.store,
        )
        refused = await teller.blocking(lambda: forged.record(OPEN, customer, "customer_service"))
        assert (await teller.counts()).events == 4
        teller.flaky.lose("/api/v1/audit/events")  # acknowledged by the server, never heard
        with pytest.raises(SyncUnavailable):
            await teller.sync()
        assert (await teller.counts()).events == 4
        await teller.sync()
        counts = await teller.counts()
        assert (counts.events, counts.attention) == (0, 1)
        items = await teller.blocking(teller.store.attention)
        assert [(item.kind, item.code, item.record_id) for item in items] == [
            ("audit_event", "forged_role", str(customer))
        ]
        return [signed.event.event_id for signed in kept], refused.event.event_id

    kept, refused = run(scenario())

    async def logged() -> set[uuid.UUID]:
        async with servers.server.server.database.transaction() as connection:
            rows = await connection.execute(select(audit_entries.c.event_id))
            return {row[0] if isinstance(row[0], uuid.UUID) else uuid.UUID(str(row[0])) for row in rows}

    in_log = servers.server.run(logged())
    assert set(kept) <= in_log
    assert refused not in in_log


def test_a_vault_kept_through_re_enrollment_continues_as_a_new_sync_client(run, consoles, servers):
    from server.sync.tables import sync_clients

    async def before():
        teller = await consoles.sign_in(await consoles.staff("themba", "teller"))
        other = await consoles.sign_in(await consoles.staff("lwazi", "teller"))
        await teller.sync()
        sent = await teller.create_customer(surname="Sent")
        teller.flaky.lose(PULL_PATH)  # processed by the server, never confirmed to this console
        with pytest.raises(SyncUnavailable):
            await teller.sync()
        unsent = await teller.create_customer(surname="Unsent")
        old_client = await teller.blocking(teller.store.client_id)
        return teller, other, sent, unsent, old_client

    teller, other, sent, unsent, old_client = run(before())

    async def another_device() -> None:
        # What the server holds once this computer's device was enrolled anew: the client
        # stays bound to the device it was registered by, not the one signing in now.
        async with servers.server.server.database.transaction(write=True) as connection:
            await connection.execute(
                update(sync_clients)
                .where(sync_clients.c.client_id == old_client)
                .values(device_id=other.session.identity.device_id, user_id=other.staff.user_id)
            )

    servers.server.run(another_device())

    async def after():
        await teller.sync()
        assert await teller.blocking(teller.store.client_id) != old_client
        shown = await teller.customers()
        assert set(shown) == {sent, unsent}
        assert shown == await teller.server_customers()
        counts = await teller.counts()
        assert (counts.mutations, counts.attention) == (0, 1)
        items = await teller.blocking(teller.store.attention)
        assert [(item.code, item.record_id) for item in items] == [("result_unknown", str(sent))]

    run(after())
    assert server_customer_versions(consoles.server.settings) == {sent: 1, unsent: 1}
