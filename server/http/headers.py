"""Headers every response carries, and request ids."""

from __future__ import annotations

import itertools
import os
import re
import time
from email.utils import formatdate

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"strict-transport-security", b"max-age=63072000; includeSubDomains"),
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
    (b"referrer-policy", b"no-referrer"),
)

REQUEST_ID_HEADER = b"x-request-id"
_SAFE_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:\-]{1,128}")


# Request ids correlate log lines; they need to be unique, not unpredictable, so a random
# per-process prefix and a counter do (a system call per request showed in profiles).
_ID_PREFIX = os.urandom(6).hex()
_id_counter = itertools.count(1)


def request_id_from(value: bytes | None) -> str:
    """The client's ``X-Request-ID`` when it is short and harmless, else a fresh id."""
    if value is not None and _SAFE_REQUEST_ID.fullmatch(value):
        return value.decode("ascii")
    return f"{_ID_PREFIX}{next(_id_counter):012x}"


class HttpDate:
    """The ``Date`` header value, formatted at most once a second."""

    __slots__ = ("_second", "_value")

    def __init__(self) -> None:
        self._second = -1
        self._value = b""

    def now(self) -> bytes:
        second = int(time.time())
        if second != self._second:
            self._second = second
            self._value = formatdate(second, usegmt=True).encode("ascii")
        return self._value
