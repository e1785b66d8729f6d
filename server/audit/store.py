"""Reading and writing the log's rows: the state row, tree nodes, entries and checkpoints.
Callers hold the transaction; an append locks the state row first (FOR UPDATE on
PostgreSQL; on SQLite the write transaction's BEGIN IMMEDIATE already excludes writers)."""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, LargeBinary, SmallInteger, String, Table, Uuid, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from server.audit.appender import ENTRY_COLUMNS, NODE_COLUMNS, AppendPlan, LogState
from server.audit.tables import STATE_ROW, audit_checkpoints, audit_entries, audit_log_state, audit_nodes
from server.auth.columns import UTCDateTime
from server.db.raw import rows_with_uuid_in, uuid_text
from shared.merkle import EMPTY_ROOT, CompactRange, NodeId, ProofPlan, root_plan

# Rows per INSERT statement on SQLite: large enough to amortise, small enough for its limit of
# 32,766 bound values (an entry has 17 columns).
_CHUNK = 500


class LogCorrupted(Exception):
    """Stored rows contradict each other (a node missing, a root that does not add up)."""


@dataclass(frozen=True)
class StoredCheckpoint:
    size: int
    root: bytes
    note: bytes
    key_id: str
    signed_at: dt.datetime


async def load_state(connection: AsyncConnection, *, lock: bool) -> LogState:
    query = select(audit_log_state).where(audit_log_state.c.id == STATE_ROW)
    if lock:
        query = query.with_for_update()
    row = (await connection.execute(query)).one()
    return LogState(
        frontier=CompactRange.from_bytes(bytes(row.frontier)),
        min_index=row.min_index,
        last_received_at=row.last_received_at,
    )


def _canonical_time(text: str) -> str:
    """A time as events and entries spell it, ``YYYY-MM-DDTHH:MM:SS.ffffffZ``, checked for
    that shape: the conversions below cut it up by position."""
    if len(text) != 27 or text[10] != "T" or text[19] != "." or text[26] != "Z":
        raise ValueError("a time on the append path is not in its canonical form")
    return text


def _sqlite_uuid(text: str | None) -> str | None:
    return None if text is None else text.replace("-", "")


def _sqlite_time(text: str | None) -> str | None:
    """Naive UTC text, as SQLAlchemy stores a time on SQLite: ``YYYY-MM-DD HH:MM:SS.ffffff``."""
    if text is None:
        return None
    canonical = _canonical_time(text)
    return f"{canonical[:10]} {canonical[11:26]}"


def _pg_uuid(text: str | None) -> uuid.UUID | None:
    return None if text is None else uuid.UUID(text)


def _pg_time(text: str | None) -> dt.datetime | None:
    return None if text is None else dt.datetime.fromisoformat(_canonical_time(text))


_Convert = Callable[[Any], object]


@functools.lru_cache(maxsize=16)
def _conversions(table: Table, names: tuple[str, ...], dialect: str) -> tuple[tuple[int, _Convert], ...]:
    """Which columns need converting for the driver, and how.  Ids and times arrive as the
    event's canonical text (the append path's rows): SQLite takes a UUID as 32 hex digits
    and a time as naive UTC text, psycopg takes both as objects."""
    uuids, times = (_sqlite_uuid, _sqlite_time) if dialect == "sqlite" else (_pg_uuid, _pg_time)
    conversions: list[tuple[int, _Convert]] = []
    for position, name in enumerate(names):
        kind = table.c[name].type
        if isinstance(kind, Uuid):
            conversions.append((position, uuids))
        elif isinstance(kind, UTCDateTime):
            conversions.append((position, times))
    return tuple(conversions)


def _converted(values: Sequence[object], convert: _Convert) -> list[object]:
    """``convert`` over a column, once per distinct value: a batch's rows share their actor,
    device and time received."""
    done: dict[object, object] = {}
    out = []
    for value in values:
        try:
            out.append(done[value])
        except KeyError:
            out.append(done.setdefault(value, convert(value)))
    return out


