"""The change feed: every synced record type and its tombstones, merged in one order and
read in pages that never pass a change that may still commit."""

from __future__ import annotations

import heapq
import itertools
import json
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Literal, NamedTuple

from sqlalchemy import ColumnElement, Row, Select, Table, literal, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from server.db.raw import unconverted, uuid_text
from server.sync.cursor import Cursor, FeedKey
from server.sync.positions import read_watermark
from server.sync.scope import Scope
from server.sync.tables import sync_tombstones

DELETE, PUT = 0, 1

Encoder = Callable[[Sequence[Row[Any]]], Awaitable[list[bytes]]]
"""Given rows of (position, id, version, *columns), the JSON object a device receives for
each.  The id is as the driver gives it (see :mod:`server.db.raw`), not converted."""

SortKey = tuple[int, int, Any, int]
"""(position, type code, record id as the driver gives it, kind): the feed's order.  Within
one database the driver gives every id in one form (32 hex digits on SQLite, ``uuid.UUID``
on PostgreSQL), and both compare in the order the database sorts them."""


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


class FeedChange(NamedTuple):
    """One change as a device receives it.  A tuple, because a pull makes thousands."""

    op: Literal["put", "delete"]
    type: str
    record_id: str
    """The record's UUID in its canonical text form."""
    version: int | None
    encoded: bytes | None
    """The record's data as a JSON object (``None`` for a deletion)."""

    @property
    def id(self) -> uuid.UUID:
        return uuid.UUID(self.record_id)

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
        self._names = {synced.code: synced.name for synced in types}

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
            select(table.c.position, unconverted(table.c.id), table.c.version, *synced.columns)
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
            select(t.position, t.record_type, unconverted(t.record_id))
            .where(*conditions)
            .order_by(t.position, t.record_type, t.record_id)
            .limit(limit)
        )

    async def _next(
        self, connection: AsyncConnection, scope: Scope, cursor: Cursor, watermark: int, limit: int
    ) -> list[tuple[SortKey, Row[Any] | None]]:
        """The next ``limit`` changes in feed order: each type's and the tombstones' next
        ``limit`` in index order, merged."""
        streams: list[list[tuple[SortKey, Row[Any] | None]]] = []
        for code, synced in self.types.items():
            rows = (await connection.execute(self._records(synced, scope, cursor, watermark, limit))).all()
            streams.append([((row[0], code, row[1], PUT), row) for row in rows])
        tombstones = (await connection.execute(self._tombstones(scope, cursor, watermark, limit))).all()
        streams.append([((row[0], row[1], row[2], DELETE), None) for row in tombstones])
        streams = [stream for stream in streams if stream]
        if len(streams) == 1:
            return streams[0][:limit]
        return list(itertools.islice(heapq.merge(*streams, key=itemgetter(0)), limit))

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
            position, code, record_id, kind = found[-1][0]
            last = FeedKey(position, code, _uuid(record_id), kind)
            next_cursor = Cursor(scope.key, position, after=last)
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

    async def _encode(self, found: list[tuple[SortKey, Row[Any] | None]]) -> list[FeedChange]:
        by_type: dict[int, list[Row[Any]]] = {}
        for key, row in found:
            if row is not None:
                by_type.setdefault(key[1], []).append(row)
        encoded: dict[int, Iterator[bytes]] = {
            code: iter(await self.types[code].encode(rows)) for code, rows in by_type.items()
        }
        names = self._names
        changes: list[FeedChange] = []
        for (_, code, record_id, _), row in found:
            text_id = uuid_text(record_id)
            if row is None:
                changes.append(FeedChange("delete", names.get(code, "unknown"), text_id, None, None))
            else:
                changes.append(FeedChange("put", names[code], text_id, int(row.version), next(encoded[code])))
        return changes


def _uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
