"""The console's JSON-lines log keeps to its allowed fields."""

from __future__ import annotations

import json
import logging

from console.logs import LogSession, fields


def test_records_are_json_lines_with_only_allowed_fields(tmp_path):
    session = LogSession(tmp_path)
    logger = logging.getLogger("kluis.console.test")
    logger.info("server changed", extra=fields(server="https://localhost:8443", password="hunter2"))
    try:
        raise PermissionError("customer 8001015009087")
    except PermissionError:
        logger.exception("it failed")
    session.close()
    session.close()
    first, second = (json.loads(line) for line in session.path.read_text().splitlines())
    assert first["event"] == "server changed"
    assert first["server"] == "https://localhost:8443"
    assert first["dropped_fields"] == ["password"]
    assert first["time"].endswith("+00:00")
    assert second["exception"] == "PermissionError"
    assert second["frames"]
    text = session.path.read_text()
    assert "hunter2" not in text
    assert "8001015009087" not in text


def test_closing_restores_the_logger(tmp_path):
    logger = logging.getLogger("kluis.console")
    before = (logger.level, logger.propagate, list(logger.handlers))
    LogSession(tmp_path).close()
    assert (logger.level, logger.propagate, list(logger.handlers)) == before
