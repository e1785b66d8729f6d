"""Audit events and the exact bytes their signers sign.

An event says who (actor, device, role) did what (action, outcome, reason) to which object
(type and pseudonymous id) for which purpose, when (on the signer's clock), and who signed
it: an enrolled device (``device:<device id>``) or the server (``server:<key id>``).  It
never holds personal information: identifiers are opaque ids, purposes and reasons are
codes, and there is no free text.

The signed bytes are the canonical JSON (RFC 8785, as :mod:`shared.canonical` writes it) of
the event's thirteen members, every one present, absent values as ``null``.  Every string an
event may hold is drawn from a small ASCII alphabet, so the canonical form is built here
directly in member order; a test checks it against :func:`shared.canonical.dumps_canonical`.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, cast

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared import crypto
from shared.audit.codec import FormatError, format_time, parse_time

__all__ = [
    "ACCESS_ACTIONS",
    "DEVICE_SECURITY_ACTIONS",
    "EVENT_FORMAT",
    "SECURITY_ACTIONS",
    "AuditEvent",
    "EventClass",
    "EventFields",
    "Outcome",
    "SignedEvent",
    "SignerKind",
    "event_class",
    "event_class_name",
    "event_fields",
    "event_from_value",
    "parse_event",
    "parse_event_and_fields",
    "server_signer",
    "sign_event",
    "verify_event_signature",
]

EVENT_FORMAT: Final = "kluis-audit-event/1"

ACCESS_ACTIONS: Final = frozenset({"open", "reveal", "search", "export", "create", "change", "delete"})
"""Processing of personal information (or of the audit log itself, for ``export``)."""

DEVICE_SECURITY_ACTIONS: Final = frozenset({"offline_unlock", "offline_unlock_failure", "lock"})
"""Security events only a console witnesses."""

SECURITY_ACTIONS: Final = DEVICE_SECURITY_ACTIONS | frozenset(
    {
        "sign_in",
        "sign_out",
        "lockout",
        "enrollment",
        "mfa_enrolled",
        "mfa_reset",
        "recovery_code_used",
        "recovery_codes_replaced",
        "password_changed",
        "token_reuse",
        "refresh",
        "device_enrolled",
        "device_revoked",
        "device_proof_failed",
        "user_created",
        "user_disabled",
        "user_enabled",
        "branch_created",
    }
)


_KNOWN_ACTIONS: Final = ACCESS_ACTIONS | SECURITY_ACTIONS
_DEVICE_ACTIONS: Final = ACCESS_ACTIONS | DEVICE_SECURITY_ACTIONS


class EventClass(StrEnum):
    """Retention classes: each can be kept for its own period."""

    ACCESS = "access"
    SECURITY = "security"


class Outcome(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    DENIED = "denied"


class SignerKind(StrEnum):
    DEVICE = "device"
    SERVER = "server"


_ROLE: Final = re.compile(r"[a-z][a-z_]{0,31}\Z")
_OBJECT_TYPE: Final = re.compile(r"[a-z][a-z0-9_]{0,31}\Z")
_OBJECT_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}\Z")
_NUMBER_LIKE: Final = re.compile(r"[0-9 +-]{6,}\Z")
_CODE: Final = re.compile(r"[a-z][a-z0-9_.-]{0,63}\Z")
_UUID: Final = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")
_KEY_ID: Final = re.compile(r"[0-9a-f]{16}\Z")
_MEMBERS: Final = (
    "action",
    "actor",
    "device",
    "event_id",
    "format",
    "object_id",
    "object_type",
    "occurred_at",
    "outcome",
    "purpose",
    "reason",
    "role",
    "signer",
)
_MEMBER_SET: Final = frozenset(_MEMBERS)
_OUTCOMES: Final = frozenset(outcome.value for outcome in Outcome)


_ACCESS_CLASS: Final = EventClass.ACCESS.value
_SECURITY_CLASS: Final = EventClass.SECURITY.value


def event_class_name(action: str) -> str:
    """The retention class of an action as the text an entry carries (what
    ``event_class(action).value`` is, without an enum lookup per event)."""
    return _ACCESS_CLASS if action in ACCESS_ACTIONS else _SECURITY_CLASS


def event_class(action: str) -> EventClass:
    return EventClass(event_class_name(action))


def server_signer(key_id: str) -> str:
    return f"server:{key_id}"


def _uuid(value: object, where: str) -> uuid.UUID:
    if not isinstance(value, str) or not _UUID.match(value):
        raise FormatError(where, "must be a lower-case UUID")
    return uuid.UUID(value)


def _optional(value: object, where: str, pattern: re.Pattern[str], what: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not pattern.match(value):
        raise FormatError(where, f"must be {what} or null")
    return value


def _quoted(value: str | None) -> str:
    return "null" if value is None else f'"{value}"'


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One audit event; construct it with keyword arguments and it checks itself."""

    event_id: uuid.UUID
    occurred_at: dt.datetime
    signer: str
    action: str
    outcome: str = Outcome.SUCCESS.value
    actor: uuid.UUID | None = None
    device: uuid.UUID | None = None
    role: str | None = None
    object_type: str | None = None
    object_id: str | None = None
    purpose: str | None = None
    reason: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.event_id, uuid.UUID):
            raise FormatError("event_id", "must be a UUID")
        if not isinstance(self.occurred_at, dt.datetime) or self.occurred_at.tzinfo is None:
            raise FormatError("occurred_at", "must be a timezone-aware time")
        if self.occurred_at.tzinfo is not dt.UTC:
            object.__setattr__(self, "occurred_at", self.occurred_at.astimezone(dt.UTC))
        kind, signer_id = self.signer_parts
        if self.action not in _KNOWN_ACTIONS:
            raise FormatError("action", "is not a known audit action")
        if kind is SignerKind.DEVICE:
            if self.action not in _DEVICE_ACTIONS:
                raise FormatError("action", "is recorded by the server, not by a device")
            if self.device is None or str(self.device) != signer_id:
                raise FormatError("device", "must be the signing device")
            if self.actor is None or self.role is None:
                raise FormatError("actor", "a device's event names its actor and role")
        if self.outcome not in _OUTCOMES:
            raise FormatError("outcome", "must be success, failure or denied")
        for name in ("actor", "device"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, uuid.UUID):
                raise FormatError(name, "must be a UUID or null")
        _optional(self.role, "role", _ROLE, "a role name")
        _optional(self.object_type, "object_type", _OBJECT_TYPE, "an object type code")
        _optional(self.object_id, "object_id", _OBJECT_ID, "a pseudonymous id")
        if self.object_id is not None and _NUMBER_LIKE.match(self.object_id):
            raise FormatError(
                "object_id", "looks like an ID, phone or account number; use the object's pseudonymous id"
            )
        if self.object_id is not None and self.object_type is None:
            raise FormatError("object_type", "an object id needs its object type")
        _optional(self.purpose, "purpose", _CODE, "a purpose code")
        _optional(self.reason, "reason", _CODE, "a reason code")
        if self.action in ACCESS_ACTIONS and self.object_type is None:
            raise FormatError("object_type", f"a {self.action} event names the object type it touched")
        if self.action in {"reveal", "export"} and self.purpose is None:
            raise FormatError("purpose", f"a {self.action} event states its purpose")

    @property
    def signer_parts(self) -> tuple[SignerKind, str]:
        kind, _, ident = self.signer.partition(":") if isinstance(self.signer, str) else ("", "", "")
        if kind == SignerKind.DEVICE and _UUID.match(ident):
            return SignerKind.DEVICE, ident
        if kind == SignerKind.SERVER and _KEY_ID.match(ident):
            return SignerKind.SERVER, ident
        raise FormatError("signer", "must be device:<device id> or server:<16 hex digit key id>")

    @property
    def signer_kind(self) -> SignerKind:
        return self.signer_parts[0]

    @property
    def event_class(self) -> EventClass:
        return event_class(self.action)

    def to_value(self) -> dict[str, str | None]:
        """The event as a JSON object (what :func:`event_from_value` reads)."""
        return {
            "action": self.action,
            "actor": str(self.actor) if self.actor else None,
            "device": str(self.device) if self.device else None,
            "event_id": str(self.event_id),
            "format": EVENT_FORMAT,
            "object_id": self.object_id,
            "object_type": self.object_type,
            "occurred_at": format_time(self.occurred_at),
            "outcome": self.outcome,
            "purpose": self.purpose,
            "reason": self.reason,
            "role": self.role,
            "signer": self.signer,
        }

    def to_bytes(self) -> bytes:
        """The canonical JSON bytes that are signed and committed to: the members of
        :meth:`to_value` in sorted order (``_MEMBERS``), no whitespace, every value an ASCII
        string without escapes or null.  One template, as this runs for every event."""
        actor, device = self.actor, self.device
        return (
            f'{{"action":"{self.action}",'
            f'"actor":{_quoted(str(actor) if actor else None)},'
            f'"device":{_quoted(str(device) if device else None)},'
            f'"event_id":"{self.event_id}","format":"{EVENT_FORMAT}",'
            f'"object_id":{_quoted(self.object_id)},"object_type":{_quoted(self.object_type)},'
            f'"occurred_at":"{format_time(self.occurred_at)}","outcome":"{self.outcome}",'
            f'"purpose":{_quoted(self.purpose)},"reason":{_quoted(self.reason)},'
            f'"role":{_quoted(self.role)},"signer":"{self.signer}"}}'
        ).encode()


