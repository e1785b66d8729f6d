"""The change feed: every synced record type and its tombstones, merged in one order and
read in pages that never pass a change that may still commit."""

from __future__ import annotations

import heapq
import itertools
import json
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import ColumnElement, Row, Select, Table, literal, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from server.sync.cursor import Cursor, FeedKey
from server.sync.positions import read_watermark
from server.sync.scope import Scope
from server.sync.tables import sync_tombstones

DELETE, PUT = 0, 1

Encoder = Callable[[Sequence[Row[Any]]], Awaitable[list[bytes]]]
"""Given rows of (position, id, version, *columns), the JSON object a device receives for each."""


@dataclass(frozen=True)
class SyncedType:
    """A record type devices hold.  Its table has ``id``, ``bucket``, ``position`` and
    ``version`` columns; the feed reads ``columns`` beside them and ``encode`` turns those
    rows into the JSON a device receives (encoded once, straight into the pull answer)."""

    name: str
    code: int
    table: Table
    columns: Sequence[ColumnElement[Any]]
    encode: Encoder


@dataclass(frozen=True)
class FeedChange:
    op: Literal["put", "delete"]
    type: str
    id: uuid.UUID
    version: int | None
    encoded: bytes | None
    """The record's data as a JSON object (``None`` for a deletion)."""

    @property
    def data(self) -> dict[str, Any] | None:
        if self.encoded is None:
            return None
        value: dict[str, Any] = json.loads(self.encoded)
        return value


@dataclass(frozen=True)
class FeedPage:
    changes: list[FeedChange]
    cursor: Cursor
    has_more: bool
    reset: bool
    watermark: int
    """Every change below this position was committed when the page was read."""


def _after_records(table: Table, code: int, after: FeedKey | None, position: int) -> ColumnElement[bool]:
    column = table.c.position
    if after is None:
        return column >= position
    if code > after.record_type:
        return column >= after.position
    if code < after.record_type:
        return column > after.position
    # Same type: a put sorts after a deletion of the same record at the same position.  A
    # row-value comparison, so that both databases seek the (position, id) index to the
    # key; the equivalent OR made SQLite gather and sort everything after it, every page.
    key = tuple_(column, table.c.id)
    after_key = tuple_(literal(after.position), literal(after.record_id, table.c.id.type))
    return key >= after_key if after.kind == DELETE else key > after_key


def _after_tombstones(after: FeedKey | None, position: int) -> ColumnElement[bool]:
    t = sync_tombstones.c
    if after is None:
        return t.position >= position
    # A tombstone equal on (position, type, id) sorts before the key, whatever its kind.
    return tuple_(t.position, t.record_type, t.record_id) > tuple_(
        literal(after.position), literal(after.record_type), literal(after.record_id, t.record_id.type)
    )


class ChangeFeed:
    def __init__(self, types: Sequence[SyncedType]) -> None:
        codes = [synced.code for synced in types]
        if len(set(codes)) != len(codes) or len({synced.name for synced in types}) != len(types):
            raise ValueError("synced types need distinct names and codes")
        self.types = {synced.code: synced for synced in types}

    def _records(
        self, synced: SyncedType, scope: Scope, cursor: Cursor, watermark: int, limit: int
    ) -> Select[Any]:
        """The type's next ``limit`` records in its index order, which is the feed's order
        within one type."""
        table = synced.table
        conditions = [
            table.c.position < watermark,
            _after_records(table, synced.code, cursor.after, cursor.position),
        ]
        if scope.buckets is not None:
            conditions.append(table.c.bucket.in_(sorted(scope.buckets)))
        return (
            select(table.c.position, table.c.id, table.c.version, *synced.columns)
            .where(*conditions)
            .order_by(table.c.position, table.c.id)
            .limit(limit)
        )

    @staticmethod
    def _tombstones(scope: Scope, cursor: Cursor, watermark: int, limit: int) -> Select[Any]:
        t = sync_tombstones.c
        conditions = [t.position < watermark, _after_tombstones(cursor.after, cursor.position)]
        if scope.buckets is not None:
            conditions.append(t.bucket.in_(sorted(scope.buckets)))
        return (
            select(t.position, t.record_type, t.record_id)
            .where(*conditions)
            .order_by(t.position, t.record_type, t.record_id)
            .limit(limit)
        )

    async def _next(
        self, connection: AsyncConnection, scope: Scope, cursor: Cursor, watermark: int, limit: int
    ) -> list[tuple[FeedKey, Row[Any] | None]]:
        """The next ``limit`` changes in feed order: each type's and the tombstones' next
        ``limit`` in index order, merged."""
        streams: list[list[tuple[FeedKey, Row[Any] | None]]] = []
        for synced in self.types.values():
            rows = (await connection.execute(self._records(synced, scope, cursor, watermark, limit))).all()
            streams.append([(FeedKey(int(row[0]), synced.code, _uuid(row[1]), PUT), row) for row in rows])
        tombstones = (await connection.execute(self._tombstones(scope, cursor, watermark, limit))).all()
        streams.append(
            [(FeedKey(int(row[0]), int(row[1]), _uuid(row[2]), DELETE), None) for row in tombstones]
        )
        merged = heapq.merge(*streams, key=lambda item: item[0])
        return list(itertools.islice(merged, limit))

    async def page(
        self, connection: AsyncConnection, scope: Scope, cursor: Cursor | None, limit: int
    ) -> FeedPage:
        """One page of changes after ``cursor``, read in ``connection``'s snapshot.  A cursor
        from another scope (grants changed) starts over with ``reset``."""
        reset = cursor is None or cursor.scope != scope.key
        if reset or cursor is None:
            cursor = Cursor(scope=scope.key, position=0)
        watermark = max(await read_watermark(connection), cursor.position)
        if scope.buckets is not None and not scope.buckets:
            return FeedPage(
                [], Cursor(scope.key, watermark), has_more=False, reset=reset, watermark=watermark
            )
        found = await self._next(connection, scope, cursor, watermark, limit)
        changes = await self._encode(found)
        if len(found) == limit:
            last = found[-1][0]
            next_cursor = Cursor(scope.key, last.position, after=last)
            return FeedPage(changes, next_cursor, has_more=True, reset=reset, watermark=watermark)
        return FeedPage(
            changes, Cursor(scope.key, watermark), has_more=False, reset=reset, watermark=watermark
        )

    async def pending(self, connection: AsyncConnection, scope: Scope, cursor: Cursor) -> bool:
        """Whether any change after ``cursor`` is visible at all, even one not yet below the
        watermark because an older transaction is still open."""
        if scope.buckets is not None and not scope.buckets:
            return False
        return bool(await self._next(connection, scope, cursor, 2**63 - 1, 1))

    async def _encode(self, found: list[tuple[FeedKey, Row[Any] | None]]) -> list[FeedChange]:
        by_type: dict[int, list[Row[Any]]] = {}
        for key, row in found:
            if row is not None:
                by_type.setdefault(key.record_type, []).append(row)
        encoded: dict[int, Iterator[bytes]] = {
            code: iter(await self.types[code].encode(rows)) for code, rows in by_type.items()
        }
        changes: list[FeedChange] = []
        for key, row in found:
            synced = self.types.get(key.record_type)
            name = synced.name if synced is not None else "unknown"
            if row is None:
                changes.append(FeedChange("delete", name, key.record_id, None, None))
            else:
                changes.append(
                    FeedChange("put", name, key.record_id, int(row.version), next(encoded[key.record_type]))
                )
        return changes


def _uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
