"""Small statements that differ between SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection


async def insert_if_absent(connection: AsyncConnection, table: Table, values: dict[str, Any]) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING; whether a row was inserted.  Told by RETURNING, not
    by the row count, which psycopg reports as -1 for this statement."""
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement: Any = dialect.insert(table).values(values).on_conflict_do_nothing()
    key = next(iter(table.primary_key.columns))
    result = await connection.execute(statement.returning(key))
    return result.first() is not None
