"""Logs are JSON lines that carry only named fields, and exceptions without their messages."""

from __future__ import annotations

import io
import json
import logging

from server.logs import JsonFormatter, configure_logging, fields


def record(message: str, **extra) -> logging.LogRecord:
    return logging.LogRecord("kluis.test", logging.INFO, __file__, 1, message, None, None, **extra)


def test_one_json_object_with_allowed_fields():
    line = JsonFormatter().format(
        logging.makeLogRecord(
            {"name": "kluis.test", "levelno": 20, "levelname": "INFO", "msg": "request", **fields(status=200)}
        )
    )
    payload = json.loads(line)
    assert payload["event"] == "request"
    assert payload["status"] == 200
    assert payload["level"] == "INFO"
    assert payload["time"].endswith("+00:00")
    assert "\n" not in line


def test_fields_not_on_the_allow_list_are_dropped_by_name():
    line = JsonFormatter().format(
        logging.makeLogRecord({"msg": "login", **fields(status=401, password="hunter2hunter2", body="{}")})
    )
    payload = json.loads(line)
    assert "hunter2hunter2" not in line
    assert payload["dropped_fields"] == ["body", "password"]


def test_exceptions_are_logged_without_their_message():
    stream = io.StringIO()
    configure_logging("INFO", stream)
    try:
        raise ValueError("customer ID 8001015009087 rejected")
    except ValueError:
        logging.getLogger("kluis.test").exception("handler failed")
    payload = json.loads(stream.getvalue().strip().splitlines()[-1])
    assert payload["exception"] == "ValueError"
    assert payload["frames"]
    assert "8001015009087" not in stream.getvalue()
