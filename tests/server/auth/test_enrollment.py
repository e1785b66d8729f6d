"""First sign-in with an enrollment code, and enrollment again after an MFA reset."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from server.auth import totp
from server.auth.accounts import Actor, branch_by_code, create_account, create_branch, reset_mfa, set_active
from server.auth.enrollment import CompleteEnrollment, complete_enrollment, start_enrollment
from server.auth.tables import enrollment_codes, users
from server.http.errors import HTTPError
from testkit.auth import Device, Staff, service_sign_in

NEW_PASSWORD = "a brand new passphrase"


async def refused(coroutine) -> HTTPError:
    with pytest.raises(HTTPError) as caught:
        await coroutine
    return caught.value


async def new_account(context, clock, username="nomsa", roles=("teller",)):
    async with context.database.transaction(write=True) as connection:
        branch = await branch_by_code(connection, "JHB01")
        if branch is None:
            branch = await create_branch(
                connection, code="JHB01", name="Jhb", region="Gauteng", actor=Actor.cli(), now=clock()
            )
        return await create_account(
            connection,
            username=username,
            display_name="Nomsa",
            branch_id=branch.id,
            roles=list(roles),
            enrollment_lifetime=dt.timedelta(hours=72),
            actor=Actor.cli(),
            now=clock(),
        )


def completion(context, username, code, secret, device, *, password=NEW_PASSWORD, totp_code=None):
    return CompleteEnrollment(
        username=username,
        code=code,
        new_password=password,
        totp_code=totp_code or totp.code_for_time(secret, context.clock()),
        proof=device.device_proof(context.codec.issue_nonce().token),
        client="10.0.0.5",
    )


async def test_first_sign_in_sets_password_enrolls_totp_and_device_and_returns_recovery_codes(context, clock):
    account, code = await new_account(context, clock)
    assert account.enrollment_pending
    assert not account.mfa_enrolled
    started = await start_enrollment(context, "Nomsa", code.code, "10.0.0.5")
    assert started.otpauth_uri.startswith("otpauth://totp/Kluis:nomsa?")
    again = await start_enrollment(context, "nomsa", code.code.upper(), "10.0.0.5")
    assert again.totp_secret == started.totp_secret

    device = Device()
    grant = await complete_enrollment(
        context, completion(context, "nomsa", code.code, started.totp_secret, device)
    )
    assert len(grant.recovery_codes or []) == 10
    assert grant.recovery_codes_left == 10
    assert grant.account.mfa_enrolled
    assert not grant.account.enrollment_pending
    assert grant.device.public_key == device.public_key
    device.device_id = grant.device.id

    # The code is spent; the account signs in like any other from now on.
    assert (
        await refused(start_enrollment(context, "nomsa", code.code, None))
    ).code == "invalid_enrollment_code"
    clock.advance(seconds=30)
    staff = Staff(
        account.id, "nomsa", NEW_PASSWORD, started.totp_secret, grant.recovery_codes or [], ("teller",)
    )
    assert (await service_sign_in(context, staff, device)).device.id == grant.device.id
    async with context.database.transaction() as connection:
        stored = (await connection.execute(select(users).where(users.c.id == account.id))).one()
    assert stored.password_hash.startswith("$argon2id$")
    assert started.totp_secret.encode() not in bytes(stored.totp_secret)


async def test_wrong_code_and_unknown_user_look_the_same(context, clock):
    _, code = await new_account(context, clock)
    wrong = await refused(start_enrollment(context, "nomsa", "aaaaa-bbbbb-ccccc-ddddd", None))
    unknown = await refused(start_enrollment(context, "nobody", code.code, None))
    assert (wrong.status, wrong.code, wrong.message) == (unknown.status, unknown.code, unknown.message)
    assert wrong.code == "invalid_enrollment_code"


async def test_an_enrollment_code_expires(context, clock):
    _, code = await new_account(context, clock)
    clock.advance(hours=72)
    assert (
        await refused(start_enrollment(context, "nomsa", code.code, None))
    ).code == "invalid_enrollment_code"


async def test_completion_checks_policy_totp_and_order(context, clock):
    _, code = await new_account(context, clock)
    device = Device()
    early = await refused(
        complete_enrollment(context, completion(context, "nomsa", code.code, totp.new_secret(), device))
    )
    assert (early.status, early.code) == (409, "enrollment_not_started")
    started = await start_enrollment(context, "nomsa", code.code, None)
    weak = await refused(
        complete_enrollment(
            context,
            completion(context, "nomsa", code.code, started.totp_secret, device, password="nomsa1234567"),
        )
    )
    assert (weak.status, weak.code) == (422, "weak_password")
    assert [detail.type for detail in weak.details] == ["contains_username"]
    assert all(detail.loc == "body.new_password" for detail in weak.details)
    wrong_totp = await refused(
        complete_enrollment(
            context, completion(context, "nomsa", code.code, started.totp_secret, device, totp_code="000000")
        )
    )
    assert wrong_totp.code == "invalid_mfa_code"
    # None of the refusals spent the code.
    async with context.database.transaction() as connection:
        assert await connection.scalar(select(enrollment_codes.c.user_id)) is not None
    assert await complete_enrollment(
        context, completion(context, "nomsa", code.code, started.totp_secret, device)
    )


async def test_an_mfa_reset_forces_enrollment_again(context, enroll, clock):
    staff = await enroll("thandi", "teller")
    device = Device()
    grant = await service_sign_in(context, staff, device)
    async with context.database.transaction(write=True) as connection:
        code = await reset_mfa(
            connection,
            staff.user_id,
            enrollment_lifetime=dt.timedelta(hours=1),
            actor=Actor.cli(),
            now=clock(),
        )
    clock.advance(seconds=30)
    # Password, TOTP and recovery codes are all forgotten; the session is over.
    assert (await refused(service_sign_in(context, staff, Device()))).code == "invalid_credentials"
    from server.auth.authorizer import Authenticator

    authenticator = Authenticator(context.database, context.codec, context.clock)
    assert (await refused(authenticator.authenticate(grant.access.token))).code == "session_revoked"
    started = await start_enrollment(context, "thandi", code.code, None)
    assert started.totp_secret != staff.totp_secret
    fresh = Device()
    enrolled = await complete_enrollment(
        context, completion(context, "thandi", code.code, started.totp_secret, fresh)
    )
    assert enrolled.account.id == staff.user_id


async def test_a_disabled_account_cannot_enroll(context, clock):
    account, code = await new_account(context, clock)
    async with context.database.transaction(write=True) as connection:
        await set_active(connection, account.id, False, actor=Actor.cli(), now=clock())
    error = await refused(start_enrollment(context, "nomsa", code.code, None))
    assert (error.status, error.code) == (403, "account_disabled")
