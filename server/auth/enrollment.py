"""First sign-in (and sign-in after an MFA reset) with a one-time enrollment code.

``start`` checks the code and hands out a TOTP secret (the same one until enrollment
completes, so a console that crashed mid-way shows the same QR code again).  ``complete``
checks the code again, sets the password, confirms TOTP with a code from the authenticator,
enrolls the device, issues ten recovery codes and opens a session; the enrollment code is
spent."""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from server.auth import errors, totp
from server.auth.accounts import normalise_username, require_account
from server.auth.codes import enrollment_code_hash
from server.auth.context import AuthContext, DeviceProof, Grant
from server.auth.devices import DeviceKeyInUse, enroll_device
from server.auth.mfa import consume_totp_step, replace_recovery_codes
from server.auth.passwords import PASSWORD_RULES, password_problems
from server.auth.proof import ProofAction
from server.auth.security_events import EventKind, SecurityEvent, record
from server.auth.signin import charge, record_failure, settle_success
from server.auth.tables import devices, enrollment_codes, users
from server.auth.throttle import Charge, ThrottleKey
from server.http.errors import HTTPError


@dataclass(frozen=True)
class EnrollmentStart:
    username: str
    totp_secret: str
    otpauth_uri: str
    code_expires_at: dt.datetime


@dataclass(frozen=True)
class PendingEnrollment:
    user_id: uuid.UUID
    username: str
    code_hash: bytes
    pending_secret: bytes | None
    active: bool


async def _find(
    connection: AsyncConnection, username: str, code: str, now: dt.datetime
) -> PendingEnrollment | None:
    """The user the code belongs to, if the code is right and unexpired.  The comparison
    runs whether or not the user exists."""
    row = (
        await connection.execute(
            select(
                users.c.id,
                users.c.username,
                users.c.totp_pending_secret,
                users.c.active,
                enrollment_codes.c.code_hash,
                enrollment_codes.c.expires_at,
            )
            .select_from(users.join(enrollment_codes, enrollment_codes.c.user_id == users.c.id))
            .where(users.c.username == normalise_username(username))
        )
    ).first()
    user_id = row.id if row is not None else uuid.uuid4()
    expected = row.code_hash if row is not None else secrets.token_bytes(32)
    matches = hmac.compare_digest(bytes(expected), enrollment_code_hash(user_id, code))
    if row is None or not matches or row.expires_at <= now:
        return None
    return PendingEnrollment(row.id, row.username, bytes(row.code_hash), row.totp_pending_secret, row.active)


async def _check_code(
    context: AuthContext, username: str, code: str, client: str | None, charges: list[Charge]
) -> PendingEnrollment:
    now = context.clock()
    subject = ThrottleKey.username(username).key_hash
    refusal: HTTPError | None = None
    async with context.database.transaction(write=True) as connection:
        pending = await _find(connection, username, code, now)
        if pending is None:
            user_id = await connection.scalar(
                select(users.c.id).where(users.c.username == normalise_username(username))
            )
            await record_failure(
                connection,
                EventKind.ENROLLMENT,
                charges,
                reason="bad_code",
                user_id=user_id,
                client=client,
                subject=subject,
                now=now,
            )
            refusal = errors.invalid_enrollment_code()
        else:
            await settle_success(context, connection, charges)
            if not pending.active:
                refusal = errors.account_disabled()
    if refusal is not None:
        raise refusal
    assert pending is not None
    return pending


async def start_enrollment(
    context: AuthContext, username: str, code: str, client: str | None
) -> EnrollmentStart:
    charges = await charge(context, username, client, context.clock())
    pending = await _check_code(context, username, code, client, charges)
    now = context.clock()
    async with context.database.transaction(write=True) as connection:
        stored = await connection.scalar(
            select(users.c.totp_pending_secret).where(users.c.id == pending.user_id)
        )
        if stored is None:
            secret = totp.new_secret()
            await connection.execute(
                update(users)
                .where(users.c.id == pending.user_id)
                .values(totp_pending_secret=context.cipher.seal(pending.user_id, secret), updated_at=now)
            )
        else:
            secret = context.cipher.open(pending.user_id, stored)
        expires_at = await connection.scalar(
            select(enrollment_codes.c.expires_at).where(enrollment_codes.c.user_id == pending.user_id)
        )
        await record(
            connection,
            SecurityEvent(
                EventKind.ENROLLMENT, reason="started", user_id=pending.user_id, client_address=client
            ),
            now,
        )
    assert expires_at is not None
    return EnrollmentStart(
        username=pending.username,
        totp_secret=secret,
        otpauth_uri=totp.provisioning_uri(secret, pending.username),
        code_expires_at=expires_at,
    )