def event_from_value(value: object) -> AuditEvent:
    """An event from its JSON object, refusing missing, extra or ill-formed members."""
    if not isinstance(value, dict):
        raise FormatError("event", "must be a JSON object")
    keys = set(value)
    if keys != _MEMBER_SET:
        missing, extra = sorted(_MEMBER_SET - keys), sorted(keys - _MEMBER_SET)
        raise FormatError("event", f"members missing {missing} or unexpected {extra}")
    if value["format"] != EVENT_FORMAT:
        raise FormatError("format", f"must be {EVENT_FORMAT}")
    for name in ("action", "outcome", "signer"):
        if not isinstance(value[name], str):
            raise FormatError(name, "must be a string")
    return AuditEvent(
        event_id=_uuid(value["event_id"], "event_id"),
        occurred_at=parse_time(value["occurred_at"], "occurred_at"),
        signer=value["signer"],
        action=value["action"],
        outcome=value["outcome"],
        actor=None if value["actor"] is None else _uuid(value["actor"], "actor"),
        device=None if value["device"] is None else _uuid(value["device"], "device"),
        # The event checks these itself, with the same rules and messages.
        role=value["role"],
        object_type=value["object_type"],
        object_id=value["object_id"],
        purpose=value["purpose"],
        reason=value["reason"],
    )


