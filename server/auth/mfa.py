"""MFA state in the database: TOTP secrets sealed at rest, the replay guard on time steps,
and recovery codes."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from server.auth.codes import new_recovery_codes, recovery_code_hash
from server.auth.keystore import SealingKey
from server.auth.tables import recovery_codes, users
from shared.crypto import DecryptionError, open_sealed, seal

_KEY_ID_BYTES = 8


class MfaKeyMismatch(Exception):
    """A TOTP secret was sealed under another MFA key than the one configured."""


class MfaCipher:
    """Seals TOTP secrets with AES-256-GCM, bound to the user they belong to.  The blob is
    ``key id (8 bytes) || sealed envelope`` so a wrong key is named, not guessed at."""

    def __init__(self, key: SealingKey) -> None:
        self._key = key
        self._key_id = bytes.fromhex(key.key_id)

    @staticmethod
    def _context(user_id: uuid.UUID) -> bytes:
        return b"kluis/totp-secret/v1\x00" + user_id.bytes

    def seal(self, user_id: uuid.UUID, secret: str) -> bytes:
        return self._key_id + seal(self._key.key, secret.encode("ascii"), self._context(user_id))

    def open(self, user_id: uuid.UUID, blob: bytes) -> str:
        if blob[:_KEY_ID_BYTES] != self._key_id:
            raise MfaKeyMismatch(f"TOTP secret sealed under key {blob[:_KEY_ID_BYTES].hex()}")
        try:
            return open_sealed(self._key.key, blob[_KEY_ID_BYTES:], self._context(user_id)).decode("ascii")
        except DecryptionError:
            raise MfaKeyMismatch("TOTP secret does not open with the configured key") from None


async def consume_totp_step(connection: AsyncConnection, user_id: uuid.UUID, step: int) -> bool:
    """Accept ``step`` only if it is later than the last accepted one, atomically: of two
    concurrent verifications of one code, exactly one updates the row."""
    result = await connection.execute(
        update(users).where(users.c.id == user_id, users.c.totp_last_step < step).values(totp_last_step=step)
    )
    return result.rowcount == 1


async def replace_recovery_codes(
    connection: AsyncConnection, user_id: uuid.UUID, now: dt.datetime
) -> list[str]:
    """Ten fresh codes; every earlier one stops working.  Only hashes are stored."""
    codes = new_recovery_codes()
    await connection.execute(delete(recovery_codes).where(recovery_codes.c.user_id == user_id))
    await connection.execute(
        recovery_codes.insert(),
        [
            {"user_id": user_id, "code_hash": recovery_code_hash(user_id, code), "created_at": now}
            for code in codes
        ],
    )
    return codes


async def recovery_code_is_unused(connection: AsyncConnection, user_id: uuid.UUID, code: str) -> bool:
    row = await connection.execute(
        select(recovery_codes.c.user_id).where(
            recovery_codes.c.user_id == user_id,
            recovery_codes.c.code_hash == recovery_code_hash(user_id, code),
            recovery_codes.c.used_at.is_(None),
        )
    )
    return row.first() is not None


async def use_recovery_code(
    connection: AsyncConnection, user_id: uuid.UUID, code: str, now: dt.datetime
) -> bool:
    result = await connection.execute(
        update(recovery_codes)
        .where(
            recovery_codes.c.user_id == user_id,
            recovery_codes.c.code_hash == recovery_code_hash(user_id, code),
            recovery_codes.c.used_at.is_(None),
        )
        .values(used_at=now)
    )
    return result.rowcount == 1


async def recovery_codes_left(connection: AsyncConnection, user_id: uuid.UUID) -> int:
    count = await connection.scalar(
        select(func.count())
        .select_from(recovery_codes)
        .where(recovery_codes.c.user_id == user_id, recovery_codes.c.used_at.is_(None))
    )
    return int(count or 0)
