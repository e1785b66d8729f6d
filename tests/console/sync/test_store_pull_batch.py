"""A pull's batch gathers its pages in memory on a connection of its own: it takes no lock
on the vault and shows nothing until applied, reads ahead only as a hint, and gives its
connection back however it ends."""

from __future__ import annotations

import dataclasses
import threading
import uuid

import pytest

import console.sync.store as store_module
from console.sync.derive import fold
from console.sync.store import LocalStore, StoreClosed
from testkit.console_sync import statements_run

from .test_store_apply import customer, held, page


def _write_without_waiting(vault):
    """A write on another connection that fails at once (busy_timeout 0) if any
    connection holds the vault's write lock."""
    with vault.engine.connect() as connection:
        raw = connection.connection.dbapi_connection
        raw.execute("PRAGMA busy_timeout = 0")
        try:
            raw.execute("BEGIN IMMEDIATE")
            raw.execute("UPDATE sync_state SET last_synced_at = last_synced_at")
            raw.execute("COMMIT")
        finally:
            raw.execute("PRAGMA busy_timeout = 10000")


def _staged_in_file(vault):
    with vault.engine.connect() as connection:
        rows = connection.exec_driver_sql("SELECT count(*) FROM sync_staging").scalar_one()
        state = connection.exec_driver_sql("SELECT staging FROM sync_state").scalar_one()
        connection.rollback()
    return rows, state


def test_pages_gathered_take_no_lock_and_show_nothing_until_applied(vault, store):
    first, second = uuid.uuid4(), uuid.uuid4()
    with store.open_pull() as batch:
        batch.add(page(store, [customer(first, 1)], has_more=True))
        _write_without_waiting(vault)  # the screens' writes (access records) carry on
        assert held(store) == {}
        assert _staged_in_file(vault) == (0, None)  # nothing of the batch is in the file
        batch.add(page(store, [customer(second, 1)]))
        applied = batch.apply()
    assert applied.changes == 2
    assert set(held(store)) == {first, second}
    assert vault.engine.pool.checkedout() == 0


def test_a_kept_batch_is_in_the_file_and_the_next_applies_with_it(vault, store):
    first, second = uuid.uuid4(), uuid.uuid4()
    with store.open_pull() as batch:
        batch.add(page(store, [customer(first, 1)], has_more=True))
        batch.keep()
        rows, state = _staged_in_file(vault)
        assert rows == 1
        assert state is not None
        batch.add(page(store, [customer(second, 1)]))
        assert batch.apply().changes == 2
    assert set(held(store)) == {first, second}
    assert _staged_in_file(vault) == (0, None)


def test_a_write_between_pages_leaves_the_read_ahead_as_a_hint_only(vault, store):
    record = uuid.uuid4()
    store.apply_staged([page(store, [customer(record, 1)])])
    with store.open_pull() as batch:
        batch.add(page(store, [customer(record, 2, phone="+27839999999")]))
        # Another connection writes: SQLite drops the batch connection's cached pages.
        store.apply_staged([page(store, [customer(uuid.uuid4(), 1)])])
        batch.apply()
    row = held(store)[record]
    assert row.version == 2
    assert row.phone_hash == store.deriver.search_hash("phone", "+27839999999")


def test_a_pull_that_starts_over_in_its_last_batch_drops_what_was_kept(vault, store):
    dropped, kept = uuid.uuid4(), uuid.uuid4()
    store.stage([page(store, [customer(dropped, 1)], has_more=True)])
    outcome, rows = page(store, [customer(kept, 1)])
    with store.open_pull() as batch:
        batch.add((dataclasses.replace(outcome, reset=True), rows))
        assert batch.apply().reset
    assert set(held(store)) == {kept}
    assert _staged_in_file(vault) == (0, None)


def test_an_abandoned_batch_gives_its_connection_back_without_its_rows(vault, store):
    with store.open_pull() as batch:
        batch.add(page(store, [customer(uuid.uuid4(), 1)], has_more=True))
    assert vault.engine.pool.checkedout() == 0
    with vault.engine.connect() as connection:
        temporary = connection.exec_driver_sql("SELECT count(*) FROM sqlite_temp_master").scalar_one()
        connection.rollback()
    assert temporary == 0
    with store.open_pull() as batch, pytest.raises(RuntimeError, match="no pull is staged"):
        batch.apply()  # nothing of the abandoned batch came along


def test_closing_while_a_page_is_being_added_waits_for_nothing(vault, store, monkeypatch):
    inside, release = threading.Event(), threading.Event()
    read_ahead = store_module._read_ahead

    def slow_read_ahead(connection, after):
        inside.set()
        release.wait(10)
        read_ahead(connection, after)

    monkeypatch.setattr(store_module, "_read_ahead", slow_read_ahead)
    batch = store.open_pull()
    adding = threading.Thread(target=batch.add, args=(page(store, [customer(uuid.uuid4(), 1)]),))
    adding.start()
    assert inside.wait(10)
    batch.close()  # returns at once; the page being added finishes first
    assert vault.engine.pool.checkedout() == 1
    release.set()
    adding.join(10)
    assert not adding.is_alive()
    assert vault.engine.pool.checkedout() == 0
    with pytest.raises(StoreClosed):
        batch.add(page(store, [customer(uuid.uuid4(), 1)]))
    batch.close()  # closing again is harmless


def test_a_batch_on_a_closed_vault_refuses_at_once(vault):
    closed = LocalStore(vault.engine, is_closed=lambda: True)
    with pytest.raises(StoreClosed):
        closed.open_pull()


def test_gathering_reads_ahead_every_index_a_changed_column_moves(vault, store, monkeypatch):
    record = uuid.uuid4()
    store.apply_staged([page(store, [customer(record, 1)])])
    with statements_run(vault.engine) as statements, store.open_pull() as batch:
        batch.add(page(store, [customer(record, 2, surname="Zulu", phone="+27839999999")]))
        batch.apply()
    [read_ahead] = [s for s in statements if "INDEXED BY" in s]
    for index in ("sync_records_sorted", "sync_records_id_hash", "sync_records_phone_hash"):
        assert f"INDEXED BY {index}" in read_ahead
    row = held(store)[record]
    assert (row.version, row.sort_key) == (2, fold("Zulu Sipho"))
