"""Small encodings the audit formats share: base64url without padding, and UTC times with
microseconds in one fixed spelling."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from typing import Final

__all__ = ["FormatError", "b64url_decode", "b64url_encode", "format_time", "parse_time"]

_BASE64URL: Final = re.compile(r"[A-Za-z0-9_-]*\Z")
_URL_TO_STANDARD: Final = bytes.maketrans(b"-_", b"+/")
# The last character of a canonical spelling leaves its unused low bits zero: of the 6 bits
# it carries, 4 are unused after two full groups' remainder of 1 byte, 2 after 2 bytes.
_CANONICAL_LAST: Final = {2: frozenset("AQgw"), 3: frozenset("AEIMQUYcgkosw048")}
_TIME: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z\Z")


class FormatError(ValueError):
    """Bytes or a value are not in the documented audit format; ``where`` names the field."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}")
        self.where = where
        self.reason = reason


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str, where: str, size: int | None = None) -> bytes:
    """Strict base64url without padding, optionally of exactly *size* bytes.  Only the one
    canonical spelling of the bytes is accepted (unused trailing bits zero), so that an
    encoded value cannot be varied without changing what it decodes to."""
    if not isinstance(text, str) or not _BASE64URL.match(text) or len(text) % 4 == 1:
        raise FormatError(where, "is not base64url without padding")
    tail = len(text) % 4
    if tail and text[-1] not in _CANONICAL_LAST[tail]:
        raise FormatError(where, "is not the canonical base64url spelling")
    data = binascii.a2b_base64(text.encode("ascii").translate(_URL_TO_STANDARD) + b"=" * (-tail % 4))
    if size is not None and len(data) != size:
        raise FormatError(where, f"must encode {size} bytes, not {len(data)}")
    return data


def format_time(moment: dt.datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS.ffffffZ``; the time must be timezone-aware."""
    if moment.tzinfo is None:
        raise ValueError("a naive datetime cannot be written as UTC")
    utc = moment if moment.tzinfo is dt.UTC else moment.astimezone(dt.UTC)
    return utc.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse_time(text: object, where: str) -> dt.datetime:
    if not isinstance(text, str) or not _TIME.match(text):
        raise FormatError(where, "must be a UTC time written YYYY-MM-DDTHH:MM:SS.ffffffZ")
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        raise FormatError(where, "is not a real date and time") from None
