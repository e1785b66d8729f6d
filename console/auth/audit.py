"""Security events only this console witnesses (an offline unlock, a wrong vault password),
built in the audit log's signed-event format (shared/audit), signed by the device key and
queued in the vault's ``audit_outbox`` until they are uploaded with
``POST /api/v1/audit/events``."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy.engine import Connection

from console.auth.device import DeviceKey
from console.auth.identity import StaffIdentity
from console.vault.records import add_audit_event
from shared.audit.event import AuditEvent, Outcome, SignedEvent, sign_event

OFFLINE_UNLOCK = "offline_unlock"
OFFLINE_UNLOCK_FAILURE = "offline_unlock_failure"
WRONG_PASSWORD = "wrong_password"  # noqa: S105 - an audit reason code


def device_event(
    identity: StaffIdentity,
    device: DeviceKey,
    action: str,
    at: dt.datetime,
    *,
    outcome: Outcome = Outcome.SUCCESS,
    reason: str | None = None,
) -> SignedEvent:
    event = AuditEvent(
        event_id=uuid.uuid4(),
        occurred_at=at,
        signer=f"device:{identity.device_id}",
        action=action,
        outcome=outcome.value,
        actor=identity.user_id,
        device=identity.device_id,
        role=identity.roles[0],
        reason=reason,
    )
    return sign_event(event, device.private_bytes())


def queue_unlock_events(
    connection: Connection,
    identity: StaffIdentity,
    device: DeviceKey,
    *,
    failures: list[dt.datetime],
    offline_unlock_at: dt.datetime | None,
) -> None:
    """The wrong passwords typed since the last unlock, and this unlock if it is offline."""
    for moment in failures:
        add_audit_event(
            connection,
            device_event(
                identity,
                device,
                OFFLINE_UNLOCK_FAILURE,
                moment,
                outcome=Outcome.FAILURE,
                reason=WRONG_PASSWORD,
            ),
        )
    if offline_unlock_at is not None:
        add_audit_event(connection, device_event(identity, device, OFFLINE_UNLOCK, offline_unlock_at))
