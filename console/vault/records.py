"""What the sign-in keeps in the vault: the identity, the device key, the last online
sign-in (for offline unlock) and the audit events waiting to be uploaded.

Functions take a SQLAlchemy connection inside the caller's transaction."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection

from console.auth.identity import StaffIdentity
from console.vault.schema import audit_outbox, device_key, online_sign_in, vault_identity
from shared.audit.event import SignedEvent


@dataclass(frozen=True)
class StoredDeviceKey:
    device_id: uuid.UUID
    name: str
    private_key: bytes
    public_key: bytes
    enrolled_at: dt.datetime


@dataclass(frozen=True)
class OnlineSignIn:
    """The last online sign-in as this console saw it: its own clock's time of it, the
    offline-unlock period the server announced then, and the latest time the vault was used
    (a clock set back behind it is noticed)."""

    signed_in_at: dt.datetime
    offline_unlock_hours: int
    server_offline_until: dt.datetime
    last_used_at: dt.datetime

    @property
    def offline_until(self) -> dt.datetime:
        return self.signed_in_at + dt.timedelta(hours=self.offline_unlock_hours)


@dataclass(frozen=True)
class OutboxEvent:
    event_id: uuid.UUID
    action: str
    outcome: str
    occurred_at: dt.datetime
    event: bytes
    signature: bytes
    state: str


def save_identity(connection: Connection, identity: StaffIdentity, now: dt.datetime) -> None:
    values = {
        "user_id": identity.user_id,
        "username": identity.username,
        "display_name": identity.display_name,
        "roles": json.dumps(list(identity.roles)),
        "branch_id": identity.branch_id,
        "branch_code": identity.branch_code,
        "updated_at": now,
    }
    connection.execute(delete(vault_identity))
    connection.execute(insert(vault_identity).values(singleton=1, **values))


def load_identity(connection: Connection) -> StaffIdentity | None:
    row = connection.execute(select(vault_identity)).first()
    key = connection.execute(select(device_key.c.device_id)).first()
    if row is None or key is None:
        return None
    return StaffIdentity(
        user_id=row.user_id,
        username=row.username,
        display_name=row.display_name,
        roles=tuple(json.loads(row.roles)),
        branch_id=row.branch_id,
        branch_code=row.branch_code,
        device_id=key.device_id,
    )


def save_device_key(connection: Connection, key: StoredDeviceKey) -> None:
    connection.execute(delete(device_key))
    connection.execute(
        insert(device_key).values(
            singleton=1,
            device_id=key.device_id,
            name=key.name,
            private_key=key.private_key,
            public_key=key.public_key,
            enrolled_at=key.enrolled_at,
        )
    )


def load_device_key(connection: Connection) -> StoredDeviceKey | None:
    row = connection.execute(select(device_key)).first()
    if row is None:
        return None
    return StoredDeviceKey(
        row.device_id, row.name, bytes(row.private_key), bytes(row.public_key), row.enrolled_at
    )


def record_online_sign_in(
    connection: Connection, at: dt.datetime, offline_unlock_hours: int, server_offline_until: dt.datetime
) -> None:
    connection.execute(delete(online_sign_in))
    connection.execute(
        insert(online_sign_in).values(
            singleton=1,
            signed_in_at=at,
            offline_unlock_hours=offline_unlock_hours,
            server_offline_until=server_offline_until,
            last_used_at=at,
        )
    )


def load_online_sign_in(connection: Connection) -> OnlineSignIn | None:
    row = connection.execute(select(online_sign_in)).first()
    if row is None:
        return None
    return OnlineSignIn(
        row.signed_in_at, row.offline_unlock_hours, row.server_offline_until, row.last_used_at
    )


def note_use(connection: Connection, at: dt.datetime) -> None:
    """Remember the latest time the vault was opened, never moving it back."""
    connection.execute(
        update(online_sign_in).where(online_sign_in.c.last_used_at < at).values(last_used_at=at)
    )


def add_audit_event(connection: Connection, signed: SignedEvent) -> None:
    event = signed.event
    connection.execute(
        insert(audit_outbox).values(
            event_id=event.event_id,
            action=event.action,
            outcome=event.outcome,
            occurred_at=event.occurred_at,
            event=signed.data,
            signature=signed.signature,
            state="pending",
        )
    )


def pending_audit_events(connection: Connection, limit: int = 1000) -> list[OutboxEvent]:
    rows = connection.execute(
        select(audit_outbox)
        .where(audit_outbox.c.state == "pending")
        .order_by(audit_outbox.c.occurred_at, audit_outbox.c.event_id)
        .limit(limit)
    ).all()
    return [
        OutboxEvent(
            row.event_id,
            row.action,
            row.outcome,
            row.occurred_at,
            bytes(row.event),
            bytes(row.signature),
            row.state,
        )
        for row in rows
    ]
