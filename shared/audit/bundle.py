"""Evidence bundles: everything an auditor needs to check part of the audit log offline.

A bundle is one JSON object (docs/audit-log.md shows one in full)::

    format        "kluis-audit-bundle/1"
    origin        the log's origin, which its checkpoints name
    log_key       the log's note verifier key (pin your own copy: see kluis-verify --log-key)
    checkpoint    the signed checkpoint everything is checked against (signed-note text)
    exported_at   when the server made the bundle
    scope         {"kind": "range", "start": S, "end": E}
                  | {"kind": "object", "object_type": T, "object_id": I}
                  | {"kind": "actor", "actor": U}
    pruned_below  the log's minimum index when exported: entries below it are gone
    server_keys   [{"key_id", "public_key"}]  keys that signed server events
    device_keys   [{"device_id", "user_id", "public_key", "enrolled_at", "revoked_at"}]
    prefix        range only: hashes of the subtrees covering [0, S), largest first
    range_proof   range only: consistency proof from tree size E to the checkpoint's size
    previous      null, or {"size": N, "checkpoint": note or null, "proof": [...]}: the
                  consistency proof from an earlier tree size N to the checkpoint's
    entries       [{"index", "entry", "leaf_hash", "event", "salt", "signature", "erased",
                    "inclusion"}]

Hashes, keys, entries, salts and signatures are base64url without padding.  ``event`` is the
event's JSON object (its canonical bytes are what was signed), or null when erased.

Loading checks the bundle's outer shape and raises :class:`BundleError`; each entry is left
for :mod:`shared.audit.verify` to judge, so that a bad entry is reported by its index instead
of stopping the check.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from shared.audit.codec import FormatError, b64url_decode, b64url_encode, format_time, parse_time

__all__ = [
    "BUNDLE_FORMAT",
    "MAX_BUNDLE_ENTRIES",
    "Bundle",
    "BundleError",
    "BundleScope",
    "DeviceKey",
    "PreviousCheckpoint",
    "load_bundle",
]

BUNDLE_FORMAT: Final = "kluis-audit-bundle/1"
MAX_BUNDLE_ENTRIES: Final = 100_000
"""The most entries one bundle holds, wherever it is made; longer ranges go in pieces."""
_TOP: Final = frozenset(
    {
        "format",
        "origin",
        "log_key",
        "checkpoint",
        "exported_at",
        "scope",
        "pruned_below",
        "server_keys",
        "device_keys",
        "prefix",
        "range_proof",
        "previous",
        "entries",
    }
)


class BundleError(ValueError):
    """The bundle as a whole is unreadable; the message says where."""


@dataclass(frozen=True)
class BundleScope:
    kind: str
    start: int = 0
    end: int = 0
    object_type: str | None = None
    object_id: str | None = None
    actor: uuid.UUID | None = None

    def to_value(self) -> dict[str, Any]:
        if self.kind == "range":
            return {"kind": "range", "start": self.start, "end": self.end}
        if self.kind == "object":
            return {"kind": "object", "object_type": self.object_type, "object_id": self.object_id}
        return {"kind": "actor", "actor": str(self.actor)}

    def describe(self) -> str:
        if self.kind == "range":
            return f"entries {self.start} to {self.end - 1}" if self.end > self.start else "no entries"
        if self.kind == "object":
            return f"the trail of {self.object_type} {self.object_id}"
        return f"the trail of actor {self.actor}"


@dataclass(frozen=True)
class DeviceKey:
    device_id: uuid.UUID
    user_id: uuid.UUID
    public_key: bytes
    enrolled_at: dt.datetime
    revoked_at: dt.datetime | None

    def to_value(self) -> dict[str, Any]:
        return {
            "device_id": str(self.device_id),
            "user_id": str(self.user_id),
            "public_key": b64url_encode(self.public_key),
            "enrolled_at": format_time(self.enrolled_at),
            "revoked_at": format_time(self.revoked_at) if self.revoked_at else None,
        }


@dataclass(frozen=True)
class PreviousCheckpoint:
    size: int
    checkpoint: bytes | None
    proof: tuple[bytes, ...]

    def to_value(self) -> dict[str, Any]:
        return {
            "size": self.size,
            "checkpoint": self.checkpoint.decode() if self.checkpoint is not None else None,
            "proof": [b64url_encode(value) for value in self.proof],
        }


@dataclass(frozen=True)
class Bundle:
    origin: str
    log_key: str
    checkpoint: bytes
    exported_at: dt.datetime
    scope: BundleScope
    pruned_below: int
    server_keys: Mapping[str, bytes]
    device_keys: Mapping[uuid.UUID, DeviceKey]
    prefix: tuple[bytes, ...]
    range_proof: tuple[bytes, ...]
    previous: PreviousCheckpoint | None
    entries: Sequence[Mapping[str, Any]]

    def to_value(self) -> dict[str, Any]:
        """The bundle as JSON holds it (what :func:`load_bundle` reads back)."""
        return {
            "format": BUNDLE_FORMAT,
            "origin": self.origin,
            "log_key": self.log_key,
            "checkpoint": self.checkpoint.decode(),
            "exported_at": format_time(self.exported_at),
            "scope": self.scope.to_value(),
            "pruned_below": self.pruned_below,
            "server_keys": [
                {"key_id": kid, "public_key": b64url_encode(key)}
                for kid, key in sorted(self.server_keys.items())
            ],
            "device_keys": [key.to_value() for key in self.device_keys.values()],
            "prefix": [b64url_encode(value) for value in self.prefix],
            "range_proof": [b64url_encode(value) for value in self.range_proof],
            "previous": self.previous.to_value() if self.previous is not None else None,
            "entries": list(self.entries),
        }


def _int(value: object, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise BundleError(f"{where} must be a non-negative integer")
    return value


def _str(value: object, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise BundleError(f"{where} must be a non-empty string")
    return value


def _list(value: object, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise BundleError(f"{where} must be a list")
    return value


def _hashes(value: object, where: str) -> tuple[bytes, ...]:
    try:
        return tuple(b64url_decode(item, f"{where}[{n}]", 32) for n, item in enumerate(_list(value, where)))
    except FormatError as exc:
        raise BundleError(str(exc)) from None


def _uuid(value: object, where: str) -> uuid.UUID:
    try:
        return uuid.UUID(_str(value, where))
    except ValueError:
        raise BundleError(f"{where} must be a UUID") from None


def _scope(value: object) -> BundleScope:
    if not isinstance(value, dict):
        raise BundleError("scope must be an object")
    kind = value.get("kind")
    if kind == "range" and set(value) == {"kind", "start", "end"}:
        start, end = _int(value["start"], "scope.start"), _int(value["end"], "scope.end")
        if end < start:
            raise BundleError("scope.end is before scope.start")
        return BundleScope("range", start=start, end=end)
    if kind == "object" and set(value) == {"kind", "object_type", "object_id"}:
        return BundleScope(
            "object",
            object_type=_str(value["object_type"], "scope.object_type"),
            object_id=_str(value["object_id"], "scope.object_id"),
        )
    if kind == "actor" and set(value) == {"kind", "actor"}:
        return BundleScope("actor", actor=_uuid(value["actor"], "scope.actor"))
    raise BundleError("scope must be a range, object or actor scope with exactly its members")


def _device_keys(value: object) -> dict[uuid.UUID, DeviceKey]:
    keys: dict[uuid.UUID, DeviceKey] = {}
    for n, item in enumerate(_list(value, "device_keys")):
        where = f"device_keys[{n}]"
        if not isinstance(item, dict) or set(item) != {
            "device_id",
            "user_id",
            "public_key",
            "enrolled_at",
            "revoked_at",
        }:
            raise BundleError(f"{where} must have device_id, user_id, public_key, enrolled_at, revoked_at")
        try:
            key = DeviceKey(
                device_id=_uuid(item["device_id"], f"{where}.device_id"),
                user_id=_uuid(item["user_id"], f"{where}.user_id"),
                public_key=b64url_decode(item["public_key"], f"{where}.public_key", 32),
                enrolled_at=parse_time(item["enrolled_at"], f"{where}.enrolled_at"),
                revoked_at=None
                if item["revoked_at"] is None
                else parse_time(item["revoked_at"], f"{where}.revoked_at"),
            )
        except FormatError as exc:
            raise BundleError(str(exc)) from None
        if key.device_id in keys:
            raise BundleError(f"{where} repeats device {key.device_id}")
        keys[key.device_id] = key
    return keys


def _server_keys(value: object) -> dict[str, bytes]:
    keys: dict[str, bytes] = {}
    for n, item in enumerate(_list(value, "server_keys")):
        where = f"server_keys[{n}]"
        if not isinstance(item, dict) or set(item) != {"key_id", "public_key"}:
            raise BundleError(f"{where} must have key_id and public_key")
        try:
            keys[_str(item["key_id"], f"{where}.key_id")] = b64url_decode(
                item["public_key"], f"{where}.public_key", 32
            )
        except FormatError as exc:
            raise BundleError(str(exc)) from None
    return keys


def _previous(value: object) -> PreviousCheckpoint | None:
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) != {"size", "checkpoint", "proof"}:
        raise BundleError("previous must be null or have size, checkpoint and proof")
    note = value["checkpoint"]
    return PreviousCheckpoint(
        size=_int(value["size"], "previous.size"),
        checkpoint=None if note is None else _str(note, "previous.checkpoint").encode(),
        proof=_hashes(value["proof"], "previous.proof"),
    )


def load_bundle(data: bytes) -> Bundle:
    try:
        value: Any = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BundleError(f"the bundle is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise BundleError("the bundle must be a JSON object")
    if value.get("format") != BUNDLE_FORMAT:
        raise BundleError(f"the bundle's format must be {BUNDLE_FORMAT}")
    if set(value) != _TOP:
        missing, extra = sorted(_TOP - set(value)), sorted(set(value) - _TOP)
        raise BundleError(f"the bundle's members are wrong: missing {missing}, unexpected {extra}")
    entries = _list(value["entries"], "entries")
    for n, item in enumerate(entries):
        if not isinstance(item, dict):
            raise BundleError(f"entries[{n}] must be an object")
    try:
        exported_at = parse_time(value["exported_at"], "exported_at")
    except FormatError as exc:
        raise BundleError(str(exc)) from None
    return Bundle(
        origin=_str(value["origin"], "origin"),
        log_key=_str(value["log_key"], "log_key"),
        checkpoint=_str(value["checkpoint"], "checkpoint").encode(),
        exported_at=exported_at,
        scope=_scope(value["scope"]),
        pruned_below=_int(value["pruned_below"], "pruned_below"),
        server_keys=_server_keys(value["server_keys"]),
        device_keys=_device_keys(value["device_keys"]),
        prefix=_hashes(value["prefix"], "prefix"),
        range_proof=_hashes(value["range_proof"], "range_proof"),
        previous=_previous(value["previous"]),
        entries=entries,
    )
