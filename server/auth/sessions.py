"""Sessions and their refresh tokens.

A session is one sign-in of one user on one device: it has an absolute end (a shift) and
ends early when idle, signed out or revoked.  Its refresh tokens form a family: 256 random
bits each, stored only as SHA-256, replaced on every use.  A token presented after it was
replaced means two parties hold the family, so the whole session is revoked."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import and_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from server.auth.proof import b64url_encode
from server.auth.tables import auth_sessions, refresh_tokens

REFRESH_PREFIX = "krt1_"
REFRESH_BYTES = 32


class RevokeReason:
    SIGN_OUT = "sign_out"
    USER_DISABLED = "user_disabled"
    MFA_RESET = "mfa_reset"
    PASSWORD_CHANGED = "password_changed"  # noqa: S105 (a reason code)
    DEVICE_REVOKED = "device_revoked"
    TOKEN_REUSE = "token_reuse"  # noqa: S105 (a reason code)
    DEVICE_MISMATCH = "device_mismatch"
    PROOF_FAILED = "proof_failed"
    IDLE = "idle"


def new_refresh_token() -> str:
    return REFRESH_PREFIX + b64url_encode(secrets.token_bytes(REFRESH_BYTES))


def refresh_token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


@dataclass(frozen=True)
class StartedSession:
    session_id: uuid.UUID
    refresh_token: str
    expires_at: dt.datetime


@dataclass(frozen=True)
class RefreshRecord:
    session_id: uuid.UUID
    user_id: uuid.UUID
    device_id: uuid.UUID
    generation: int
    used_at: dt.datetime | None
    session_created_at: dt.datetime
    session_expires_at: dt.datetime
    last_refreshed_at: dt.datetime
    session_revoked_at: dt.datetime | None


async def start_session(
    connection: AsyncConnection,
    *,
    user_id: uuid.UUID,
    device_id: uuid.UUID,
    lifetime: dt.timedelta,
    now: dt.datetime,
) -> StartedSession:
    session_id = uuid.uuid4()
    expires_at = now + lifetime
    await connection.execute(
        auth_sessions.insert().values(
            id=session_id,
            user_id=user_id,
            device_id=device_id,
            created_at=now,
            expires_at=expires_at,
            last_refreshed_at=now,
        )
    )
    token = await _issue_token(connection, session_id, generation=0, now=now)
    return StartedSession(session_id, token, expires_at)


async def _issue_token(
    connection: AsyncConnection, session_id: uuid.UUID, *, generation: int, now: dt.datetime
) -> str:
    token = new_refresh_token()
    await connection.execute(
        refresh_tokens.insert().values(
            token_hash=refresh_token_hash(token), session_id=session_id, generation=generation, issued_at=now
        )
    )
    return token


async def find_refresh_token(connection: AsyncConnection, token: str) -> RefreshRecord | None:
    row = (
        await connection.execute(
            select(
                refresh_tokens.c.session_id,
                refresh_tokens.c.generation,
                refresh_tokens.c.used_at,
                auth_sessions.c.user_id,
                auth_sessions.c.device_id,
                auth_sessions.c.created_at,
                auth_sessions.c.expires_at,
                auth_sessions.c.last_refreshed_at,
                auth_sessions.c.revoked_at,
            )
            .select_from(
                refresh_tokens.join(auth_sessions, auth_sessions.c.id == refresh_tokens.c.session_id)
            )
            .where(refresh_tokens.c.token_hash == refresh_token_hash(token))
        )
    ).first()
    if row is None:
        return None
    return RefreshRecord(
        session_id=row.session_id,
        user_id=row.user_id,
        device_id=row.device_id,
        generation=row.generation,
        used_at=row.used_at,
        session_created_at=row.created_at,
        session_expires_at=row.expires_at,
        last_refreshed_at=row.last_refreshed_at,
        session_revoked_at=row.revoked_at,
    )


async def rotate(
    connection: AsyncConnection, record: RefreshRecord, token: str, now: dt.datetime
) -> str | None:
    """Mark ``token`` used and issue its successor; None if another request used it first."""
    result = await connection.execute(
        update(refresh_tokens)
        .where(refresh_tokens.c.token_hash == refresh_token_hash(token), refresh_tokens.c.used_at.is_(None))
        .values(used_at=now)
    )
    if result.rowcount != 1:
        return None
    await connection.execute(
        update(auth_sessions).where(auth_sessions.c.id == record.session_id).values(last_refreshed_at=now)
    )
    return await _issue_token(connection, record.session_id, generation=record.generation + 1, now=now)


async def revoke_session(
    connection: AsyncConnection, session_id: uuid.UUID, reason: str, now: dt.datetime
) -> bool:
    result = await connection.execute(
        update(auth_sessions)
        .where(auth_sessions.c.id == session_id, auth_sessions.c.revoked_at.is_(None))
        .values(revoked_at=now, revoke_reason=reason)
    )
    return result.rowcount == 1


async def revoke_user_sessions(
    connection: AsyncConnection,
    user_id: uuid.UUID,
    reason: str,
    now: dt.datetime,
    *,
    keep: uuid.UUID | None = None,
) -> int:
    condition = and_(auth_sessions.c.user_id == user_id, auth_sessions.c.revoked_at.is_(None))
    if keep is not None:
        condition = and_(condition, auth_sessions.c.id != keep)
    result = await connection.execute(
        update(auth_sessions).where(condition).values(revoked_at=now, revoke_reason=reason)
    )
    return result.rowcount


async def revoke_device_sessions(
    connection: AsyncConnection, device_id: uuid.UUID, reason: str, now: dt.datetime
) -> int:
    result = await connection.execute(
        update(auth_sessions)
        .where(auth_sessions.c.device_id == device_id, auth_sessions.c.revoked_at.is_(None))
        .values(revoked_at=now, revoke_reason=reason)
    )
    return result.rowcount
