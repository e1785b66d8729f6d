"""Sync positions: where a write lands in the change feed, and how far a reader may go.

On PostgreSQL a write's position is its transaction id, and a reader may go up to (not
including) the oldest transaction still running, ``pg_snapshot_xmin``: concurrent
transactions commit out of order, so any number at or above that may yet commit, and a
cursor moved past it would skip that change for ever.  On SQLite writers are serialised
(BEGIN IMMEDIATE), so a counter bumped once per write transaction gives positions in
commit order, and a reader may go up to the last committed one."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

_PG_POSITION = text("SELECT pg_current_xact_id()::text::bigint")
_PG_WATERMARK = text("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
_SQLITE_BUMP = text("UPDATE sync_counter SET value = value + 1 WHERE id = 1 RETURNING value")
_SQLITE_WATERMARK = text("SELECT value + 1 FROM sync_counter WHERE id = 1")


async def write_position(connection: AsyncConnection) -> int:
    """The position of what this transaction writes.  Ask once per transaction: on SQLite
    each call takes a new number (harmless, but wasteful)."""
    query = _PG_POSITION if connection.dialect.name == "postgresql" else _SQLITE_BUMP
    return int((await connection.execute(query)).scalar_one())


async def read_watermark(connection: AsyncConnection) -> int:
    """Every change at a position below this is committed and visible to this transaction."""
    query = _PG_WATERMARK if connection.dialect.name == "postgresql" else _SQLITE_WATERMARK
    return int((await connection.execute(query)).scalar_one())
