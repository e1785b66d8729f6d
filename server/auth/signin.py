"""Sign-in: username, password and a TOTP or recovery code, from a device proving it holds
its key (an enrolled one, or a new one enrolled by this sign-in).

Whatever is wrong (no such user, no password yet, wrong password, wrong or replayed code)
the answer is the same ``invalid_credentials``, after the same work: an Argon2 verification
(against a dummy hash when there is no real one), a TOTP computation (against a dummy secret)
and a recovery-code lookup.  Only after both factors check out does the answer say anything
about the account (disabled) or the device (revoked)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from server.auth import errors
from server.auth.accounts import normalise_username, require_account
from server.auth.context import AuthContext, DeviceProof, Grant
from server.auth.devices import Device, DeviceKeyInUse, enroll_device, get_device, touch_device
from server.auth.mfa import consume_totp_step, recovery_code_is_unused, use_recovery_code
from server.auth.proof import ProofAction
from server.auth.security_events import EventKind, Outcome, SecurityEvent, record
from server.auth.tables import devices, users
from server.auth.throttle import (
    USERNAME,
    Charge,
    ThrottleKey,
    ThrottleRefused,
    charge_attempt,
    record_success,
)
from server.auth.totp import matching_step
from server.http.errors import HTTPError


@dataclass(frozen=True)
class Credentials:
    user_id: uuid.UUID
    password_hash: str | None
    totp_secret: bytes | None
    totp_last_step: int


@dataclass(frozen=True)
class SignInRequest:
    username: str
    password: str
    totp_code: str | None
    recovery_code: str | None
    proof: DeviceProof
    client: str | None


async def load_credentials(connection: AsyncConnection, username: str) -> Credentials | None:
    row = (
        await connection.execute(
            select(users.c.id, users.c.password_hash, users.c.totp_secret, users.c.totp_last_step).where(
                users.c.username == normalise_username(username)
            )
        )
    ).first()
    if row is None:
        return None
    return Credentials(row.id, row.password_hash, row.totp_secret, row.totp_last_step)


async def charge(context: AuthContext, username: str, client: str | None, now: dt.datetime) -> list[Charge]:
    """Count the attempt against the username and the address, or refuse it (429)."""
    subject = ThrottleKey.username(username).key_hash
    try:
        async with context.database.transaction(write=True) as connection:
            return await charge_attempt(connection, context.guards(username, client), now)
    except ThrottleRefused as refused:
        async with context.database.transaction(write=True) as connection:
            await record(
                connection,
                SecurityEvent(
                    EventKind.SIGN_IN,
                    Outcome.FAILURE,
                    reason="locked" if refused.locked else "throttled",
                    client_address=client,
                    subject_hash=subject,
                ),
                now,
            )
        raise errors.too_many_attempts(refused.retry_after) from None


async def settle_success(context: AuthContext, connection: AsyncConnection, charges: list[Charge]) -> None:
    """The attempt proved the credentials: take back its provisional failure."""
    now = context.clock()
    for charged in charges:
        policy = context.policy.usernames if charged.key.scope == USERNAME else context.policy.addresses
        await record_success(connection, charged, policy, now)


async def record_failure(
    connection: AsyncConnection,
    kind: EventKind,
    charges: list[Charge],
    *,
    reason: str,
    user_id: uuid.UUID | None,
    client: str | None,
    subject: str,
    now: dt.datetime,
) -> None:
    await record(
        connection,
        SecurityEvent(
            kind, Outcome.FAILURE, reason=reason, user_id=user_id, client_address=client, subject_hash=subject
        ),
        now,
    )
    if any(charged.locks for charged in charges):
        await record(
            connection,
            SecurityEvent(
                EventKind.LOCKOUT,
                Outcome.FAILURE,
                reason="too_many_failures",
                user_id=user_id,
                client_address=client,
                subject_hash=subject,
            ),
            now,
        )


async def sign_in(context: AuthContext, request: SignInRequest) -> Grant:
    proof = request.proof
    action = ProofAction.SIGN_IN if proof.device_id is not None else ProofAction.ENROLL
    if proof.device_id is None and not proof.name:
        raise errors.invalid_device_proof()
    if not context.proof_holds(proof, action, public_key=proof.public_key, device_id=proof.device_id):
        raise errors.invalid_device_proof()
    await context.spend_nonce(proof.nonce)
    now = context.clock()
    charges = await charge(context, request.username, request.client, now)

    async with context.database.transaction() as connection:
        credentials = await load_credentials(connection, request.username)
    secret = context.dummy_totp_secret
    if credentials is not None and credentials.totp_secret is not None:
        secret = context.cipher.open(credentials.user_id, credentials.totp_secret)
    has_password = credentials is not None and credentials.password_hash is not None
    stored_hash = credentials.password_hash if credentials and credentials.password_hash else None
    password_ok = await context.hasher.verify(stored_hash or context.hasher.dummy_hash, request.password)
    step = matching_step(secret, request.totp_code, now) if request.totp_code else None
    new_hash = None
    if has_password and password_ok and stored_hash and context.hasher.needs_rehash(stored_hash):
        new_hash = await context.hasher.hash(request.password)

    try:
        async with context.database.transaction(write=True) as connection:
            outcome = await _complete(
                context, connection, request, credentials, password_ok, step, charges, new_hash
            )
    except DeviceKeyInUse:
        raise errors.device_key_in_use() from None
    if isinstance(outcome, HTTPError):
        raise outcome
    return outcome


async def _complete(
    context: AuthContext,
    connection: AsyncConnection,
    request: SignInRequest,
    credentials: Credentials | None,
    password_ok: bool,
    step: int | None,
    charges: list[Charge],
    new_hash: str | None,
) -> Grant | HTTPError:
    """The second half, in one write transaction.  A refusal is returned, not raised, so that
    its security events commit."""
    now = context.clock()
    subject = ThrottleKey.username(request.username).key_hash
    user_id = credentials.user_id if credentials is not None else uuid.uuid4()
    recovery_ok = False
    if request.recovery_code:
        recovery_ok = await recovery_code_is_unused(connection, user_id, request.recovery_code)
    second_factor = (step is not None and credentials is not None and step > credentials.totp_last_step) or (
        recovery_ok
    )
    if (
        credentials is None
        or credentials.password_hash is None
        or credentials.totp_secret is None
        or not password_ok
        or not second_factor
    ):
        await record_failure(
            connection,
            EventKind.SIGN_IN,
            charges,
            reason="bad_credentials",
            user_id=credentials.user_id if credentials else None,
            client=request.client,
            subject=subject,
            now=now,
        )
        return errors.invalid_credentials()

    account = await require_account(connection, user_id)
    await settle_success(context, connection, charges)
    if not account.active:
        await record_failure(
            connection,
            EventKind.SIGN_IN,
            [],
            reason="account_disabled",
            user_id=user_id,
            client=request.client,
            subject=subject,
            now=now,
        )
        return errors.account_disabled()

    proof = request.proof
    device: Device | None = None
    if proof.device_id is not None:
        device = await get_device(connection, proof.device_id)
        if device is None or device.user_id != user_id or device.public_key != proof.public_key:
            await record(
                connection,
                SecurityEvent(
                    EventKind.DEVICE_PROOF_FAILED,
                    Outcome.FAILURE,
                    reason="unknown_device",
                    user_id=user_id,
                    device_id=proof.device_id,
                    client_address=request.client,
                ),
                now,
            )
            return errors.invalid_device_proof()
        if not device.active:
            await record_failure(
                connection,
                EventKind.SIGN_IN,
                [],
                reason="device_revoked",
                user_id=user_id,
                client=request.client,
                subject=subject,
                now=now,
            )
            return errors.device_revoked()
        await touch_device(connection, device.id, now)
    else:
        taken = await connection.scalar(select(devices.c.id).where(devices.c.public_key == proof.public_key))
        if taken is not None:
            return errors.device_key_in_use()

    if step is not None and credentials.totp_secret is not None and step > credentials.totp_last_step:
        consumed = await consume_totp_step(connection, user_id, step)
        used = "totp"
    else:
        assert request.recovery_code is not None
        consumed = await use_recovery_code(connection, user_id, request.recovery_code, now)
        used = "recovery_code"
    if not consumed:
        await record_failure(
            connection,
            EventKind.SIGN_IN,
            [],
            reason="code_replayed",
            user_id=user_id,
            client=request.client,
            subject=subject,
            now=now,
        )
        return errors.invalid_credentials()

    if new_hash is not None:
        await connection.execute(update(users).where(users.c.id == user_id).values(password_hash=new_hash))
    if device is None:
        assert proof.name is not None
        device = await enroll_device(
            connection, user_id=user_id, name=proof.name, public_key=proof.public_key, now=now
        )
        await record(
            connection,
            SecurityEvent(
                EventKind.DEVICE_ENROLLED, user_id=user_id, device_id=device.id, client_address=request.client
            ),
            now,
        )
    if used == "recovery_code":
        await record(
            connection,
            SecurityEvent(
                EventKind.RECOVERY_CODE_USED,
                user_id=user_id,
                device_id=device.id,
                client_address=request.client,
            ),
            now,
        )
    grant = await context.open_session(connection, account, device, now)
    await record(
        connection,
        SecurityEvent(
            EventKind.SIGN_IN,
            reason=used,
            user_id=user_id,
            device_id=device.id,
            session_id=grant.session_id,
            client_address=request.client,
        ),
        now,
    )
    return grant
