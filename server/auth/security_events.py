"""Security events: sign-ins, lockouts, MFA and device changes, token reuse.  Each is a row
in ``security_events`` (the audit log takes them over when it exists) and a log line.

An event carries identifiers, an outcome and a reason code, never a secret or personal
information: no username, password, code or token.  A failed sign-in for a name that may not
exist is correlated by a hash of the name (``subject_hash``)."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncConnection

from server.audit.pending import record_security_event
from server.auth.tables import security_events
from server.logs import fields

logger = logging.getLogger("kluis.security")


class EventKind(StrEnum):
    SIGN_IN = "sign_in"
    LOCKOUT = "lockout"
    ENROLLMENT = "enrollment"
    MFA_ENROLLED = "mfa_enrolled"
    MFA_RESET = "mfa_reset"
    RECOVERY_CODE_USED = "recovery_code_used"
    RECOVERY_CODES_REPLACED = "recovery_codes_replaced"
    PASSWORD_CHANGED = "password_changed"  # noqa: S105 (an event name)
    TOKEN_REUSE = "token_reuse"  # noqa: S105 (an event name)
    REFRESH = "refresh"
    SIGN_OUT = "sign_out"
    DEVICE_ENROLLED = "device_enrolled"
    DEVICE_REVOKED = "device_revoked"
    DEVICE_PROOF_FAILED = "device_proof_failed"
    USER_CREATED = "user_created"
    USER_DISABLED = "user_disabled"
    USER_ENABLED = "user_enabled"
    BRANCH_CREATED = "branch_created"


class Outcome(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"


class Source(StrEnum):
    API = "api"
    CLI = "cli"


@dataclass(frozen=True)
class SecurityEvent:
    kind: EventKind
    outcome: Outcome = Outcome.SUCCESS
    reason: str | None = None
    user_id: uuid.UUID | None = None
    device_id: uuid.UUID | None = None
    session_id: uuid.UUID | None = None
    actor_id: uuid.UUID | None = None
    source: Source = Source.API
    client_address: str | None = None
    subject_hash: str | None = None


async def record(connection: AsyncConnection, event: SecurityEvent, now: dt.datetime) -> uuid.UUID:
    """Insert the event in the caller's transaction and log it."""
    event_id = uuid.uuid4()
    await connection.execute(
        security_events.insert().values(
            event_id=event_id,
            occurred_at=now,
            kind=event.kind.value,
            outcome=event.outcome.value,
            reason=event.reason,
            user_id=event.user_id,
            device_id=event.device_id,
            session_id=event.session_id,
            actor_id=event.actor_id,
            source=event.source.value,
            client_address=event.client_address,
            subject_hash=event.subject_hash,
        )
    )
    await record_security_event(connection, event_id, event, now)
    level = logging.INFO if event.outcome is Outcome.SUCCESS else logging.WARNING
    logger.log(
        level,
        "security event",
        extra=fields(
            event_id=str(event_id),
            kind=event.kind.value,
            outcome=event.outcome.value,
            reason=event.reason,
            user_id=str(event.user_id) if event.user_id else None,
            device_id=str(event.device_id) if event.device_id else None,
            session_id=str(event.session_id) if event.session_id else None,
            actor_id=str(event.actor_id) if event.actor_id else None,
            client=event.client_address,
        ),
    )
    return event_id


async def recent(
    connection: AsyncConnection,
    *,
    limit: int,
    before: int | None = None,
    user_id: uuid.UUID | None = None,
    kind: str | None = None,
) -> list[Row[tuple[object, ...]]]:
    """The newest events first, paged by ``before`` (an event's sequence number)."""
    query = select(security_events).order_by(security_events.c.id.desc()).limit(limit)
    if before is not None:
        query = query.where(security_events.c.id < before)
    if user_id is not None:
        query = query.where(security_events.c.user_id == user_id)
    if kind is not None:
        query = query.where(security_events.c.kind == kind)
    return list((await connection.execute(query)).all())
