"""Sign-in through the service with an injected clock: same answer and same work for every
failure, TOTP replay, lockout and its expiry, rehash on login, devices and recovery codes."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import uuid

import pytest
from argon2 import extract_parameters
from sqlalchemy import select, update

from server.auth import totp
from server.auth.accounts import Actor, set_active
from server.auth.context import AuthContext, AuthPolicy, DeviceProof
from server.auth.devices import revoke_device
from server.auth.passwords import Argon2Hasher, Argon2Parameters
from server.auth.proof import ProofAction, proof_message
from server.auth.signin import SignInRequest, sign_in
from server.auth.tables import security_events, users
from server.config import Settings
from server.http.errors import HTTPError
from shared.crypto import generate_private_key, public_key_to_raw, sign


class Key:
    def __init__(self) -> None:
        self.private = generate_private_key()
        self.public = public_key_to_raw(self.private)
        self.device_id: uuid.UUID | None = None

    def proof(self, context: AuthContext, nonce: str | None = None) -> DeviceProof:
        nonce = nonce or context.codec.issue_nonce().token
        action = ProofAction.SIGN_IN if self.device_id else ProofAction.ENROLL
        message = proof_message(action=action, nonce=nonce, public_key=self.public, device_id=self.device_id)
        return DeviceProof(
            nonce=nonce,
            signature=sign(self.private, message),
            public_key=self.public,
            device_id=self.device_id,
            name=None if self.device_id else "Teller PC 3",
        )


async def attempt(
    context: AuthContext,
    staff,
    *,
    username: str | None = None,
    password: str | None = None,
    code: str | None = None,
    recovery_code: str | None = None,
    key: Key | None = None,
    client: str = "10.1.2.3",
):
    key = key or Key()
    if code is None and recovery_code is None:
        code = staff.code(at=context.clock())
    grant = await sign_in(
        context,
        SignInRequest(
            username=username if username is not None else staff.username,
            password=password if password is not None else staff.password,
            totp_code=code,
            recovery_code=recovery_code,
            proof=key.proof(context),
            client=client,
        ),
    )
    key.device_id = grant.device.id
    return grant


def with_settings(context: AuthContext, settings: Settings, **changes: int) -> AuthContext:
    changed = settings.model_copy(update=changes)
    return dataclasses.replace(context, policy=AuthPolicy.from_settings(changed))


async def refused(coroutine) -> HTTPError:
    with pytest.raises(HTTPError) as caught:
        await coroutine
    return caught.value


async def events(context: AuthContext) -> list:
    async with context.database.transaction() as connection:
        return list((await connection.execute(select(security_events).order_by(security_events.c.id))).all())


async def test_sign_in_enrolls_a_new_device_and_opens_a_session(context, enroll, clock):
    staff = await enroll("thandi", "teller")
    key = Key()
    grant = await attempt(context, staff, key=key)
    assert grant.account.username == "thandi"
    assert grant.device.public_key == key.public
    assert grant.device.name == "Teller PC 3"
    assert grant.session_expires_at == clock() + dt.timedelta(hours=12)
    assert grant.offline_unlock_until == clock() + dt.timedelta(hours=72)
    claims = context.codec.verify_access(grant.access.token)
    assert (claims.user_id, claims.device_id, claims.session_id) == (
        staff.user_id,
        grant.device.id,
        grant.session_id,
    )
    kinds = [(row.kind, row.outcome) for row in await events(context)]
    assert ("device_enrolled", "success") in kinds
    assert kinds[-1] == ("sign_in", "success")


async def test_every_failure_gets_the_same_answer_after_the_same_argon2_work(context, enroll, hasher, clock):
    staff = await enroll("thandi", "teller")
    async with context.database.transaction() as connection:
        real_hash = await connection.scalar(select(users.c.password_hash).where(users.c.id == staff.user_id))

    answers = {}
    cases = {
        "unknown user": {"username": "nobody-here"},
        "wrong password": {"password": "wrong password entirely"},
        "wrong code": {"code": "000000" if staff.code(at=clock()) != "000000" else "111111"},
        "unknown user with the code": {"username": "thandi2"},
    }
    for name, options in cases.items():
        hasher.verified.clear()
        clock.advance(seconds=61)
        error = await refused(attempt(context, staff, **options))
        answers[name] = (error.status, error.code, error.message, tuple(error.headers), error.body("id"))
        assert len(hasher.verified) == 1, name
        expected = hasher.dummy_hash if "unknown" in name else real_hash
        assert hasher.verified[0] == expected, name
    assert len(set(answers.values())) == 1
    assert answers["unknown user"][:2] == (401, "invalid_credentials")


async def test_a_user_without_a_password_yet_costs_the_dummy_hash(context, enroll, hasher):
    staff = await enroll("pending", "teller")
    async with context.database.transaction(write=True) as connection:
        await connection.execute(update(users).where(users.c.id == staff.user_id).values(password_hash=None))
    hasher.verified.clear()
    error = await refused(attempt(context, staff))
    assert error.code == "invalid_credentials"
    assert hasher.verified == [hasher.dummy_hash]


async def test_a_totp_code_is_accepted_once(context, enroll, clock):
    staff = await enroll("thandi", "teller")
    code = staff.code(at=clock())
    await attempt(context, staff, code=code)
    error = await refused(attempt(context, staff, code=code))
    assert error.code == "invalid_credentials"
    # An earlier step's code is refused once a later one was used.
    await attempt(context, staff, code=staff.code(1, at=clock()))
    error = await refused(attempt(context, staff, code=staff.code(0, at=clock())))
    assert error.code == "invalid_credentials"
    reasons = [
        row.reason for row in await events(context) if row.kind == "sign_in" and row.outcome == "failure"
    ]
    assert reasons == ["bad_credentials", "bad_credentials"]


async def test_codes_one_step_away_are_accepted_two_are_not(context, enroll, clock):
    staff = await enroll("thandi", "teller")
    await attempt(context, staff, code=staff.code(-1, at=clock()))
    await attempt(context, staff, code=staff.code(1, at=clock()))
    clock.advance(seconds=90)
    far = staff.code(2, at=clock())
    if far not in {staff.code(offset, at=clock()) for offset in (-1, 0, 1)}:
        assert (await refused(attempt(context, staff, code=far))).code == "invalid_credentials"


async def test_lockout_after_ten_failures_then_it_expires(context, enroll, clock):
    staff = await enroll("thandi", "teller")
    for _ in range(10):
        error = await refused(attempt(context, staff, password="not the password"))
        assert error.code == "invalid_credentials"
        clock.advance(seconds=61)  # past any delay, far from the 15 minutes
    error = await refused(attempt(context, staff))
    assert (error.status, error.code) == (429, "too_many_attempts")
    retry_after = int(dict(error.headers)["retry-after"])
    assert 15 * 60 - 9 * 61 - 1 <= retry_after <= 15 * 60
    kinds = [(row.kind, row.reason) for row in await events(context)]
    assert ("lockout", "too_many_failures") in kinds
    assert kinds[-1] == ("sign_in", "locked")

    clock.advance(seconds=retry_after)
    grant = await attempt(context, staff)
    assert grant.account.id == staff.user_id


async def test_delays_grow_before_the_lockout(context, enroll, clock):
    staff = await enroll("thandi", "teller")
    waits = []
    failures = 0
    while failures < 9:
        error = await refused(attempt(context, staff, password="wrong"))
        if error.status == 429:
            waits.append(int(dict(error.headers)["retry-after"]))
            clock.advance(seconds=waits[-1])
        else:
            failures += 1
    # Three failures cost nothing; then 1, 2, 4, ... seconds before the next attempt.
    assert waits == [1, 2, 4, 8, 16, 32]


async def test_an_unknown_username_is_throttled_exactly_like_a_real_one(context, enroll, clock):
    staff = await enroll("thandi", "teller")
    answers = {}
    for username in ("thandi", "ghost"):
        for _ in range(10):
            await refused(
                attempt(context, staff, username=username, password="wrong", client=f"10.9.{len(answers)}.1")
            )
            clock.advance(seconds=61)
        error = await refused(attempt(context, staff, username=username, client=f"10.9.{len(answers)}.1"))
        answers[username] = (error.status, error.code, dict(error.headers)["retry-after"])
    assert answers["thandi"] == answers["ghost"]
    assert answers["ghost"][:2] == (429, "too_many_attempts")


async def test_a_correct_password_during_lockout_is_refused_without_being_checked(
    context, enroll, clock, hasher
):
    staff = await enroll("thandi", "teller")
    for _ in range(10):
        await refused(attempt(context, staff, password="wrong"))
        clock.advance(seconds=61)
    hasher.verified.clear()
    assert (await refused(attempt(context, staff))).status == 429
    assert hasher.verified == []


async def test_never_more_than_the_hourly_cap_of_failures(context, settings, clock, enroll):
    context = with_settings(context, settings, lockout_failures=100, max_failures_per_hour=12)
    staff = await enroll("thandi", "teller")
    failures = 0
    for _ in range(40):
        error = await refused(attempt(context, staff, password="wrong"))
        if error.status == 429:
            wait = int(dict(error.headers)["retry-after"])
            if wait > 60:
                break
            clock.advance(seconds=wait)
            continue
        failures += 1
    assert failures == 12
    assert (await refused(attempt(context, staff, password="wrong"))).status == 429
    clock.advance(hours=1)
    assert (await refused(attempt(context, staff, password="wrong"))).code == "invalid_credentials"


async def test_one_address_guessing_many_usernames_is_slowed_down(context, settings, enroll):
    context = with_settings(context, settings, address_free_failures=5)
    staff = await enroll("thandi", "teller")
    for index in range(5):
        await refused(attempt(context, staff, username=f"guess{index}", password="wrong", client="192.0.2.7"))
    error = await refused(attempt(context, staff, client="192.0.2.7"))
    assert (error.status, error.code) == (429, "too_many_attempts")
    # Another address is not affected.
    assert (await attempt(context, staff, client="192.0.2.8")).account.id == staff.user_id


async def test_a_successful_sign_in_clears_the_username_counter(context, enroll, clock):
    staff = await enroll("thandi", "teller")
    for _ in range(9):
        await refused(attempt(context, staff, password="wrong"))
        clock.advance(seconds=61)
    await attempt(context, staff)
    clock.advance(seconds=61)
    for _ in range(9):
        error = await refused(attempt(context, staff, password="wrong"))
        assert error.code == "invalid_credentials"
        clock.advance(seconds=61)


async def test_a_hash_with_old_costs_is_replaced_at_sign_in(context, enroll):
    staff = await enroll("thandi", "teller")
    stronger = Argon2Hasher(Argon2Parameters(memory_kib=19456 * 2, time_cost=2, parallelism=1))
    context = dataclasses.replace(context, hasher=stronger)
    await attempt(context, staff)
    async with context.database.transaction() as connection:
        stored = await connection.scalar(select(users.c.password_hash).where(users.c.id == staff.user_id))
    assert extract_parameters(stored).memory_cost == 19456 * 2
    assert await stronger.verify(stored, staff.password)


async def test_a_recovery_code_works_once_instead_of_a_totp_code(context, enroll):
    staff = await enroll("thandi", "teller")
    code = staff.recovery_codes[3]
    grant = await attempt(context, staff, recovery_code=code.upper())
    assert grant.recovery_codes_left == 9
    assert (await refused(attempt(context, staff, recovery_code=code))).code == "invalid_credentials"
    kinds = [row.kind for row in await events(context)]
    assert "recovery_code_used" in kinds


async def test_a_disabled_account_is_named_only_to_someone_with_both_factors(context, enroll, clock):
    staff = await enroll("thandi", "teller")
    async with context.database.transaction(write=True) as connection:
        await set_active(connection, staff.user_id, False, actor=Actor.cli(), now=clock())
    assert (await refused(attempt(context, staff, password="wrong"))).code == "invalid_credentials"
    clock.advance(seconds=61)
    error = await refused(attempt(context, staff))
    assert (error.status, error.code) == (403, "account_disabled")


async def test_a_revoked_device_is_told_so_and_the_code_is_not_spent(context, enroll, clock):
    staff = await enroll("thandi", "teller")
    key = Key()
    await attempt(context, staff, key=key)
    async with context.database.transaction(write=True) as connection:
        assert key.device_id is not None
        await revoke_device(connection, key.device_id, actor_id=None, now=clock())
    clock.advance(seconds=30)
    code = staff.code(at=clock())
    error = await refused(attempt(context, staff, key=key, code=code))
    assert (error.status, error.code) == (401, "device_revoked")
    fresh = Key()
    grant = await attempt(context, staff, key=fresh, code=code)
    assert grant.device.id != key.device_id


async def test_another_users_device_or_a_mismatched_key_is_refused(context, enroll, clock):
    thandi = await enroll("thandi", "teller")
    sipho = await enroll("sipho", "supervisor")
    thandis = Key()
    await attempt(context, thandi, key=thandis)
    impostor = Key()
    impostor.device_id = thandis.device_id
    clock.advance(seconds=30)
    assert (await refused(attempt(context, sipho, key=impostor))).code == "invalid_device_proof"
    clock.advance(seconds=30)
    assert (await refused(attempt(context, thandi, key=impostor))).code == "invalid_device_proof"
    clock.advance(seconds=30)
    reuse = Key()
    reuse.private, reuse.public = thandis.private, thandis.public
    assert (await refused(attempt(context, sipho, key=reuse))).code == "device_key_in_use"


async def test_a_nonce_is_single_use_short_lived_and_must_be_signed(context, enroll, clock):
    staff = await enroll("thandi", "teller")
    key = Key()
    nonce = context.codec.issue_nonce().token
    proof = key.proof(context, nonce)
    request = SignInRequest(staff.username, staff.password, staff.code(at=clock()), None, proof, "10.0.0.1")
    await sign_in(context, request)
    assert (await refused(sign_in(context, request))).code == "invalid_device_proof"

    late = context.codec.issue_nonce().token
    clock.advance(minutes=3)
    stale = SignInRequest(
        staff.username, staff.password, staff.code(at=clock()), None, Key().proof(context, late), None
    )
    assert (await refused(sign_in(context, stale))).code == "invalid_device_proof"

    forged = Key().proof(context)
    bad = DeviceProof(forged.nonce, bytes(64), forged.public_key, None, "x")
    request = SignInRequest(staff.username, staff.password, staff.code(at=clock()), None, bad, None)
    assert (await refused(sign_in(context, request))).code == "invalid_device_proof"


async def test_security_events_and_logs_carry_no_secrets(context, enroll, clock, caplog):
    staff = await enroll("thandi", "teller")
    caplog.set_level(logging.INFO, logger="kluis.security")
    await refused(attempt(context, staff, password="Sup3r-secret-guess"))
    await refused(attempt(context, staff, username="Sup3r-secret-in-username"))
    clock.advance(seconds=61)
    code = staff.code(at=clock())
    grant = await attempt(context, staff, code=code)
    secrets = [
        staff.password,
        "Sup3r-secret-guess",
        "Sup3r-secret-in-username",
        code,
        "thandi",
        staff.totp_secret,
    ]
    secrets += [grant.refresh_token, grant.access.token]
    rows = await events(context)
    assert rows
    for row in rows:
        text = repr(tuple(row)).lower()
        for secret in secrets:
            assert secret.lower() not in text
    logged = "\n".join(f"{record.getMessage()} {getattr(record, 'fields', '')}" for record in caplog.records)
    assert "security event" in logged
    for secret in secrets:
        assert secret.lower() not in logged.lower()


async def test_every_step_of_one_window_can_be_used_in_order(context, enroll, clock):
    staff = await enroll("thandi", "teller")
    current = totp.time_step(clock())
    for offset in (-1, 0, 1):
        await attempt(context, staff, code=totp.code_at(staff.totp_secret, current + offset))
