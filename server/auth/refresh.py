"""Refreshing a session (rotating its refresh token) and signing out.

A refresh must come from the session's device: its body names the device and carries the
device's signature over a fresh nonce and the refresh token.  A refresh token that turns up
with another device, with a bad signature, or after it was already used, has left its
device: the session is revoked and a security event recorded."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from server.auth import errors
from server.auth.accounts import get_account
from server.auth.context import AuthContext, DeviceProof, Grant
from server.auth.devices import get_device, touch_device
from server.auth.mfa import recovery_codes_left
from server.auth.proof import ProofAction
from server.auth.security_events import EventKind, Outcome, SecurityEvent, record
from server.auth.sessions import RevokeReason, find_refresh_token, revoke_session, rotate
from server.http.errors import HTTPError


@dataclass(frozen=True)
class RefreshRequest:
    refresh_token: str
    proof: DeviceProof
    client: str | None


async def refresh(context: AuthContext, request: RefreshRequest) -> Grant:
    if request.proof.device_id is None:
        raise errors.invalid_device_proof()
    await context.spend_nonce(request.proof.nonce)
    async with context.database.transaction(write=True) as connection:
        outcome = await _refresh(context, connection, request)
    if isinstance(outcome, HTTPError):
        raise outcome
    return outcome


async def _refresh(
    context: AuthContext, connection: AsyncConnection, request: RefreshRequest
) -> Grant | HTTPError:
    """In one write transaction; a refusal is returned so that a revocation and its event
    commit with it."""
    now = context.clock()
    proof = request.proof
    record_ = await find_refresh_token(connection, request.refresh_token)
    if record_ is None:
        return errors.invalid_refresh_token()

    async def end_session(kind: EventKind, reason: str, error: HTTPError) -> HTTPError:
        await revoke_session(connection, record_.session_id, reason, now)
        await record(
            connection,
            SecurityEvent(
                kind,
                Outcome.FAILURE,
                reason=reason,
                user_id=record_.user_id,
                device_id=record_.device_id,
                session_id=record_.session_id,
                client_address=request.client,
            ),
            now,
        )
        return error

    device = await get_device(connection, record_.device_id)
    assert device is not None
    if proof.device_id != record_.device_id:
        return await end_session(
            EventKind.DEVICE_PROOF_FAILED, RevokeReason.DEVICE_MISMATCH, errors.device_mismatch()
        )
    if not context.proof_holds(
        proof,
        ProofAction.REFRESH,
        public_key=device.public_key,
        device_id=device.id,
        refresh_token=request.refresh_token,
    ):
        return await end_session(
            EventKind.DEVICE_PROOF_FAILED, RevokeReason.PROOF_FAILED, errors.invalid_device_proof()
        )
    if record_.used_at is not None:
        return await end_session(
            EventKind.TOKEN_REUSE, RevokeReason.TOKEN_REUSE, errors.refresh_token_reused()
        )
    if not device.active:
        return errors.device_revoked()
    if record_.session_revoked_at is not None:
        return errors.session_revoked()
    account = await get_account(connection, record_.user_id)
    if account is None or not account.active:
        return errors.session_revoked()
    if record_.session_expires_at <= now:
        return errors.session_expired()
    if record_.last_refreshed_at + context.policy.idle_timeout <= now:
        await revoke_session(connection, record_.session_id, RevokeReason.IDLE, now)
        return errors.session_expired()
    successor = await rotate(connection, record_, request.refresh_token, now)
    if successor is None:
        return await end_session(
            EventKind.TOKEN_REUSE, RevokeReason.TOKEN_REUSE, errors.refresh_token_reused()
        )
    await touch_device(connection, device.id, now)
    return Grant(
        account=account,
        device=device,
        session_id=record_.session_id,
        session_expires_at=record_.session_expires_at,
        idle_timeout=context.policy.idle_timeout,
        refresh_token=successor,
        access=context.access_token(account, device, record_.session_id),
        offline_unlock_until=record_.session_created_at + context.policy.offline_unlock,
        recovery_codes_left=await recovery_codes_left(connection, account.id),
    )


async def sign_out(
    context: AuthContext,
    *,
    session_id: uuid.UUID,
    user_id: uuid.UUID,
    device_id: uuid.UUID,
    client: str | None,
) -> None:
    now = context.clock()
    async with context.database.transaction(write=True) as connection:
        if await revoke_session(connection, session_id, RevokeReason.SIGN_OUT, now):
            await record(
                connection,
                SecurityEvent(
                    EventKind.SIGN_OUT,
                    user_id=user_id,
                    device_id=device_id,
                    session_id=session_id,
                    client_address=client,
                ),
                now,
            )