def _member(name: bytes, pattern: bytes) -> bytes:
    return b'"' + name + b'":(?:"(?P<' + name + b">" + pattern + b')"|null)'


_UUID_BYTES: Final = rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_CODE_BYTES: Final = rb"[a-z][a-z0-9_.-]{0,63}"
_CANONICAL_PATTERN: Final = (
    rb'\{"action":"(?P<action>[a-z][a-z_]{0,31})",'
    + _member(b"actor", _UUID_BYTES)
    + b","
    + _member(b"device", _UUID_BYTES)
    + rb',"event_id":"(?P<event_id>'
    + _UUID_BYTES
    + rb')","format":"'
    + EVENT_FORMAT.encode()
    + b'",'
    + _member(b"object_id", rb"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
    + b","
    + _member(b"object_type", rb"[a-z][a-z0-9_]{0,31}")
    + rb',"occurred_at":"(?P<occurred_at>[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z)",'
    + rb'"outcome":"(?P<outcome>[a-z]{1,16})",'
    + _member(b"purpose", _CODE_BYTES)
    + b","
    + _member(b"reason", _CODE_BYTES)
    + b","
    + _member(b"role", rb"[a-z][a-z_]{0,31}")
    + rb',"signer":"(?P<signer>device:'
    + _UUID_BYTES
    + rb"|server:[0-9a-f]{16})"
    + rb'"\}\Z'
)
_CANONICAL_TEXT: Final = re.compile(_CANONICAL_PATTERN.decode("ascii"), re.ASCII)
"""The canonical form of an event, every value in its member's alphabet, matched against
the event's bytes decoded as ASCII.  What it matches is canonical by construction (fixed
member order, no whitespace, no escapes, times and ids in their one spelling), so it needs
no JSON parse and no re-encoding to compare."""
_GROUPS: Final = (
    "event_id",
    "occurred_at",
    "signer",
    "action",
    "outcome",
    "actor",
    "device",
    "role",
    "object_type",
    "object_id",
    "purpose",
    "reason",
)
_PEOPLE: dict[str, uuid.UUID] = {}
"""Actor and device ids as UUIDs: a batch comes from one device and one user, and parsing
the same id a thousand times showed in profiles.  Bounded; UUIDs are immutable."""


def _person(text: str | None) -> uuid.UUID | None:
    if text is None:
        return None
    value = _PEOPLE.get(text)
    if value is None:
        if len(_PEOPLE) >= 4096:
            _PEOPLE.clear()
        value = _PEOPLE[text] = uuid.UUID(text)
    return value


def parse_event(data: bytes) -> AuditEvent:
    """An event from its signed bytes, which must be exactly its canonical form."""
    return parse_event_and_fields(data)[0]


def parse_event_and_fields(data: bytes) -> tuple[AuditEvent, EventFields]:
    """:func:`parse_event`, and the event's :func:`event_fields`, which the canonical form
    holds already: its members are in the order of the fields, and written as they are."""
    if len(data) > 4096:
        raise FormatError("event", "is longer than any event can be")
    text = data.decode("ascii") if data.isascii() else ""
    match = _CANONICAL_TEXT.match(text)
    if match is not None:
        # The pattern makes the first five members strings; the rest may be null.
        groups = cast(EventFields, match.group(*_GROUPS))
        event_id, occurred_at, signer, action, outcome, actor, device, *rest = groups
        role, object_type, object_id, purpose, reason = rest
        try:
            moment = dt.datetime.fromisoformat(occurred_at)
        except ValueError:
            raise FormatError("occurred_at", "is not a real date and time") from None
        event = AuditEvent(
            event_id=uuid.UUID(event_id),
            occurred_at=moment,
            signer=signer,
            action=action,
            outcome=outcome,
            actor=_person(actor),
            device=_person(device),
            role=role,
            object_type=object_type,
            object_id=object_id,
            purpose=purpose,
            reason=reason,
        )
        return event, groups
    # Not canonical, or not an event at all: the member-by-member reading says which.
    try:
        value: Any = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise FormatError("event", "is not JSON") from None
    event = event_from_value(value)
    if event.to_bytes() != data:
        raise FormatError("event", "is not in canonical form (member order, spacing or escapes)")
    return event, event_fields(event)


@dataclass(frozen=True, slots=True)
class SignedEvent:
    """An event, its exact signed bytes, and the Ed25519 signature over them."""

    event: AuditEvent
    data: bytes
    signature: bytes


_Text = str | None
EventFields = tuple[str, str, str, str, str, _Text, _Text, _Text, _Text, _Text, _Text, _Text]
"""An event as strings, in the order of :class:`AuditEvent`'s fields (the time as
:func:`format_time` writes it): how the server's signature workers hand back the events
they checked, and what the log's rows are written from.  Unpickling an event cost 18 µs,
more than parsing it again; these strings cost under 2."""


def event_fields(event: AuditEvent) -> EventFields:
    return (
        str(event.event_id),
        format_time(event.occurred_at),
        event.signer,
        event.action,
        event.outcome,
        None if event.actor is None else str(event.actor),
        None if event.device is None else str(event.device),
        event.role,
        event.object_type,
        event.object_id,
        event.purpose,
        event.reason,
    )


def sign_event(event: AuditEvent, private_key: bytes | Ed25519PrivateKey) -> SignedEvent:
    data = event.to_bytes()
    return SignedEvent(event, data, crypto.sign(private_key, data))


def verify_event_signature(public_key: bytes, data: bytes, signature: bytes) -> bool:
    return crypto.verify(public_key, data, signature)
