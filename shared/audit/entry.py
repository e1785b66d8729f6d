"""Log entries: what the Merkle tree's leaves are made of.

An entry commits to one signed event without revealing it::

    commitment = SHA-256("kluis-audit-commitment/1" || 0x00 || salt (32) || signature (64) || event bytes)

and carries the few non-personal facts needed to check the log offline even once the event
and its salt are erased: its position (``index``), the event id, when the server received it,
the event's retention class and who signed it.  The entry's bytes are the canonical JSON of
those seven members; the leaf hash is ``SHA-256(0x00 || entry bytes)`` (RFC 6962).

Because the salt is 32 random bytes, an erased event cannot be recovered by guessing it and
hashing: the commitment reveals nothing, yet every leaf, proof and checkpoint stays valid.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
import secrets
import uuid
from dataclasses import dataclass
from typing import Any, Final

from shared.audit.codec import FormatError, format_time, parse_time
from shared.audit.event import EventClass, SignedEvent

__all__ = [
    "ENTRY_FORMAT",
    "MAX_INDEX",
    "SALT_SIZE",
    "LogEntry",
    "commitment",
    "entry_bytes",
    "entry_for",
    "new_salt",
    "new_salts",
    "parse_entry",
]

ENTRY_FORMAT: Final = "kluis-audit-entry/1"
SALT_SIZE: Final = 32
MAX_INDEX: Final = 2**53 - 1
_COMMITMENT_LABEL: Final = b"kluis-audit-commitment/1\x00"
_HEX64: Final = re.compile(r"[0-9a-f]{64}\Z")
_UUID: Final = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")
_SIGNER: Final = re.compile(
    r"(?:device:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|server:[0-9a-f]{16})\Z"
)
_MEMBERS: Final = frozenset({"class", "commitment", "event_id", "format", "index", "received_at", "signer"})
_CLASSES: Final = frozenset(value.value for value in EventClass)


def new_salt() -> bytes:
    return secrets.token_bytes(SALT_SIZE)


def new_salts(count: int) -> list[bytes]:
    """``count`` salts from one read of the system's random source."""
    pool = secrets.token_bytes(SALT_SIZE * count)
    return [pool[start : start + SALT_SIZE] for start in range(0, len(pool), SALT_SIZE)]


def commitment(salt: bytes, signature: bytes, event_bytes: bytes) -> bytes:
    if len(salt) != SALT_SIZE or len(signature) != 64:
        raise ValueError("the salt is 32 bytes and the signature 64")
    hasher = hashlib.sha256(_COMMITMENT_LABEL)
    hasher.update(salt)
    hasher.update(signature)
    hasher.update(event_bytes)
    return hasher.digest()


def entry_bytes(
    event_class: str, committed: bytes, event_id: uuid.UUID | str, index: int, received_at: str, signer: str
) -> bytes:
    """An entry's canonical bytes from its parts (``received_at`` already formatted, the
    event id a UUID or as the event spells it), for appenders that write many entries
    received at one moment."""
    return (
        f'{{"class":"{event_class}","commitment":"{committed.hex()}",'
        f'"event_id":"{event_id}","format":"{ENTRY_FORMAT}","index":{index},'
        f'"received_at":"{received_at}","signer":"{signer}"}}'
    ).encode()


@dataclass(frozen=True, slots=True)
class LogEntry:
    index: int
    event_id: uuid.UUID
    received_at: dt.datetime
    event_class: str
    signer: str
    commitment: bytes

    def __post_init__(self) -> None:
        if (
            not isinstance(self.index, int)
            or isinstance(self.index, bool)
            or not 0 <= self.index <= MAX_INDEX
        ):
            raise FormatError("index", f"must be an integer in 0..{MAX_INDEX}")
        if self.event_class not in _CLASSES:
            raise FormatError("class", "is not a known event class")
        if not isinstance(self.signer, str) or not _SIGNER.match(self.signer):
            raise FormatError("signer", "must be device:<device id> or server:<key id>")
        if not isinstance(self.commitment, bytes) or len(self.commitment) != 32:
            raise FormatError("commitment", "must be 32 bytes")
        if self.received_at.tzinfo is None:
            raise FormatError("received_at", "must be timezone-aware")

    def to_bytes(self) -> bytes:
        return entry_bytes(
            self.event_class,
            self.commitment,
            self.event_id,
            self.index,
            format_time(self.received_at),
            self.signer,
        )

    def commits_to(self, salt: bytes, signature: bytes, event_bytes: bytes) -> bool:
        return hmac.compare_digest(self.commitment, commitment(salt, signature, event_bytes))


def entry_for(signed: SignedEvent, salt: bytes, index: int, received_at: dt.datetime) -> LogEntry:
    event = signed.event
    return LogEntry(
        index=index,
        event_id=event.event_id,
        received_at=received_at,
        event_class=event.event_class.value,
        signer=event.signer,
        commitment=commitment(salt, signed.signature, signed.data),
    )


def parse_entry(data: bytes) -> LogEntry:
    """An entry from its bytes, which must be exactly its canonical form."""
    if len(data) > 1024:
        raise FormatError("entry", "is longer than any entry can be")
    try:
        value: Any = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise FormatError("entry", "is not JSON") from None
    if not isinstance(value, dict) or set(value) != _MEMBERS:
        raise FormatError("entry", f"must be an object with exactly the members {sorted(_MEMBERS)}")
    if value["format"] != ENTRY_FORMAT:
        raise FormatError("format", f"must be {ENTRY_FORMAT}")
    if not isinstance(value["commitment"], str) or not _HEX64.match(value["commitment"]):
        raise FormatError("commitment", "must be 64 lower-case hex digits")
    if not isinstance(value["event_id"], str) or not _UUID.match(value["event_id"]):
        raise FormatError("event_id", "must be a lower-case UUID")
    entry = LogEntry(
        index=value["index"],
        event_id=uuid.UUID(value["event_id"]),
        received_at=parse_time(value["received_at"], "received_at"),
        event_class=value["class"],
        signer=value["signer"],
        commitment=bytes.fromhex(value["commitment"]),
    )
    if entry.to_bytes() != data:
        raise FormatError("entry", "is not in canonical form")
    return entry
