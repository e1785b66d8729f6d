"""POST /api/v1/audit/events through a real server: what is accepted, what is refused and
why, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import func, select

from server.audit.tables import audit_entries
from server.auth.devices import revoke_device
from shared.audit.codec import b64url_encode
from shared.audit.event import AuditEvent, sign_event
from shared.crypto import generate_private_key
from testkit.audit import submission


def results_of(response):
    assert response.status_code == 200, response.text
    return response.json()["results"]


def count_entries(running) -> int:
    """Device-signed entries only: security events from signing in arrive on their own."""

    async def count() -> int:
        async with running.server.database.transaction() as connection:
            query = (
                select(func.count()).select_from(audit_entries).where(audit_entries.c.signer.like("device:%"))
            )
            return int(await connection.scalar(query))

    return running.run(count())


def test_a_stored_entry_holds_its_events_ids_and_times_as_the_database_compares_them(client, running):
    """The append writes ids and times from the event's text, not through SQLAlchemy: the
    stored values must still be the ones its bound parameters find."""
    console = client.sign_in()
    before = dt.datetime.now(dt.UTC)
    signed = console.signed(20)  # more than a batch checked inline: the workers' fields
    indexes = client.submit_ok(console, signed)

    async def find(event: AuditEvent):
        async with running.server.database.transaction() as connection:
            query = select(audit_entries).where(
                audit_entries.c.event_id == event.event_id,
                audit_entries.c.occurred_at == event.occurred_at,
                audit_entries.c.actor == event.actor,
                audit_entries.c.device == event.device,
                audit_entries.c.received_at >= before - dt.timedelta(seconds=1),
                audit_entries.c.received_at <= dt.datetime.now(dt.UTC),
            )
            return (await connection.execute(query)).all()

    for index, item in zip(indexes, signed, strict=True):
        (row,) = running.run(find(item.event))
        assert row.idx == index
        assert (row.event_id, row.actor, row.device) == (
            item.event.event_id,
            console.user_id,
            console.device_id,
        )
        assert row.occurred_at == item.event.occurred_at
        assert row.occurred_at.tzinfo is not None
        assert row.received_at.tzinfo is not None
        assert row.event == item.data
        assert row.signature == item.signature


def test_a_batch_is_appended_in_order_with_consecutive_indexes(client):
    console = client.sign_in()
    first = client.submit_ok(console, console.signed(5))
    second = client.submit_ok(console, console.signed(3, action="reveal"))
    assert second[0] > first[-1]
    assert first == list(range(first[0], first[0] + 5))
    assert second == list(range(second[0], second[0] + 3))


def test_an_appended_event_reads_back_column_for_column(client, running):
    """The bulk write (COPY on PostgreSQL, one multi-row INSERT on SQLite) keeps every
    value's type: aware UTC times, UUIDs, bytes, and NULL where the event has none."""
    console = client.sign_in()
    batch = console.signed(3, action="reveal") + console.signed(2)
    indexes = client.submit_ok(console, batch)

    async def rows():
        async with running.server.database.transaction() as connection:
            query = select(audit_entries).where(audit_entries.c.idx.in_(indexes))
            return (await connection.execute(query.order_by(audit_entries.c.idx))).all()

    stored = running.run(rows())
    assert [row.idx for row in stored] == indexes
    for row, signed in zip(stored, batch, strict=True):
        event = signed.event
        assert (row.event_id, row.actor, row.device) == (event.event_id, event.actor, event.device)
        assert row.occurred_at == event.occurred_at
        assert row.occurred_at.utcoffset() == dt.timedelta(0)
        assert row.received_at.utcoffset() == dt.timedelta(0)
        assert (bytes(row.event), bytes(row.signature)) == (signed.data, signed.signature)
        assert (row.action, row.object_type, row.object_id) == (event.action, "customer", event.object_id)
        assert (row.purpose, row.outcome) == (event.purpose, "success")
        assert (row.erased_at, row.erased_reason) == (None, None)
        assert len(bytes(row.salt)) == 32
        assert bytes(row.entry).startswith(b'{"class":"access"')
    assert [row.purpose for row in stored].count(None) == 2


def test_resending_the_same_events_is_accepted_with_the_same_indexes(client, running):
    console = client.sign_in()
    batch = console.signed(4)
    indexes = client.submit_ok(console, batch)
    before = count_entries(running)
    assert client.submit_ok(console, batch[1:3] + batch[1:2]) == [indexes[1], indexes[2], indexes[1]]
    assert count_entries(running) == before


def test_an_erased_event_sent_again_keeps_its_index_and_stays_erased(client, running):
    console = client.sign_in()
    batch = console.signed(3)
    indexes = client.submit_ok(console, batch)
    erased = batch[1].event.event_id
    assert running.run(running.server.state.audit.erase(erased)) == indexes[1]
    assert client.submit_ok(console, batch) == indexes

    async def body():
        async with running.server.database.transaction() as connection:
            query = select(audit_entries.c.event, audit_entries.c.erased_reason)
            return (await connection.execute(query.where(audit_entries.c.event_id == erased))).one()

    assert tuple(running.run(body())) == (None, "erasure")


