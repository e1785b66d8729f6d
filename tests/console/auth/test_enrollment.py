"""First sign-in with an enrollment code through the sign-in service: the password policy and
TOTP secret from the server, ten recovery codes, a new device and a new vault."""

from __future__ import annotations

import datetime as dt

import pyotp
import pytest

from console.auth.signin import EnrollmentForm, SignInForm
from console.net.errors import ServerHTTPError
from testkit.console import create_pending_account, device_count

NEW_PASSWORD = "kalahari sunrise over the karoo"


def code_for(secret: str, *, later: int = 0) -> str:
    return pyotp.TOTP(secret).at(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30 * later))


def test_enrollment_sets_the_password_enrolls_totp_and_the_device_and_makes_the_vault(
    run, harness, auth_server
):
    code = create_pending_account(auth_server.settings, "nomsa")

    async def scenario():
        started = await harness.service.start_enrollment(" Nomsa ", code)
        assert started.otpauth_uri.get_secret_value().startswith("otpauth://totp/Kluis:nomsa?")
        assert started.password_policy.min_length == 12
        assert "common" in started.password_policy.rules
        secret = started.totp_secret.get_secret_value()
        assert secret not in repr(started)

        with pytest.raises(ServerHTTPError) as weak:
            await harness.service.complete_enrollment(
                EnrollmentForm("nomsa", code, "password1234", code_for(secret), "Desk 1")
            )
        assert weak.value.code == "weak_password"

        signed = await harness.service.complete_enrollment(
            EnrollmentForm("nomsa", code, NEW_PASSWORD, code_for(secret), "Desk 1")
        )
        assert len(signed.recovery_codes) == 10
        assert all(codes not in repr(signed) for codes in signed.recovery_codes)
        session = signed.session
        assert session.online
        assert session.identity.username == "nomsa"
        assert (await session.request("GET", "/api/v1/auth/me")).status_code == 200
        await session.sign_out()

        # From now on it is an ordinary sign-in from this computer's device.
        again = await harness.service.sign_in(
            SignInForm("nomsa", NEW_PASSWORD, totp_code=code_for(secret, later=1))
        )
        assert again.session.identity.device_id == session.identity.device_id
        await again.session.sign_out()
        return session.identity.user_id

    user_id = run(scenario())
    assert device_count(auth_server.settings, user_id) == 1


def test_a_wrong_enrollment_code_is_refused(run, harness, auth_server):
    create_pending_account(auth_server.settings, "nomsa")

    async def scenario():
        with pytest.raises(ServerHTTPError) as refused:
            await harness.service.start_enrollment("nomsa", "WRONG-CODE")
        assert refused.value.code == "invalid_enrollment_code"

    run(scenario())