@dataclass(frozen=True)
class CompleteEnrollment:
    username: str
    code: str
    new_password: str
    totp_code: str
    proof: DeviceProof
    client: str | None


async def complete_enrollment(context: AuthContext, request: CompleteEnrollment) -> Grant:
    proof = request.proof
    if proof.device_id is not None or not proof.name:
        raise errors.invalid_device_proof()
    if not context.proof_holds(proof, ProofAction.ENROLL, public_key=proof.public_key, device_id=None):
        raise errors.invalid_device_proof()
    await context.spend_nonce(proof.nonce)
    charges = await charge(context, request.username, request.client, context.clock())
    pending = await _check_code(context, request.username, request.code, request.client, charges)
    if pending.pending_secret is None:
        raise errors.enrollment_not_started()
    problems = password_problems(request.new_password, pending.username)
    if problems:
        raise errors.weak_password([(code, PASSWORD_RULES[code]) for code in problems], "new_password")
    secret = context.cipher.open(pending.user_id, pending.pending_secret)
    step = totp.matching_step(secret, request.totp_code, context.clock())
    if step is None:
        raise errors.invalid_mfa_code()
    password_hash = await context.hasher.hash(request.new_password)
    try:
        async with context.database.transaction(write=True) as connection:
            return await _enroll(context, connection, request, pending, step, password_hash)
    except DeviceKeyInUse:
        raise errors.device_key_in_use() from None


async def _enroll(
    context: AuthContext,
    connection: AsyncConnection,
    request: CompleteEnrollment,
    pending: PendingEnrollment,
    step: int,
    password_hash: str,
) -> Grant:
    """Everything or nothing: a refusal raises, so the transaction (and the spending of the
    enrollment code) rolls back."""
    now = context.clock()
    user_id = pending.user_id
    spent = await connection.execute(
        delete(enrollment_codes).where(
            enrollment_codes.c.user_id == user_id, enrollment_codes.c.code_hash == pending.code_hash
        )
    )
    if spent.rowcount != 1:
        raise errors.invalid_enrollment_code()
    if await connection.scalar(select(devices.c.id).where(devices.c.public_key == request.proof.public_key)):
        raise errors.device_key_in_use()
    if not await consume_totp_step(connection, user_id, step):
        raise errors.invalid_mfa_code()
    switched = await connection.execute(
        update(users)
        .where(users.c.id == user_id, users.c.totp_pending_secret == pending.pending_secret)
        .values(
            password_hash=password_hash,
            password_changed_at=now,
            totp_secret=pending.pending_secret,
            totp_pending_secret=None,
            mfa_enrolled_at=now,
            updated_at=now,
        )
    )
    if switched.rowcount != 1:
        raise errors.enrollment_not_started()
    codes = await replace_recovery_codes(connection, user_id, now)
    assert request.proof.name is not None
    device = await enroll_device(
        connection, user_id=user_id, name=request.proof.name, public_key=request.proof.public_key, now=now
    )
    account = await require_account(connection, user_id)
    grant = await context.open_session(connection, account, device, now, recovery_codes=codes)
    for kind, reason in (
        (EventKind.MFA_ENROLLED, None),
        (EventKind.DEVICE_ENROLLED, None),
        (EventKind.SIGN_IN, "enrollment"),
    ):
        await record(
            connection,
            SecurityEvent(
                kind,
                reason=reason,
                user_id=user_id,
                device_id=device.id,
                session_id=grant.session_id if kind is EventKind.SIGN_IN else None,
                client_address=request.client,
            ),
            now,
        )
    return grant
