"""A pull that starts over (the first sync of a vault, or one after the device's scope
changed) replaces every record the server sent before, so the records table is built anew
beside the old one rather than copied into it: the pull's kept batches go into
``sync_records_next``, a table of exactly ``sync_records``' definition but without its
secondary indexes, and applying the pull drops the old table, renames the new one and
builds the indexes, each in one sorted pass, in the applying transaction.  Screens see the
old table or the new one, never half of either.

Inserting 600,000 records one batch at a time into the indexed table and then copying them
cost as much again as receiving them; building the indexes once costs a third of that
(see docs/console-sync.md).

The definitions are read from the vault's own schema (``sqlite_master``), so the rebuilt
table and its indexes are the ones the vault's migrations made, whichever version they
are at.  Functions here run in the caller's write transaction."""

from __future__ import annotations

import re

from sqlalchemy.engine import Connection

RECORDS_TABLE = "sync_records"
REBUILT_TABLE = "sync_records_next"
_DEFINITION_HEAD = re.compile(r'^CREATE TABLE\s+(?:"sync_records"|sync_records)\s*\(')


class SchemaUnexpected(RuntimeError):
    """``sync_records``' definition is not in a form the rebuild knows how to copy."""


def _records_definition(connection: Connection) -> str:
    definition = connection.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (RECORDS_TABLE,)
    ).scalar_one()
    rebuilt, found = _DEFINITION_HEAD.subn(f"CREATE TABLE {REBUILT_TABLE} (", str(definition), count=1)
    if found != 1:
        raise SchemaUnexpected(f"{RECORDS_TABLE} is not defined by a plain CREATE TABLE")
    return rebuilt


def _index_definitions(connection: Connection) -> list[str]:
    """The records table's own indexes (its primary key's is built with the table)."""
    rows = connection.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL "
        "ORDER BY name",
        (RECORDS_TABLE,),
    ).all()
    return [str(row[0]) for row in rows]


def discard(connection: Connection) -> None:
    """Drop a rebuild under way (the pull started over again, or the client was replaced).
    The vault's ``secure_delete`` overwrites the pages it held."""
    connection.exec_driver_sql(f"DROP TABLE IF EXISTS {REBUILT_TABLE}")


def start(connection: Connection) -> None:
    """An empty rebuilt table, in place of any earlier one."""
    discard(connection)
    connection.exec_driver_sql(_records_definition(connection))


def merge(connection: Connection, batch_table: str) -> None:
    """Move a batch of staged changes (``sync_staging``'s columns) into the rebuilt table:
    a delete removes what an earlier batch put, a put replaces it.  Empties the batch.
    The table must exist (:func:`start`): one gone missing fails loudly rather than being
    made again without the batches kept in it."""
    connection.exec_driver_sql(
        f"DELETE FROM {REBUILT_TABLE} WHERE rowid IN (SELECT r.rowid FROM {batch_table} AS s "
        f"CROSS JOIN {REBUILT_TABLE} AS r ON r.type = s.type AND r.id = s.id WHERE s.op = 'delete')"
    )
    connection.exec_driver_sql(
        f"INSERT OR REPLACE INTO {REBUILT_TABLE} "
        "(type, id, version, server_data, sort_key, branch_id, id_hash, phone_hash) "
        "SELECT type, id, version, data, sort_key, branch_id, id_hash, phone_hash "
        f"FROM {batch_table} WHERE op = 'put' ORDER BY type, id"
    )
    connection.exec_driver_sql(f"DELETE FROM {batch_table}")


def swap_in(connection: Connection) -> int:
    """Replace the records table with the rebuilt one, with every index the old one had;
    returns how many records it holds.  Pending local work is not carried over: rebasing
    (in the same transaction) writes it again from the outbox."""
    indexes = _index_definitions(connection)
    connection.exec_driver_sql(f"DROP TABLE {RECORDS_TABLE}")
    connection.exec_driver_sql(f"ALTER TABLE {REBUILT_TABLE} RENAME TO {RECORDS_TABLE}")
    for definition in indexes:
        connection.exec_driver_sql(definition)
    return int(connection.exec_driver_sql(f"SELECT count(*) FROM {RECORDS_TABLE}").scalar_one())
