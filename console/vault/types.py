"""Column types for vault tables: timezone-aware UTC times and UUIDs stored as text."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[dt.datetime]):
    """ISO 8601 text in UTC (``2025-01-31T08:15:00.123456+00:00``), which sorts in time
    order.  Naive times are refused."""

    impl = String(32)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("vault times are timezone-aware")
        return value.astimezone(dt.UTC).isoformat(timespec="microseconds")

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return dt.datetime.fromisoformat(str(value)).astimezone(dt.UTC)


class TextUUID(TypeDecorator[uuid.UUID]):
    impl = String(36)
    cache_ok = True

    def process_bind_param(self, value: uuid.UUID | None, dialect: Dialect) -> str | None:
        return None if value is None else str(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> uuid.UUID | None:
        return None if value is None else uuid.UUID(str(value))
