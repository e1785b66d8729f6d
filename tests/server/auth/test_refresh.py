"""Refresh tokens through the service: rotation, reuse detection, device binding, idle and
absolute session ends."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from server.auth.accounts import Actor, set_active
from server.auth.authorizer import Authenticator
from server.auth.devices import revoke_device
from server.auth.refresh import refresh, sign_out
from server.auth.sessions import refresh_token_hash
from server.auth.tables import auth_sessions, refresh_tokens, security_events
from server.http.errors import HTTPError
from testkit.auth import Device, refresh_request, service_sign_in


async def refused(coroutine) -> HTTPError:
    with pytest.raises(HTTPError) as caught:
        await coroutine
    return caught.value


async def session_state(context, session_id):
    async with context.database.transaction() as connection:
        return (await connection.execute(select(auth_sessions).where(auth_sessions.c.id == session_id))).one()


async def event_kinds(context):
    async with context.database.transaction() as connection:
        rows = await connection.execute(select(security_events.c.kind, security_events.c.reason))
        return [tuple(row) for row in rows.all()]


async def test_every_refresh_rotates_the_token(context, enroll):
    staff = await enroll("thandi", "teller")
    device = Device()
    grant = await service_sign_in(context, staff, device)
    first = await refresh(context, refresh_request(context, device, grant.refresh_token))
    second = await refresh(context, refresh_request(context, device, first.refresh_token))
    assert len({grant.refresh_token, first.refresh_token, second.refresh_token}) == 3
    assert second.session_id == grant.session_id
    assert first.access.token != grant.access.token
    async with context.database.transaction() as connection:
        rows = (
            await connection.execute(
                select(refresh_tokens.c.token_hash, refresh_tokens.c.generation, refresh_tokens.c.used_at)
                .where(refresh_tokens.c.session_id == grant.session_id)
                .order_by(refresh_tokens.c.generation)
            )
        ).all()
    assert [row.generation for row in rows] == [0, 1, 2]
    assert [row.used_at is not None for row in rows] == [True, True, False]
    # Only hashes are stored.
    assert rows[2].token_hash == refresh_token_hash(second.refresh_token)
    assert second.refresh_token.encode() not in b"".join(bytes(row.token_hash) for row in rows)


async def test_reusing_a_rotated_token_revokes_the_whole_family(context, enroll):
    staff = await enroll("thandi", "teller")
    device = Device()
    grant = await service_sign_in(context, staff, device)
    rotated = await refresh(context, refresh_request(context, device, grant.refresh_token))
    error = await refused(refresh(context, refresh_request(context, device, grant.refresh_token)))
    assert (error.status, error.code) == (401, "refresh_token_reused")
    state = await session_state(context, grant.session_id)
    assert state.revoke_reason == "token_reuse"
    # The newest token of the family is dead too, and so is the access token.
    error = await refused(refresh(context, refresh_request(context, device, rotated.refresh_token)))
    assert error.code == "session_revoked"
    authenticator = Authenticator(context.database, context.codec, context.clock)
    assert (await refused(authenticator.authenticate(rotated.access.token))).code == "session_revoked"
    assert ("token_reuse", "token_reuse") in await event_kinds(context)


async def test_two_concurrent_uses_of_one_token_let_exactly_one_through(context, enroll):
    staff = await enroll("thandi", "teller")
    device = Device()
    grant = await service_sign_in(context, staff, device)
    requests = [refresh_request(context, device, grant.refresh_token) for _ in range(2)]
    results = await asyncio.gather(
        *(refresh(context, request) for request in requests), return_exceptions=True
    )
    errors = [result for result in results if isinstance(result, HTTPError)]
    assert len(errors) == 1
    assert errors[0].code == "refresh_token_reused"
    assert (await session_state(context, grant.session_id)).revoked_at is not None


async def test_a_token_presented_by_another_device_ends_the_session(context, enroll, clock):
    staff = await enroll("thandi", "teller")
    laptop, desktop = Device(), Device()
    grant = await service_sign_in(context, staff, laptop)
    clock.advance(seconds=30)
    await service_sign_in(context, staff, desktop)
    error = await refused(refresh(context, refresh_request(context, desktop, grant.refresh_token)))
    assert (error.status, error.code) == (401, "device_mismatch")
    assert (await session_state(context, grant.session_id)).revoke_reason == "device_mismatch"
    assert ("device_proof_failed", "device_mismatch") in await event_kinds(context)


async def test_a_proof_signed_with_another_key_ends_the_session(context, enroll):
    staff = await enroll("thandi", "teller")
    laptop = Device()
    grant = await service_sign_in(context, staff, laptop)
    thief = Device()
    request = refresh_request(context, thief, grant.refresh_token, device_id=laptop.device_id)
    error = await refused(refresh(context, request))
    assert error.code == "invalid_device_proof"
    assert (await session_state(context, grant.session_id)).revoke_reason == "proof_failed"


async def test_a_proof_for_another_refresh_token_does_not_hold(context, enroll, clock):
    staff = await enroll("thandi", "teller")
    device = Device()
    grant = await service_sign_in(context, staff, device)
    clock.advance(seconds=30)
    other = await service_sign_in(context, staff, device)
    signed_for_other = refresh_request(context, device, other.refresh_token)
    request = type(signed_for_other)(grant.refresh_token, signed_for_other.proof, None)
    assert (await refused(refresh(context, request))).code == "invalid_device_proof"


async def test_an_unknown_token_is_refused(context, enroll):
    staff = await enroll("thandi", "teller")
    device = Device()
    await service_sign_in(context, staff, device)
    error = await refused(refresh(context, refresh_request(context, device, "krt1_" + "A" * 43)))
    assert (error.status, error.code) == (401, "invalid_refresh_token")


async def test_an_idle_session_ends(context, enroll, clock):
    staff = await enroll("thandi", "teller")
    device = Device()
    grant = await service_sign_in(context, staff, device)
    clock.advance(minutes=29)
    grant = await refresh(context, refresh_request(context, device, grant.refresh_token))
    clock.advance(minutes=30)
    error = await refused(refresh(context, refresh_request(context, device, grant.refresh_token)))
    assert (error.status, error.code) == (401, "session_expired")
    assert (await session_state(context, grant.session_id)).revoke_reason == "idle"


async def test_a_session_ends_after_a_shift_however_active(context, enroll, clock):
    staff = await enroll("thandi", "teller")
    device = Device()
    grant = await service_sign_in(context, staff, device)
    started = clock()
    while clock() - started < grant.session_expires_at - started - context.policy.idle_timeout / 2:
        clock.advance(minutes=10)
        grant = await refresh(context, refresh_request(context, device, grant.refresh_token))
    clock.now = grant.session_expires_at
    error = await refused(refresh(context, refresh_request(context, device, grant.refresh_token)))
    assert error.code == "session_expired"
    assert grant.offline_unlock_until == started + context.policy.offline_unlock


async def test_revoked_devices_disabled_users_and_signed_out_sessions_cannot_refresh(context, enroll, clock):
    staff = await enroll("thandi", "teller")
    first, second, third = Device(), Device(), Device()
    by_device = await service_sign_in(context, staff, first)
    clock.advance(seconds=30)
    signed_out = await service_sign_in(context, staff, second)
    clock.advance(seconds=30)
    await sign_out(
        context,
        session_id=signed_out.session_id,
        user_id=staff.user_id,
        device_id=signed_out.device.id,
        client=None,
    )
    assert (
        await refused(refresh(context, refresh_request(context, second, signed_out.refresh_token)))
    ).code == ("session_revoked")
    async with context.database.transaction(write=True) as connection:
        await revoke_device(connection, by_device.device.id, actor_id=None, now=clock())
    error = await refused(refresh(context, refresh_request(context, first, by_device.refresh_token)))
    assert error.code == "device_revoked"
    by_user = await service_sign_in(context, staff, third)
    async with context.database.transaction(write=True) as connection:
        await set_active(connection, staff.user_id, False, actor=Actor.cli(), now=clock())
    assert (await refused(refresh(context, refresh_request(context, third, by_user.refresh_token)))).code == (
        "session_revoked"
    )
