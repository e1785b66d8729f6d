"""The server's own events: recorded in the caller's transaction, signed with the log's key
and appended by the worker; security events flow in; the worker refuses to sign a
checkpoint over a log whose stored hashes were changed."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select, update

from server.audit.log import CheckpointRefused
from server.audit.pending import record_server_event
from server.audit.store import load_state
from server.audit.tables import audit_entries, audit_nodes, audit_pending
from shared.audit.codec import FormatError
from shared.audit.entry import parse_entry
from shared.audit.event import parse_event, verify_event_signature
from shared.merkle import range_node_ids


def entries_where(running, *conditions):
    async def read():
        async with running.server.database.transaction() as connection:
            return list(
                await connection.execute(
                    select(audit_entries).where(*conditions).order_by(audit_entries.c.idx)
                )
            )

    return running.run(read())


def test_a_recorded_server_event_is_signed_and_appended(client, running):
    actor = uuid.uuid4()

    async def record():
        async with running.server.database.transaction(write=True) as connection:
            return await record_server_event(
                connection,
                action="open",
                object_type="customer",
                object_id="cust-42",
                actor=actor,
                role="compliance_officer",
                purpose="dsar_response",
            )

    event_id = running.run(record())
    client.settle()
    (row,) = entries_where(running, audit_entries.c.event_id == event_id)
    event = parse_event(bytes(row.event))
    log = running.server.state.audit
    assert event.signer == f"server:{log.keys.key_id}"
    assert event.actor == actor
    assert verify_event_signature(
        log.keys.server_keys[log.keys.key_id], bytes(row.event), bytes(row.signature)
    )
    assert parse_entry(bytes(row.entry)).commits_to(bytes(row.salt), bytes(row.signature), bytes(row.event))


def test_a_server_event_rolled_back_with_its_caller_never_reaches_the_log(client, running):
    event_id = uuid.uuid4()

    async def record_then_fail():
        async with running.server.database.transaction(write=True) as connection:
            await record_server_event(
                connection, action="open", object_type="customer", object_id="c-1", event_id=event_id
            )
            raise RuntimeError("the caller's change failed")

    with pytest.raises(RuntimeError):
        running.run(record_then_fail())
    client.settle()
    assert entries_where(running, audit_entries.c.event_id == event_id) == []


def test_a_server_event_holding_personal_information_is_refused(running):
    async def record():
        async with running.server.database.transaction(write=True) as connection:
            await record_server_event(
                connection, action="open", object_type="customer", object_id="8001015009087"
            )

    with pytest.raises(FormatError) as raised:
        running.run(record())
    assert "8001015009087" not in str(raised.value)


def test_security_events_flow_into_the_log(client, running):
    console = client.sign_in()
    client.settle()
    rows = entries_where(running, audit_entries.c.actor == console.user_id)
    actions = {row.action for row in rows}
    assert "sign_in" in actions
    assert "device_enrolled" in actions
    assert all(row.signer.startswith("server:") for row in rows)
    for row in rows:
        event = parse_event(bytes(row.event))
        assert event.event_class.value == "security"
        assert b"10.0.0" not in bytes(row.event)  # client addresses stay in security_events


def test_pending_events_are_gone_once_appended(client, running):
    client.sign_in()
    client.settle()

    async def pending():
        async with running.server.database.transaction() as connection:
            return list(await connection.execute(select(audit_pending)))

    assert running.run(pending()) == []


def test_a_checkpoint_is_refused_when_stored_hashes_were_changed(client, running):
    console = client.sign_in()
    client.submit_ok(console, console.signed(9))
    client.settle()

    async def tamper_and_sign():
        async with running.server.database.transaction(write=True) as connection:
            state = await load_state(connection, lock=False)
            level, index = range_node_ids(0, state.size)[0]
            await connection.execute(
                update(audit_nodes)
                .where(audit_nodes.c.level == level, audit_nodes.c.idx == index)
                .values(hash=bytes(32))
            )
        await running.server.audit_worker.stop()
        async with running.server.database.transaction(write=True) as connection:
            await record_server_event(connection, action="open", object_type="customer", object_id="c-2")
        await running.server.state.audit.sequence_pending()
        await running.server.state.audit.sign_checkpoint()

    with pytest.raises(CheckpointRefused, match="stored nodes"):
        running.run(tamper_and_sign())
