"""Enrolled devices: one Ed25519 public key per user per machine.  Revoking a device raises
its epoch and ends its sessions, so its access tokens stop working on their next request."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import Row, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from server.auth.dbutil import insert_if_absent
from server.auth.sessions import RevokeReason, revoke_device_sessions
from server.auth.tables import devices

MAX_NAME_LENGTH = 100


class DeviceKeyInUse(Exception):
    """The public key is already enrolled (for this or another user)."""


@dataclass(frozen=True)
class Device:
    id: uuid.UUID
    user_id: uuid.UUID
    name: str
    public_key: bytes
    created_at: dt.datetime
    last_seen_at: dt.datetime | None
    revoked_at: dt.datetime | None
    token_epoch: int

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    @classmethod
    def from_row(cls, row: Row[tuple[object, ...]]) -> Device:
        mapping = row._mapping
        return cls(
            id=mapping["id"],
            user_id=mapping["user_id"],
            name=mapping["name"],
            public_key=bytes(mapping["public_key"]),
            created_at=mapping["created_at"],
            last_seen_at=mapping["last_seen_at"],
            revoked_at=mapping["revoked_at"],
            token_epoch=mapping["token_epoch"],
        )


async def enroll_device(
    connection: AsyncConnection, *, user_id: uuid.UUID, name: str, public_key: bytes, now: dt.datetime
) -> Device:
    device_id = uuid.uuid4()
    inserted = await insert_if_absent(
        connection,
        devices,
        {
            "id": device_id,
            "user_id": user_id,
            "name": name,
            "public_key": public_key,
            "created_at": now,
            "last_seen_at": now,
            "token_epoch": 0,
        },
    )
    if not inserted:
        raise DeviceKeyInUse()
    device = await get_device(connection, device_id)
    assert device is not None
    return device


async def get_device(connection: AsyncConnection, device_id: uuid.UUID) -> Device | None:
    row = (await connection.execute(select(devices).where(devices.c.id == device_id))).first()
    return Device.from_row(row) if row is not None else None


async def list_devices(connection: AsyncConnection, user_id: uuid.UUID | None = None) -> list[Device]:
    query = select(devices).order_by(devices.c.created_at, devices.c.id)
    if user_id is not None:
        query = query.where(devices.c.user_id == user_id)
    return [Device.from_row(row) for row in (await connection.execute(query)).all()]


async def touch_device(connection: AsyncConnection, device_id: uuid.UUID, now: dt.datetime) -> None:
    await connection.execute(update(devices).where(devices.c.id == device_id).values(last_seen_at=now))


async def revoke_device(
    connection: AsyncConnection, device_id: uuid.UUID, *, actor_id: uuid.UUID | None, now: dt.datetime
) -> bool:
    """Revoke the device and end its sessions; False if it was already revoked."""
    result = await connection.execute(
        update(devices)
        .where(devices.c.id == device_id, devices.c.revoked_at.is_(None))
        .values(revoked_at=now, revoked_by=actor_id, token_epoch=devices.c.token_epoch + 1)
    )
    if result.rowcount != 1:
        return False
    await revoke_device_sessions(connection, device_id, RevokeReason.DEVICE_REVOKED, now)
    return True