@functools.lru_cache(maxsize=32)
def _insert_sql(table: str, names: tuple[str, ...], rows: int) -> str:
    one = f"({', '.join('?' * len(names))})"
    return f"INSERT INTO {table} ({', '.join(names)}) VALUES {', '.join([one] * rows)}"  # noqa: S608 - names from the table definition


async def _insert_rows(
    connection: AsyncConnection, table: Table, names: tuple[str, ...], rows: Sequence[Sequence[Any]]
) -> None:
    """Many rows at once, straight to the driver: on the append path SQLAlchemy's per-value
    processing cost as much as the rest of an append.  On PostgreSQL that is one INSERT
    from ``unnest`` of an array per column; on SQLite each chunk is one statement with a
    row of values per entry.  Not an executemany: psycopg sends every row as a statement
    of its own, and sqlite3 gives up and retakes the GIL for every row (and waits for it
    while the event loop is busy).  Not COPY either: a COPY cancelled while it starts
    (a shutdown cancelling the audit worker) leaves the connection unable to roll back."""
    if not rows:
        return
    dialect = connection.dialect.name
    conversions = _conversions(table, names, dialect)
    if dialect == "postgresql":
        columns = [list(column) for column in zip(*rows, strict=True)]
        for position, convert in conversions:
            columns[position] = _converted(columns[position], convert)
        await connection.exec_driver_sql(_unnest_sql(table, names), tuple(columns))
        return
    width = len(names)
    values = [value for row in rows for value in row]
    for position, convert in conversions:
        values[position::width] = _converted(values[position::width], convert)
    for start in range(0, len(rows), _CHUNK):
        count = min(_CHUNK, len(rows) - start)
        sql = _insert_sql(table.name, names, count)
        await connection.exec_driver_sql(sql, tuple(values[start * width : (start + count) * width]))


def _pg_array_type(kind: object) -> str:
    if isinstance(kind, UTCDateTime):
        return "timestamptz[]"
    if isinstance(kind, Uuid):
        return "uuid[]"
    if isinstance(kind, LargeBinary):
        return "bytea[]"
    if isinstance(kind, SmallInteger):
        return "smallint[]"
    if isinstance(kind, Integer):  # BigInteger is an Integer
        return "bigint[]"
    if isinstance(kind, String):
        return "text[]"
    raise TypeError(f"no array type for {kind!r}")


@functools.lru_cache(maxsize=8)
def _unnest_sql(table: Table, names: tuple[str, ...]) -> str:
    arrays = ", ".join(f"%b::{_pg_array_type(table.c[name].type)}" for name in names)
    return f"INSERT INTO {table.name} ({', '.join(names)}) SELECT * FROM unnest({arrays})"  # noqa: S608 - names and types from the table definition


@dataclass(frozen=True)
class KnownEntry:
    """An entry already in the log under an event id being appended again."""

    idx: int
    event: bytes | None
    signature: bytes | None


async def known_entries(connection: AsyncConnection, ids: Sequence[str]) -> dict[str, KnownEntry]:
    """The entries already in the log under any of ``ids`` (as events spell them: lower
    case, hyphenated), keyed the same way.  The ids go to the database as one array
    (PostgreSQL) or one JSON list (SQLite): as an expanding IN, SQLAlchemy named and
    converted a thousand parameters for every batch, to find, nearly always, nothing."""
    if not ids:
        return {}
    hex_ids = [value.replace("-", "") for value in ids]
    rows = await rows_with_uuid_in(
        connection, "event_id, idx, event, signature FROM audit_entries", "event_id", hex_ids
    )
    known: dict[str, KnownEntry] = {}
    for event_id, idx, event, signature in rows:
        known[uuid_text(event_id)] = KnownEntry(int(idx), _optional_bytes(event), _optional_bytes(signature))
    return known


def _optional_bytes(value: object) -> bytes | None:
    return None if value is None else bytes(value)  # type: ignore[call-overload]


