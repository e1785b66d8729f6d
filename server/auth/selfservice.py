"""What a signed-in user does to their own account: change the password, replace the
recovery codes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select, update

from server.auth import errors
from server.auth.accounts import require_account
from server.auth.context import AuthContext
from server.auth.mfa import consume_totp_step, replace_recovery_codes
from server.auth.passwords import PASSWORD_RULES, password_problems
from server.auth.security_events import EventKind, SecurityEvent, record
from server.auth.sessions import RevokeReason, revoke_user_sessions
from server.auth.signin import charge, record_failure, settle_success
from server.auth.tables import users
from server.auth.throttle import ThrottleKey
from server.auth.totp import matching_step


@dataclass(frozen=True)
class Caller:
    user_id: uuid.UUID
    username: str
    device_id: uuid.UUID
    session_id: uuid.UUID
    client: str | None


async def change_password(context: AuthContext, caller: Caller, current: str, new: str) -> None:
    """Needs the current password (throttled like a sign-in, so a stolen access token cannot
    be used to guess it).  Every other session of the user ends."""
    problems = password_problems(new, caller.username)
    if problems:
        raise errors.weak_password([(code, PASSWORD_RULES[code]) for code in problems], "new_password")
    charges = await charge(context, caller.username, caller.client, context.clock())
    async with context.database.transaction() as connection:
        stored = await connection.scalar(select(users.c.password_hash).where(users.c.id == caller.user_id))
    ok = await context.hasher.verify(stored or context.hasher.dummy_hash, current)
    new_hash = await context.hasher.hash(new) if ok and stored else None
    now = context.clock()
    async with context.database.transaction(write=True) as connection:
        if new_hash is None:
            await record_failure(
                connection,
                EventKind.PASSWORD_CHANGED,
                charges,
                reason="bad_password",
                user_id=caller.user_id,
                client=caller.client,
                subject=ThrottleKey.username(caller.username).key_hash,
                now=now,
            )
        else:
            await settle_success(context, connection, charges)
            await connection.execute(
                update(users)
                .where(users.c.id == caller.user_id)
                .values(password_hash=new_hash, password_changed_at=now, updated_at=now)
            )
            await revoke_user_sessions(
                connection, caller.user_id, RevokeReason.PASSWORD_CHANGED, now, keep=caller.session_id
            )
            await record(
                connection,
                SecurityEvent(
                    EventKind.PASSWORD_CHANGED,
                    user_id=caller.user_id,
                    device_id=caller.device_id,
                    session_id=caller.session_id,
                    client_address=caller.client,
                ),
                now,
            )
    if new_hash is None:
        raise errors.invalid_password()


async def replace_own_recovery_codes(context: AuthContext, caller: Caller, totp_code: str) -> list[str]:
    """Ten new recovery codes for a current TOTP code (throttled like a sign-in); the old
    ones stop working."""
    charges = await charge(context, caller.username, caller.client, context.clock())
    now = context.clock()
    async with context.database.transaction(write=True) as connection:
        stored = await connection.scalar(select(users.c.totp_secret).where(users.c.id == caller.user_id))
        step = None
        if stored is not None:
            step = matching_step(context.cipher.open(caller.user_id, stored), totp_code, now)
        if step is None or not await consume_totp_step(connection, caller.user_id, step):
            await record_failure(
                connection,
                EventKind.RECOVERY_CODES_REPLACED,
                charges,
                reason="bad_code",
                user_id=caller.user_id,
                client=caller.client,
                subject=ThrottleKey.username(caller.username).key_hash,
                now=now,
            )
            codes = None
        else:
            await settle_success(context, connection, charges)
            await require_account(connection, caller.user_id)
            codes = await replace_recovery_codes(connection, caller.user_id, now)
            await record(
                connection,
                SecurityEvent(
                    EventKind.RECOVERY_CODES_REPLACED,
                    user_id=caller.user_id,
                    device_id=caller.device_id,
                    session_id=caller.session_id,
                    client_address=caller.client,
                ),
                now,
            )
    if codes is None:
        raise errors.invalid_mfa_code()
    return codes