def test_a_different_event_under_a_used_id_is_refused(client):
    console = client.sign_in()
    (original,) = console.signed(1)
    client.submit_ok(console, [original])
    impostor = console.sign(console.event(event_id=original.event.event_id, action="delete"))
    (result,) = results_of(client.submit(console, [impostor]))
    assert result == {
        "event_id": str(original.event.event_id),
        "status": "rejected",
        "index": None,
        "reason": "event_id_conflict",
        "message": "A different event with this event id is already in the log.",
    }


def test_each_event_is_judged_on_its_own(client, running):
    console = client.sign_in(("teller",))
    other = client.sign_in(("teller",))
    good = console.sign(console.event())
    wrong_key = sign_event(console.event(), generate_private_key())
    tampered_event = console.event(object_id="cust-original")
    tampered = console.sign(tampered_event)
    tampered_data = tampered.data.replace(b"cust-original", b"cust-forgedid")
    forged_actor = console.sign(console.event(actor=other.user_id))
    forged_role = console.sign(console.event(role="supervisor"))
    future = console.sign(console.event(occurred_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)))
    other_device = other.sign(other.event())
    server_kind = sign_event(
        AuditEvent(
            event_id=uuid.uuid4(),
            occurred_at=dt.datetime.now(dt.UTC),
            signer="server:0123456789abcdef",
            action="sign_in",
        ),
        console.device.private,
    )
    body = {
        "events": [
            submission(good),
            submission(wrong_key),
            {"event": b64url_encode(tampered_data), "signature": b64url_encode(tampered.signature)},
            submission(forged_actor),
            submission(forged_role),
            submission(future),
            submission(other_device),
            submission(server_kind),
            {"event": b64url_encode(b'{"action":"open"}'), "signature": b64url_encode(bytes(64))},
        ]
    }
    before = count_entries(running)
    results = results_of(client.post("/api/v1/audit/events", console, json=body))
    assert [result["status"] for result in results] == ["accepted"] + ["rejected"] * 8
    assert [result["reason"] for result in results[1:]] == [
        "bad_signature",
        "bad_signature",
        "forged_actor",
        "forged_role",
        "time_in_future",
        "forged_device",
        "not_a_device_event",
        "malformed_event",
    ]
    assert results[1]["event_id"] == str(wrong_key.event.event_id)
    assert results[8]["event_id"] is None
    assert "members missing" in results[8]["message"]
    assert count_entries(running) == before + 1


def test_the_message_of_a_malformed_event_never_echoes_its_values(client):
    console = client.sign_in()
    event = console.event(object_id="cust-1")
    data = event.to_bytes().replace(b'"cust-1"', b'"8001015009087"')
    body = {"events": [{"event": b64url_encode(data), "signature": b64url_encode(bytes(64))}]}
    (result,) = results_of(client.post("/api/v1/audit/events", console, json=body))
    assert result["reason"] == "malformed_event"
    assert "object_id" in result["message"]
    assert "8001015009087" not in result["message"]


def test_a_revoked_device_is_refused_and_told_so(client, running):
    console = client.sign_in()
    client.submit_ok(console, console.signed(1))

    async def revoke() -> None:
        async with running.server.database.transaction(write=True) as connection:
            assert await revoke_device(
                connection, console.device_id, actor_id=None, now=dt.datetime.now(dt.UTC)
            )

    running.run(revoke())
    response = client.submit(console, console.signed(2))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "device_revoked"


def test_events_signed_before_revocation_but_submitted_after_are_refused(client, running):
    from server.audit.ingest import Caller

    console = client.sign_in()
    pending = console.signed(3)

    async def revoke_then_submit():
        async with running.server.database.transaction(write=True) as connection:
            await revoke_device(connection, console.device_id, actor_id=None, now=dt.datetime.now(dt.UTC))
        caller = Caller(console.user_id, console.device_id, frozenset({console.role}))
        return await running.server.state.audit.submit(caller, [(s.data, s.signature) for s in pending])

    results = running.run(revoke_then_submit())
    assert [result.refused.reason.value for result in results] == ["revoked_device"] * 3


def test_submitting_needs_a_signed_in_device(client):
    console = client.sign_in()
    response = client.http.post("/api/v1/audit/events", json={"events": [submission(console.signed(1)[0])]})
    assert response.status_code == 401


def test_an_empty_or_oversized_batch_is_a_validation_error(client):
    console = client.sign_in()
    assert client.post("/api/v1/audit/events", console, json={"events": []}).status_code == 422
    one = submission(console.signed(1)[0])
    assert client.post("/api/v1/audit/events", console, json={"events": [one] * 1001}).status_code == 422
