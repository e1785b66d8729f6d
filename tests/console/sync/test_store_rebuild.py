"""A pull that starts over is gathered in a table of its own and swapped in whole: the
records table keeps its definition and indexes, pending work survives through the rebase,
batches kept apart (and a pull cut short and resumed) apply as one, and nothing of a
discarded rebuild is left behind."""

from __future__ import annotations

import dataclasses
import threading
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from console.sync.derive import fold
from console.sync.rebuild import REBUILT_TABLE
from console.sync.store import StoreFailed
from testkit.console_sync import statements_run

from .test_store_apply import BRANCH, customer, held, page


def starting_over(store, changes, *, has_more=False):
    outcome, rows = page(store, changes, has_more=has_more)
    return dataclasses.replace(outcome, reset=True), rows


def _schema(engine):
    """The records table's columns and constraints, and its indexes' definitions."""
    with engine.connect() as connection:
        columns = connection.exec_driver_sql("PRAGMA table_xinfo(sync_records)").all()
        indexes = connection.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'sync_records' "
            "ORDER BY name"
        ).all()
        definition = connection.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'sync_records'"
        ).scalar_one()
        connection.rollback()
    body = definition[definition.index("(") :]
    return columns, indexes, body


def _tables(engine):
    with engine.connect() as connection:
        names = {
            row[0]
            for row in connection.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        connection.rollback()
    return names


def _create_here(store, surname):
    record = uuid.uuid4()
    fields = {
        "first_names": "Lerato",
        "surname": surname,
        "id_number": "8001015009087",
        "date_of_birth": "1980-01-01",
    }
    store.enqueue("customer.create", {"id": str(record), "branch_id": BRANCH, "fields": fields})
    return record


def test_starting_over_rebuilds_the_records_table_with_its_definition_and_indexes(vault, store):
    gone, first, second = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    store.apply_staged([page(store, [customer(gone, 1)])])
    made_here = _create_here(store, "Khumalo")
    before = _schema(vault.engine)
    with store.open_pull() as batch:
        batch.add(starting_over(store, [customer(first, 1)], has_more=True))
        batch.keep()
        assert REBUILT_TABLE in _tables(vault.engine)
        assert set(held(store)) == {gone, made_here}  # nothing shows until applied
        batch.add(page(store, [customer(second, 1, surname="Zulu", phone="+27839999999")]))
        applied = batch.apply()
    assert applied.reset
    assert applied.changes == 2
    rows = held(store)
    assert set(rows) == {first, second, made_here}  # the pending creation is rebased on top
    assert rows[made_here].server_data is None
    assert rows[made_here].sort_key == fold("Khumalo Lerato")
    assert rows[second].sort_key == fold("Zulu Sipho")
    assert REBUILT_TABLE not in _tables(vault.engine)
    assert _schema(vault.engine) == before
    with store.reading() as connection:
        found = (
            connection.execute(
                text("SELECT id FROM sync_records INDEXED BY sync_records_phone_hash WHERE phone_hash = :h"),
                {"h": store.deriver.search_hash("phone", "+27839999999")},
            )
            .scalars()
            .all()
        )
        pending = (
            connection.execute(
                text(
                    "SELECT id FROM sync_records INDEXED BY sync_records_pending WHERE local_data IS NOT NULL"
                )
            )
            .scalars()
            .all()
        )
    assert found == [str(second)]
    assert pending == [str(made_here)]
    with pytest.raises(IntegrityError), vault.engine.begin() as connection:
        connection.execute(text("INSERT INTO sync_records (type, id) VALUES ('customer', 'x')"))  # CHECK kept


def test_the_same_schema_after_starting_over_twice(vault, store):
    before = _schema(vault.engine)
    for _ in range(2):
        store.apply_staged([starting_over(store, [customer(uuid.uuid4(), 1)])])
    assert _schema(vault.engine) == before


def test_a_start_over_cut_short_resumes_into_its_rebuild_without_reading_ahead(vault, store):
    old, first, second = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    store.apply_staged([page(store, [customer(old, 1)])])
    with store.open_pull() as batch:
        batch.add(starting_over(store, [customer(first, 1)], has_more=True))
        batch.keep()
    # The connection was lost here; the next pull continues after the kept batch.
    with statements_run(vault.engine) as statements, store.open_pull() as batch:
        batch.add(page(store, [customer(second, 1)]))
        applied = batch.apply()
    assert applied.reset
    assert set(held(store)) == {first, second}
    assert not [statement for statement in statements if "INDEXED BY" in statement]


def test_a_delete_in_a_later_batch_removes_what_an_earlier_one_put(store):
    kept, deleted = uuid.uuid4(), uuid.uuid4()
    store.stage([starting_over(store, [customer(kept, 1), customer(deleted, 1)], has_more=True)])
    tombstone = customer(deleted, 2).model_copy(update={"op": "delete", "data": None, "version": None})
    applied = store.apply_staged([page(store, [tombstone])])
    assert applied.reset
    assert set(held(store)) == {kept}


def test_starting_over_again_drops_the_first_rebuild(vault, store):
    first_try, second_try = uuid.uuid4(), uuid.uuid4()
    store.stage([starting_over(store, [customer(first_try, 1)], has_more=True)])
    store.apply_staged([starting_over(store, [customer(second_try, 1)])])
    assert set(held(store)) == {second_try}
    assert REBUILT_TABLE not in _tables(vault.engine)


def test_a_start_over_in_a_pull_that_kept_batches_drops_them(vault, store):
    dropped, kept = uuid.uuid4(), uuid.uuid4()
    store.stage([page(store, [customer(dropped, 1)], has_more=True)])
    store.stage([starting_over(store, [customer(kept, 1)], has_more=True)])
    with vault.engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM sync_staging").scalar_one() == 0
        connection.rollback()
    store.apply_staged([page(store, [])])
    assert set(held(store)) == {kept}


def test_a_new_sync_client_drops_a_rebuild_under_way(vault, store):
    store.stage([starting_over(store, [customer(uuid.uuid4(), 1)], has_more=True)])
    assert REBUILT_TABLE in _tables(vault.engine)
    store.rebind()
    assert REBUILT_TABLE not in _tables(vault.engine)
    _, staging = store.sync_client()
    assert staging is None


def test_a_screen_reading_meanwhile_keeps_its_snapshot_and_then_sees_the_new_table(vault, store):
    old, new = uuid.uuid4(), uuid.uuid4()
    store.apply_staged([page(store, [customer(old, 1)])])
    reading, swapped = threading.Event(), threading.Event()
    seen: list[set[str]] = []

    def screen():
        with store.reading() as connection:
            seen.append(set(connection.execute(text("SELECT id FROM sync_records")).scalars()))
            reading.set()
            swapped.wait(10)
            seen.append(set(connection.execute(text("SELECT id FROM sync_records")).scalars()))
        seen.append({row_id for row_id in map(str, held(store))})

    reader = threading.Thread(target=screen)
    reader.start()
    assert reading.wait(10)
    store.apply_staged([starting_over(store, [customer(new, 1)])])  # does not wait for the reader
    swapped.set()
    reader.join(10)
    assert seen == [{str(old)}, {str(old)}, {str(new)}]


def test_a_rebuild_gone_missing_fails_the_pull_rather_than_start_again_without_its_batches(vault, store):
    held_before, kept = uuid.uuid4(), uuid.uuid4()
    store.apply_staged([page(store, [customer(held_before, 1)])])
    store.stage([starting_over(store, [customer(kept, 1)], has_more=True)])
    with vault.engine.begin() as connection:
        connection.exec_driver_sql(f"DROP TABLE {REBUILT_TABLE}")
    with pytest.raises(StoreFailed):
        store.apply_staged([page(store, [customer(uuid.uuid4(), 1)])])
    assert set(held(store)) == {held_before}  # nothing applied
    _, staging = store.sync_client()
    assert staging is not None
    assert staging.reset  # the pull is still where it was
