"""Reading UUID and UTC time columns as the driver hands them over, for the few hot paths
(a pull of a whole register) where SQLAlchemy's conversion of every value into a Python
object, only for it to be turned straight back into text, is most of the work.

SQLite's driver gives the stored text (32 hex digits; ``YYYY-MM-DD HH:MM:SS.ffffff`` naive
UTC); psycopg gives ``uuid.UUID`` and aware ``datetime`` objects.  The functions below
accept either and answer the text the API uses; :func:`rows_with_uuid_in` sends a batch of
UUIDs the other way, as one parameter."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, LargeBinary, String, type_coerce
from sqlalchemy.ext.asyncio import AsyncConnection


def unconverted(column: ColumnElement[Any]) -> ColumnElement[Any]:
    """``column`` selected with no result conversion (binary columns stay bytes)."""
    if isinstance(column.type, LargeBinary):
        return column
    return type_coerce(column, String()).label(column.key or "value")


def uuid_hex(value: Any) -> str:
    """The 32 lowercase hex digits of a UUID as either driver returns it."""
    if isinstance(value, uuid.UUID):
        return value.hex
    text = str(value)
    return text if len(text) == 32 else uuid.UUID(text).hex


def uuid_text(value: Any) -> str:
    """The canonical ``8-4-4-4-12`` form of a UUID as either driver returns it."""
    if isinstance(value, uuid.UUID):
        return str(value)
    text = str(value)
    if len(text) == 32:
        return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}".lower()
    return str(uuid.UUID(text))


def utc_iso(value: Any) -> str:
    """ISO 8601 with ``+00:00`` of a UTC time as either driver returns it (the same text as
    ``datetime.isoformat``, which leaves out a zero fraction)."""
    if isinstance(value, str) and len(value) == 26 and value[10] == " ":
        fraction = value[19:]
        return f"{value[:10]}T{value[11:19]}{'' if fraction == '.000000' else fraction}+00:00"
    moment = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).isoformat()


async def rows_with_uuid_in(
    connection: AsyncConnection, columns_from: str, column: str, hex_ids: Sequence[str]
) -> list[tuple[Any, ...]]:
    """The rows of ``SELECT {columns_from} WHERE {column}`` is one of ``hex_ids`` (32 hex
    digits each), as the driver gives them.  The ids are bound as one parameter: a
    PostgreSQL ``uuid[]``, or on SQLite (where a UUID column holds those digits) a JSON
    list.  As an expanding IN, SQLAlchemy named and converted every id, and each batch size
    made a statement of its own."""
    if connection.dialect.name == "postgresql":
        statement = f"SELECT {columns_from} WHERE {column} = ANY(%s::uuid[])"
        parameter: Any = list(hex_ids)
    else:
        statement = f"SELECT {columns_from} WHERE {column} IN (SELECT value FROM json_each(?))"  # noqa: S608 - as above
        parameter = json.dumps(list(hex_ids))
    result = await connection.exec_driver_sql(statement, (parameter,))
    return [tuple(row) for row in result]
