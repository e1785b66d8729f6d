"""The change feed: every synced record type and its tombstones, merged in one order and
read in pages that never pass a change that may still commit."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import ColumnElement, Row, Select, Table, and_, literal, or_, select, tuple_, union_all
from sqlalchemy.ext.asyncio import AsyncConnection

from server.sync.cursor import Cursor, FeedKey
from server.sync.positions import read_watermark
from server.sync.scope import Scope
from server.sync.tables import sync_tombstones

DELETE, PUT = 0, 1

Loader = Callable[[Sequence[Row[Any]]], Awaitable[list[dict[str, Any]]]]


@dataclass(frozen=True)
class SyncedType:
    """A record type devices hold.  Its table has ``id``, ``bucket`` and ``position``
    columns; ``load`` turns full rows into the data a device receives."""

    name: str
    code: int
    table: Table
    load: Loader


@dataclass(frozen=True)
class FeedChange:
    op: Literal["put", "delete"]
    type: str
    id: uuid.UUID
    version: int | None
    data: dict[str, Any] | None


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
    # Same type: a put sorts after a deletion of the same record at the same position.
    id_condition = table.c.id >= after.record_id if after.kind == DELETE else table.c.id > after.record_id
    return or_(column > after.position, and_(column == after.position, id_condition))


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

    def _keys(self, scope: Scope, cursor: Cursor, watermark: int, limit: int) -> Select[Any]:
        parts: list[Select[Any]] = []
        for synced in self.types.values():
            table = synced.table
            conditions = [
                table.c.position < watermark,
                _after_records(table, synced.code, cursor.after, cursor.position),
            ]
            if scope.buckets is not None:
                conditions.append(table.c.bucket.in_(sorted(scope.buckets)))
            parts.append(
                select(
                    table.c.position.label("position"),
                    literal(synced.code).label("record_type"),
                    table.c.id.label("record_id"),
                    literal(PUT).label("kind"),
                ).where(*conditions)
            )
        t = sync_tombstones.c
        tombstone_conditions = [t.position < watermark, _after_tombstones(cursor.after, cursor.position)]
        if scope.buckets is not None:
            tombstone_conditions.append(t.bucket.in_(sorted(scope.buckets)))
        parts.append(
            select(
                t.position.label("position"),
                t.record_type.label("record_type"),
                t.record_id.label("record_id"),
                literal(DELETE).label("kind"),
            ).where(*tombstone_conditions)
        )
        merged = union_all(*parts).subquery("feed")
        return (
            select(merged.c.position, merged.c.record_type, merged.c.record_id, merged.c.kind)
            .order_by(merged.c.position, merged.c.record_type, merged.c.record_id, merged.c.kind)
            .limit(limit)
        )

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
        rows = (await connection.execute(self._keys(scope, cursor, watermark, limit))).all()
        keys = [
            FeedKey(int(row.position), int(row.record_type), _uuid(row.record_id), int(row.kind))
            for row in rows
        ]
        changes = await self._materialise(connection, keys)
        if len(keys) == limit:
            next_cursor = Cursor(scope.key, keys[-1].position, after=keys[-1])
            return FeedPage(changes, next_cursor, has_more=True, reset=reset, watermark=watermark)
        return FeedPage(
            changes, Cursor(scope.key, watermark), has_more=False, reset=reset, watermark=watermark
        )

    async def pending(self, connection: AsyncConnection, scope: Scope, cursor: Cursor) -> bool:
        """Whether any change after ``cursor`` is visible at all, even one not yet below the
        watermark because an older transaction is still open."""
        if scope.buckets is not None and not scope.buckets:
            return False
        query = self._keys(scope, cursor, 2**63 - 1, 1)
        return (await connection.execute(query)).first() is not None

    async def _materialise(self, connection: AsyncConnection, keys: list[FeedKey]) -> list[FeedChange]:
        wanted: dict[int, list[uuid.UUID]] = {}
        for key in keys:
            if key.kind == PUT:
                wanted.setdefault(key.record_type, []).append(key.record_id)
        loaded: dict[tuple[int, uuid.UUID], tuple[int, dict[str, Any]]] = {}
        for code, ids in wanted.items():
            synced = self.types[code]
            rows = (await connection.execute(select(synced.table).where(synced.table.c.id.in_(ids)))).all()
            for row, data in zip(rows, await synced.load(rows), strict=True):
                loaded[(code, row.id)] = (int(row.version), data)
        changes: list[FeedChange] = []
        for key in keys:
            name = self.types[key.record_type].name if key.record_type in self.types else "unknown"
            if key.kind == DELETE:
                changes.append(FeedChange("delete", name, key.record_id, None, None))
            else:
                version, data = loaded[(key.record_type, key.record_id)]
                changes.append(FeedChange("put", name, key.record_id, version, data))
        return changes


def _uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
