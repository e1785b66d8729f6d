"""Device-signed events arriving from consoles: screening (sans-IO) and the decision for
each event of a batch.

An event is accepted only if it is well formed, signed by the device the caller's token
names, for the user the token names, in one of the token's roles, by a device that is not
revoked, and its signature checks.  An event id already in the log is accepted again (with
its index) when it is the very same signed event, so a console may resend its outbox after
any failure; a different event under a used id is refused."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from shared.audit.codec import FormatError
from shared.audit.event import (
    AuditEvent,
    EventFields,
    SignedEvent,
    SignerKind,
    parse_event_and_fields,
)
from shared.crypto import verify

MAX_CLOCK_SKEW: Final = dt.timedelta(minutes=5)


class Reason(StrEnum):
    MALFORMED = "malformed_event"
    NOT_DEVICE_EVENT = "not_a_device_event"
    FORGED_DEVICE = "forged_device"
    FORGED_ACTOR = "forged_actor"
    FORGED_ROLE = "forged_role"
    TIME_IN_FUTURE = "time_in_future"
    UNKNOWN_DEVICE = "unknown_device"
    REVOKED_DEVICE = "revoked_device"
    BAD_SIGNATURE = "bad_signature"
    EVENT_ID_CONFLICT = "event_id_conflict"


MESSAGES: Final = {
    Reason.MALFORMED: "The event is not a well-formed audit event",
    Reason.NOT_DEVICE_EVENT: "Only events signed by this device may be submitted here.",
    Reason.FORGED_DEVICE: "The event names a different device from the one signed in.",
    Reason.FORGED_ACTOR: "The event names a different actor from the signed-in user.",
    Reason.FORGED_ROLE: "The event names a role the signed-in user does not hold.",
    Reason.TIME_IN_FUTURE: "The event's time is more than five minutes ahead of the server's clock.",
    Reason.UNKNOWN_DEVICE: "The signing device is not enrolled.",
    Reason.REVOKED_DEVICE: "The signing device has been revoked; its events are refused.",
    Reason.BAD_SIGNATURE: "The signature does not verify with the device's enrolled key.",
    Reason.EVENT_ID_CONFLICT: "A different event with this event id is already in the log.",
}


@dataclass(frozen=True)
class Caller:
    """Who submits: the facts of the access token, as the authorizer checked them."""

    user_id: uuid.UUID
    device_id: uuid.UUID
    roles: frozenset[str]


@dataclass(frozen=True)
class Refused:
    reason: Reason
    detail: str | None = None
    event_id: uuid.UUID | None = None

    @property
    def message(self) -> str:
        base = MESSAGES[self.reason]
        return f"{base}: {self.detail}." if self.detail else base


@dataclass(frozen=True)
class Result:
    """The answer for one submitted event, in the order submitted."""

    event_id: uuid.UUID | None
    index: int | None = None
    refused: Refused | None = None


def screen(caller: Caller, data: bytes, signature: bytes, now: dt.datetime) -> SignedEvent | Refused:
    """Everything about one event that needs neither the database nor its signature."""
    outcome = _screen(caller, data, now)
    return outcome if isinstance(outcome, Refused) else SignedEvent(outcome[0], data, signature)


def _screen(caller: Caller, data: bytes, now: dt.datetime) -> tuple[AuditEvent, EventFields] | Refused:
    try:
        event, fields = parse_event_and_fields(data)
    except FormatError as exc:
        # The field name and rule only: the offending value is never echoed.
        return Refused(Reason.MALFORMED, f"{exc.where} {exc.reason}")
    refuse = None
    if event.signer_kind is not SignerKind.DEVICE:
        refuse = Reason.NOT_DEVICE_EVENT
    elif event.device != caller.device_id:
        refuse = Reason.FORGED_DEVICE
    elif event.actor != caller.user_id:
        refuse = Reason.FORGED_ACTOR
    elif event.role not in caller.roles:
        refuse = Reason.FORGED_ROLE
    elif event.occurred_at > now + MAX_CLOCK_SKEW:
        refuse = Reason.TIME_IN_FUTURE
    if refuse is not None:
        return Refused(refuse, event_id=event.event_id)
    return event, fields


def check_batch(
    caller: Caller, public_key: bytes, now: dt.datetime, items: Sequence[tuple[bytes, bytes]]
) -> list[EventFields | Refused]:
    """Screen each event and check the signature of those that pass, under the device's
    enrolled key: what the signature workers do with their share of a batch.  An accepted
    event comes back as its fields (what the append writes its rows from), a refused one
    as why."""
    checked: list[EventFields | Refused] = []
    for data, signature in items:
        outcome = _screen(caller, data, now)
        if isinstance(outcome, Refused):
            checked.append(outcome)
        elif not verify(public_key, data, signature):
            checked.append(Refused(Reason.BAD_SIGNATURE, event_id=outcome[0].event_id))
        else:
            checked.append(outcome[1])
    return checked
