"""Recording the server's own audit events.

:func:`record_server_event` writes the event into ``audit_pending`` in the caller's own
transaction, so the event exists exactly when the caller's change does (and a read of
personal information is recorded before its answer leaves).  The audit worker signs pending
events with the log's key and appends them within a second or so; a crash in between loses
nothing, because the pending row is only deleted in the transaction that appends it.

:func:`record_security_event` is the hook :mod:`server.auth.security_events` calls, so every
security event flows into the log too."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

from server.audit.tables import audit_pending
from shared.audit.event import AuditEvent, Outcome, server_signer

# Events are checked when recorded, as if signed by a placeholder key id; the worker signs
# them with the log's real key.
_PLACEHOLDER_SIGNER = server_signer("0" * 16)


async def record_server_event(
    connection: AsyncConnection,
    *,
    action: str,
    object_type: str | None = None,
    object_id: str | None = None,
    actor: uuid.UUID | None = None,
    device: uuid.UUID | None = None,
    role: str | None = None,
    purpose: str | None = None,
    outcome: str = Outcome.SUCCESS.value,
    reason: str | None = None,
    occurred_at: dt.datetime | None = None,
    event_id: uuid.UUID | None = None,
) -> uuid.UUID:
    """Record an audit event the server witnessed, in the caller's (write) transaction.

    Raises :class:`shared.audit.codec.FormatError` (naming the field, never its value) for
    an event that is not allowed, e.g. an object id that looks like an ID number."""
    event = AuditEvent(
        event_id=event_id or uuid.uuid4(),
        occurred_at=occurred_at or dt.datetime.now(dt.UTC),
        signer=_PLACEHOLDER_SIGNER,
        action=action,
        outcome=outcome,
        actor=actor,
        device=device,
        role=role,
        object_type=object_type,
        object_id=object_id,
        purpose=purpose,
        reason=reason,
    )
    await connection.execute(
        audit_pending.insert().values(
            event_id=event.event_id,
            occurred_at=event.occurred_at,
            action=event.action,
            outcome=event.outcome,
            actor=event.actor,
            device=event.device,
            role=event.role,
            object_type=event.object_type,
            object_id=event.object_id,
            purpose=event.purpose,
            reason=event.reason,
        )
    )
    return event.event_id


class SecurityEventLike(Protocol):
    """What the hook reads from :class:`server.auth.security_events.SecurityEvent`."""

    @property
    def kind(self) -> str: ...
    @property
    def outcome(self) -> str: ...
    @property
    def reason(self) -> str | None: ...
    @property
    def user_id(self) -> uuid.UUID | None: ...
    @property
    def device_id(self) -> uuid.UUID | None: ...
    @property
    def actor_id(self) -> uuid.UUID | None: ...


_DEVICE_KINDS = frozenset({"device_enrolled", "device_revoked", "device_proof_failed"})


async def record_security_event(
    connection: AsyncConnection, event_id: uuid.UUID, event: SecurityEventLike, now: dt.datetime
) -> None:
    """The security event as an audit event with the same id.  The acting administrator is
    the actor when there is one, and the user acted on the object; otherwise the user is
    the actor.  Client addresses and username hashes stay in ``security_events``."""
    kind, outcome = str(event.kind), str(event.outcome)
    object_type: str | None = None
    object_id: str | None = None
    actor = event.actor_id or event.user_id
    if kind in _DEVICE_KINDS and event.device_id is not None:
        object_type, object_id = "device", str(event.device_id)
    elif event.user_id is not None and event.actor_id is not None and event.actor_id != event.user_id:
        object_type, object_id = "user", str(event.user_id)
    await record_server_event(
        connection,
        action=kind,
        outcome=outcome,
        reason=event.reason,
        actor=actor,
        device=event.device_id,
        object_type=object_type,
        object_id=object_id,
        occurred_at=now,
        event_id=event_id,
    )