async def write_append(connection: AsyncConnection, plan: AppendPlan, now: dt.datetime) -> None:
    """Write the plan's entries and nodes and the new state, in the caller's transaction."""
    if not plan.entries:
        return
    await _insert_rows(connection, audit_entries, ENTRY_COLUMNS, plan.entries)
    await _insert_rows(connection, audit_nodes, NODE_COLUMNS, plan.nodes)
    await connection.execute(
        update(audit_log_state)
        .where(audit_log_state.c.id == STATE_ROW)
        .values(
            size=plan.state.size,
            frontier=plan.state.frontier.to_bytes(),
            last_received_at=plan.state.last_received_at,
            updated_at=now,
        )
    )


async def get_nodes(connection: AsyncConnection, ids: Sequence[NodeId]) -> list[bytes]:
    """The hashes of the given complete nodes, in order; :class:`LogCorrupted` if one is missing."""
    by_level: dict[int, list[int]] = defaultdict(list)
    for level, index in ids:
        by_level[level].append(index)
    found: dict[NodeId, bytes] = {}
    for level, indexes in by_level.items():
        for start in range(0, len(indexes), _CHUNK):
            rows = await connection.execute(
                select(audit_nodes.c.idx, audit_nodes.c.hash).where(
                    audit_nodes.c.level == level, audit_nodes.c.idx.in_(indexes[start : start + _CHUNK])
                )
            )
            found.update({(level, row.idx): bytes(row.hash) for row in rows})
    missing = [node for node in ids if node not in found]
    if missing:
        raise LogCorrupted(f"{len(missing)} tree nodes are missing, the first {missing[0]}")
    return [found[node] for node in ids]


async def node_range(connection: AsyncConnection, level: int, start: int, end: int) -> list[bytes]:
    """Hashes of nodes ``(level, start) .. (level, end - 1)``; :class:`LogCorrupted` on a gap."""
    rows = await connection.execute(
        select(audit_nodes.c.idx, audit_nodes.c.hash)
        .where(audit_nodes.c.level == level, audit_nodes.c.idx >= start, audit_nodes.c.idx < end)
        .order_by(audit_nodes.c.idx)
    )
    hashes = []
    for expected, row in enumerate(rows, start):
        if row.idx != expected:
            raise LogCorrupted(f"tree node ({level}, {expected}) is missing")
        hashes.append(bytes(row.hash))
    if len(hashes) != end - start:
        raise LogCorrupted(f"tree nodes ({level}, {start + len(hashes)}) onwards are missing")
    return hashes


async def build_proof(connection: AsyncConnection, plan: ProofPlan) -> list[bytes]:
    ids = plan.node_ids
    return plan.assemble(await get_nodes(connection, ids) if ids else [])


async def stored_root(connection: AsyncConnection, size: int) -> bytes:
    """The root of the first *size* leaves, from the stored nodes alone."""
    proof = await build_proof(connection, root_plan(size))
    return proof[0] if proof else EMPTY_ROOT


def _checkpoint(row: object) -> StoredCheckpoint:
    return StoredCheckpoint(
        size=row.size,  # type: ignore[attr-defined]
        root=bytes(row.root),  # type: ignore[attr-defined]
        note=row.note.encode(),  # type: ignore[attr-defined]
        key_id=row.key_id,  # type: ignore[attr-defined]
        signed_at=row.signed_at,  # type: ignore[attr-defined]
    )


async def latest_checkpoint(connection: AsyncConnection) -> StoredCheckpoint | None:
    row = (
        await connection.execute(select(audit_checkpoints).order_by(audit_checkpoints.c.size.desc()).limit(1))
    ).first()
    return _checkpoint(row) if row is not None else None


async def checkpoint_at(connection: AsyncConnection, size: int) -> StoredCheckpoint | None:
    row = (
        await connection.execute(select(audit_checkpoints).where(audit_checkpoints.c.size == size))
    ).first()
    return _checkpoint(row) if row is not None else None
