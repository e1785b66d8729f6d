"""Applying a pull: records arrive whole, derived columns (sort key, search hashes) follow
the server's data wherever it changed, and staged batches apply as one."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import event, text

from console.sync.derive import ERASED_SORT_KEY, fold
from console.vault.database import DATABASE_FILE, autocheckpoint_off, commit_without_flush
from shared.sync.client import PullOutcome, SyncProtocolError
from shared.sync.protocol import Change

BRANCH = str(uuid.uuid4())


def customer(record_id, version, *, surname="Dlamini", phone="+27831234567", id_number="8001015009087"):
    fields = {"first_names": "Sipho", "surname": surname, "phone": phone, "id_number": id_number}
    data = {"id": str(record_id), "branch_id": BRANCH, "status": "active", "fields": fields}
    return Change(op="put", type="customer", id=record_id, version=version, data=data)


def erased(record_id, version):
    data = {"id": str(record_id), "branch_id": BRANCH, "status": "erased", "fields": None}
    return Change(op="put", type="customer", id=record_id, version=version, data=data)


def page(store, changes, *, has_more=False):
    client, _ = store.sync_client()
    outcome = PullOutcome(
        state=client.state, reset=False, changes=tuple(changes), results=(), confirmed=(), has_more=has_more
    )
    return outcome, store.staged_rows(changes)


def held(store):
    with store.reading() as connection:
        rows = connection.execute(
            text(
                "SELECT id, version, server_data, sort_key, branch_id, id_hash, phone_hash FROM sync_records"
            )
        ).all()
    return {uuid.UUID(row.id): row for row in rows}


def test_derived_columns_follow_the_server_where_they_changed(store):
    deriver = store.deriver
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    store.apply_staged(
        [page(store, [customer(a, 1), customer(b, 1, id_number="9202204720082"), customer(c, 1)])]
    )
    store.apply_staged(
        [
            page(store, [customer(a, 2, phone="+27839999999")], has_more=True),
            page(store, [customer(b, 2, surname="Zulu", id_number="9202204720082"), erased(c, 2)]),
        ]
    )
    rows = held(store)
    assert {record: row.version for record, row in rows.items()} == {a: 2, b: 2, c: 2}
    assert rows[a].phone_hash == deriver.search_hash("phone", "+27839999999")
    assert rows[a].sort_key == fold("Dlamini Sipho")
    assert rows[b].sort_key == fold("Zulu Sipho")
    assert rows[b].id_hash == deriver.search_hash("id_number", "9202204720082")
    assert rows[b].phone_hash == deriver.search_hash("phone", "+27831234567")
    assert (rows[c].sort_key, rows[c].id_hash, rows[c].phone_hash) == (ERASED_SORT_KEY, None, None)
    assert json.loads(rows[b].server_data)["fields"]["surname"] == "Zulu"
    assert all(row.branch_id == BRANCH for row in rows.values())


def test_batches_staged_apart_apply_as_one(store):
    first, second = uuid.uuid4(), uuid.uuid4()
    store.stage([page(store, [customer(first, 1)], has_more=True)])
    assert held(store) == {}  # staged, not yet shown
    applied = store.apply_staged([page(store, [customer(second, 1, surname="Mokoena")])])
    assert applied.changes == 2
    assert set(held(store)) == {first, second}
    _, staging = store.sync_client()
    assert staging is None


def test_a_record_json_cannot_hold_is_refused_without_applying_anything(store):
    record = customer(uuid.uuid4(), 1)
    assert record.data is not None
    record.data["fields"]["counter"] = 2**70
    with pytest.raises(SyncProtocolError):
        store.staged_rows([record])


def _autocheckpoint_pages(connection):
    return connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one()


def test_autocheckpoint_off_gives_the_connection_its_threshold_back(vault):
    with vault.engine.connect() as connection:
        before = _autocheckpoint_pages(connection)
        connection.rollback()
        with autocheckpoint_off(connection):
            assert _autocheckpoint_pages(connection) == 0
            connection.rollback()
        assert _autocheckpoint_pages(connection) == before > 0
        connection.rollback()


def _synchronous(connection):
    return connection.exec_driver_sql("PRAGMA synchronous").scalar_one()


def test_commit_without_flush_gives_the_connection_its_level_back(vault):
    with vault.engine.connect() as connection:
        assert _synchronous(connection) == 2  # FULL, the vault's setting
        connection.rollback()
        with commit_without_flush(connection):
            assert _synchronous(connection) == 1  # NORMAL
            connection.rollback()
        assert _synchronous(connection) == 2
        connection.rollback()


def test_only_the_applying_commit_skips_the_flush(vault, store):
    levels = []

    def seen(_connection, cursor, statement, *_):
        if "UPDATE sync_state SET cursor" in statement:
            levels.append(cursor.connection.execute("PRAGMA synchronous").fetchone()[0])

    event.listen(vault.engine, "before_cursor_execute", seen)
    try:
        store.apply_staged([page(store, [customer(uuid.uuid4(), 1)])])
    finally:
        event.remove(vault.engine, "before_cursor_execute", seen)
    assert levels == [1]
    with vault.engine.connect() as connection:
        assert _synchronous(connection) == 2  # back in the pool at FULL
        connection.rollback()


def test_a_pulls_commit_leaves_its_pages_in_the_log_until_folded(vault, store):
    # A low threshold, so that a small pull makes a log long enough to be checkpointed.
    def low_threshold(dbapi_connection, _record, _proxy):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA wal_autocheckpoint = 8")
        cursor.close()

    event.listen(vault.engine, "checkout", low_threshold)
    database = vault.directory / DATABASE_FILE
    size = database.stat().st_size

    applied = store.apply_staged([page(store, [customer(uuid.uuid4(), 1) for _ in range(300)])])

    assert applied.changes == 300
    assert len(held(store)) == 300  # committed and readable, from the log
    assert database.stat().st_size == size  # nothing copied into the file yet
    frames, folded = store.fold_log()
    assert folded == frames > 8
    assert database.stat().st_size > size
    size = database.stat().st_size

    # Any other commit still checkpoints as soon as the log is long (more rows than the
    # pages the applied pull's staging freed).
    store.stage([page(store, [customer(uuid.uuid4(), 1) for _ in range(900)], has_more=True)])
    assert database.stat().st_size > size
