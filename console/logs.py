"""The console's log: JSON lines in the profile's ``logs`` directory, written by a
background thread so that logging never blocks the GUI.

Records carry an event name and only the fields named in :data:`ALLOWED_FIELDS`;
exceptions are written as their type and stack frames, never their message, because a
message may quote the personal information or secret it failed on."""

from __future__ import annotations

import datetime as dt
import json
import logging
import logging.handlers
import queue
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from console.files import ensure_private_directory

LOG_DIRECTORY = "logs"
LOG_FILE = "console.jsonl"
LOG_BYTES = 5 * 1024 * 1024
LOG_BACKUPS = 3
ROOT_LOGGER = "kluis.console"

ALLOWED_FIELDS = frozenset(
    {"server", "fingerprint", "previous_fingerprint", "version", "where", "count", "path", "reason", "status"}
)


def fields(**values: Any) -> dict[str, Any]:
    """``extra=`` for a log call: ``logger.info("event", extra=fields(server=...))``."""
    return {"fields": values}


def exception_frames(error: BaseException) -> list[str]:
    return [
        f"{frame.filename}:{frame.lineno} in {frame.name}"
        for frame in traceback.extract_tb(error.__traceback__)
    ]


class JsonLinesFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "event": record.getMessage(),
        }
        extra = getattr(record, "fields", None)
        if isinstance(extra, Mapping):
            payload.update({name: value for name, value in extra.items() if name in ALLOWED_FIELDS})
            dropped = sorted(str(name) for name in extra if name not in ALLOWED_FIELDS)
            if dropped:
                payload["dropped_fields"] = dropped
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            payload["exception"] = type(error).__qualname__
            payload["frames"] = exception_frames(error)
        return json.dumps(payload, default=str, ensure_ascii=False)


class LogSession:
    """Logging to the profile for one run; :meth:`close` flushes and stops the writer."""

    def __init__(self, profile_dir: Path, level: int = logging.INFO) -> None:
        directory = profile_dir / LOG_DIRECTORY
        ensure_private_directory(directory)
        self.path = directory / LOG_FILE
        file_handler = logging.handlers.RotatingFileHandler(
            self.path, maxBytes=LOG_BYTES, backupCount=LOG_BACKUPS, encoding="utf-8"
        )
        # Records are turned into JSON lines on the thread that logs them (the queue handler
        # would otherwise flatten them into text with the exception message), and the
        # writer thread only appends the finished lines.
        file_handler.setFormatter(logging.Formatter("%(message)s"))
        records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        self._queue_handler = logging.handlers.QueueHandler(records)
        self._queue_handler.setFormatter(JsonLinesFormatter())
        self._file_handler = file_handler
        self._listener = logging.handlers.QueueListener(records, file_handler)
        self._logger = logging.getLogger(ROOT_LOGGER)
        self._previous = (self._logger.level, self._logger.propagate)
        self._logger.setLevel(level)
        # Only this formatter may write the console's records; a handler someone adds to
        # the root logger would print exception messages.
        self._logger.propagate = False
        self._logger.addHandler(self._queue_handler)
        self._listener.start()
        self._open = True

    def close(self) -> None:
        if not self._open:
            return
        self._open = False
        self._logger.removeHandler(self._queue_handler)
        self._logger.setLevel(self._previous[0])
        self._logger.propagate = self._previous[1]
        self._listener.stop()
        self._file_handler.close()
