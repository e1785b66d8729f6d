"""Structured logs: one JSON object per line.

Only fields named in :data:`ALLOWED_FIELDS` are written, and an exception is logged as
its type and stack frames without its message: driver errors quote the values they
failed on, and those may be personal information or secrets."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
import traceback
from collections.abc import Mapping
from typing import Any, TextIO

ALLOWED_FIELDS = frozenset(
    {
        "request_id",
        "method",
        "route",
        "status",
        "duration_ms",
        "client",
        "listener",
        "address",
        "fingerprint",
        "database",
        "version",
        "reason",
        "count",
        "seconds",
        "signal",
        "user_id",
        "device_id",
        "event_id",
        "key_id",
        "revision",
        "outcome",
        "kind",
        "path",
        "session_id",
        "actor_id",
    }
)


def fields(**values: Any) -> dict[str, Any]:
    """``extra=`` for a log call: ``logger.info("started", extra=fields(address=...))``."""
    return {"fields": values}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "event": record.getMessage(),
        }
        extra = getattr(record, "fields", None)
        if isinstance(extra, Mapping):
            dropped = sorted(str(name) for name in extra if name not in ALLOWED_FIELDS)
            payload.update({name: value for name, value in extra.items() if name in ALLOWED_FIELDS})
            if dropped:
                payload["dropped_fields"] = dropped
        if record.exc_info and record.exc_info[0] is not None:
            kind, _, trace = record.exc_info
            payload["exception"] = kind.__qualname__
            payload["frames"] = [
                f"{frame.filename}:{frame.lineno} in {frame.name}" for frame in traceback.extract_tb(trace)
            ]
        return json.dumps(payload, default=str, ensure_ascii=False)


def configure_logging(level: str = "INFO", stream: TextIO | None = None) -> None:
    """Send every logger's records, as JSON lines, to ``stream`` (stderr by default)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
