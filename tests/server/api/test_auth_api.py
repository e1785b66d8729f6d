"""The identity API over real TLS on SQLite and PostgreSQL: sign-in, enrollment, refresh,
sign-out, device binding, revocation on the next request, and no enumeration."""

from __future__ import annotations

import base64
import datetime as dt
import logging
import threading
import uuid

import httpx
import pytest

from server.auth import totp
from server.tls import client_context
from testkit.auth import AuthClient, Device, Staff, error_code, provision
from testkit.servers import RunningServer


def without_request_id(response: httpx.Response) -> dict:
    body = response.json()
    body["error"].pop("request_id")
    return body


def test_sign_in_me_refresh_and_sign_out(auth, make_staff):
    staff = make_staff("thandi", "teller")
    device = Device(name="Teller desk 2")
    response = auth.sign_in(staff, device)
    assert response.status_code == 200
    session = response.json()
    assert session["token_type"] == "Bearer"
    assert session["expires_in"] in range(295, 301)
    assert session["idle_timeout_seconds"] == 1800
    assert session["offline_unlock_hours"] == 72
    assert session["user"]["username"] == "thandi"
    assert session["user"]["roles"] == ["teller"]
    assert session["device"]["name"] == "Teller desk 2"
    assert "transactions.capture" in session["permissions"]
    assert session["recovery_codes"] is None
    assert session["refresh_token"].startswith("krt1_")
    assert response.headers["cache-control"] == "no-store"

    me = auth.get("/api/v1/auth/me", session["access_token"])
    assert me.status_code == 200
    assert me.json()["user"]["id"] == str(staff.user_id)
    assert me.json()["device_id"] == session["device"]["id"]
    assert me.json()["recovery_codes_left"] == 10

    refreshed = auth.refresh(session["refresh_token"], device)
    assert refreshed.status_code == 200
    assert refreshed.json()["session_id"] == session["session_id"]
    assert refreshed.json()["refresh_token"] != session["refresh_token"]
    token = refreshed.json()["access_token"]
    assert auth.get("/api/v1/auth/me", token).status_code == 200

    signed_out = auth.post("/api/v1/auth/sign-out", token)
    assert signed_out.status_code == 204
    after = auth.get("/api/v1/auth/me", token)
    assert (after.status_code, error_code(after)) == (401, "session_revoked")
    again = auth.refresh(refreshed.json()["refresh_token"], device)
    assert (again.status_code, error_code(again)) == (401, "session_revoked")


def test_unknown_user_and_wrong_password_are_indistinguishable(auth, make_staff):
    staff = make_staff("thandi", "teller")
    unknown = auth.sign_in(staff, Device(), username="nobody.here")
    wrong = auth.sign_in(staff, Device(), password="a wrong password")
    wrong_code = auth.sign_in(staff, Device(), code="000000" if staff.code() != "000000" else "111111")
    assert unknown.status_code == wrong.status_code == wrong_code.status_code == 401
    assert without_request_id(unknown) == without_request_id(wrong) == without_request_id(wrong_code)
    assert error_code(unknown) == "invalid_credentials"
    for header in ("content-type", "www-authenticate", "retry-after"):
        assert unknown.headers.get(header) == wrong.headers.get(header)


def test_a_totp_code_signs_in_once_even_when_sent_twice_at_once(auth, auth_server, make_staff):
    staff = make_staff("thandi", "teller")
    code = staff.next_code()
    assert auth.sign_in(staff, Device(), code=code).status_code == 200
    replay = auth.sign_in(staff, Device(), code=code)
    assert (replay.status_code, error_code(replay)) == (401, "invalid_credentials")

    racer = make_staff("racer", "teller")
    code = racer.next_code()
    statuses: list[int] = []

    def race() -> None:
        with httpx.Client(base_url=auth_server.base_url, verify=client_context(auth_server.ca_file)) as http:
            statuses.append(AuthClient(http).sign_in(racer, Device(), code=code).status_code)

    threads = [threading.Thread(target=race) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(statuses) == [200, 401]


@pytest.fixture
def strict_server(tmp_path, database_url):
    from testkit.auth import FAST_ARGON2
    from testkit.servers import server_settings

    settings = server_settings(tmp_path, database_url, lockout_failures=3, **FAST_ARGON2)
    server = RunningServer(settings)
    yield server, settings
    server.stop()


def test_three_failures_lock_the_account_for_fifteen_minutes(strict_server):
    server, settings = strict_server
    staff = provision(settings, "thandi", ("teller",))
    with httpx.Client(base_url=server.base_url, verify=client_context(server.ca_file)) as http:
        auth = AuthClient(http)
        for _ in range(3):
            assert error_code(auth.sign_in(staff, Device(), password="wrong guess")) == "invalid_credentials"
        locked = auth.sign_in(staff, Device())
        assert (locked.status_code, error_code(locked)) == (429, "too_many_attempts")
        assert 890 <= int(locked.headers["retry-after"]) <= 900
        for _ in range(3):
            assert (
                error_code(auth.sign_in(staff, Device(), username="ghost", password="x"))
                == "invalid_credentials"
            )
        ghost = auth.sign_in(staff, Device(), username="ghost")
        assert (ghost.status_code, error_code(ghost)) == (429, "too_many_attempts")
        assert 890 <= int(ghost.headers["retry-after"]) <= 900
        # The address is not locked: another user still gets in.
        assert auth.sign_in(provision(settings, "sipho", ("teller",)), Device()).status_code == 200


def test_first_sign_in_with_an_enrollment_code(auth, make_staff):
    admin = make_staff("adri", "admin", branch_code="HO")
    admin_token = auth.session(admin)["access_token"]
    branches = auth.get("/api/v1/admin/branches", admin_token).json()["branches"]
    created = auth.post(
        "/api/v1/admin/users",
        admin_token,
        json={
            "username": "nomsa",
            "display_name": "Nomsa Dlamini",
            "branch_id": branches[0]["id"],
            "roles": ["teller"],
        },
    )
    assert created.status_code == 201
    code = created.json()["enrollment_code"]

    started = auth.http.post(
        "/api/v1/auth/enrollment/start", json={"username": "nomsa", "enrollment_code": code}
    )
    assert started.status_code == 200
    start = started.json()
    assert start["totp"] == {"algorithm": "SHA1", "digits": 6, "period": 30}
    assert start["password_policy"]["min_length"] == 12
    device = Device(name="Nomsa's PC")
    body = {
        "username": "nomsa",
        "enrollment_code": code,
        "new_password": "password1234",
        "totp_code": totp.code_for_time(start["totp_secret"], dt.datetime.now(dt.UTC)),
        "device": device.proof(auth.challenge()),
    }
    weak = auth.http.post("/api/v1/auth/enrollment/complete", json=body)
    assert (weak.status_code, error_code(weak)) == (422, "weak_password")
    assert [detail["type"] for detail in weak.json()["error"]["details"]] == ["common"]
    assert "password1234" not in weak.text

    body["new_password"] = "a long passphrase of my own"
    body["device"] = device.proof(auth.challenge())
    done = auth.http.post("/api/v1/auth/enrollment/complete", json=body)
    assert done.status_code == 200, done.text
    session = done.json()
    assert len(session["recovery_codes"]) == 10
    assert session["user"]["mfa_enrolled"] is True
    device.device_id = uuid.UUID(session["device"]["id"])

    nomsa = Staff(
        uuid.UUID(session["user"]["id"]), "nomsa", body["new_password"], start["totp_secret"], [], ("teller",)
    )
    by_recovery = auth.sign_in(nomsa, device, recovery_code=session["recovery_codes"][0])
    assert by_recovery.status_code == 200
    assert by_recovery.json()["recovery_codes_left"] == 9
    spent = auth.http.post(
        "/api/v1/auth/enrollment/start", json={"username": "nomsa", "enrollment_code": code}
    )
    assert (spent.status_code, error_code(spent)) == (401, "invalid_enrollment_code")


def test_a_refresh_token_cannot_move_to_another_device(auth, make_staff):
    staff = make_staff("thandi", "teller")
    laptop, stolen_to = Device(), Device()
    session = auth.session(staff, laptop)
    auth.session(staff, stolen_to)
    moved = auth.refresh(session["refresh_token"], stolen_to)
    assert (moved.status_code, error_code(moved)) == (401, "device_mismatch")
    # Claiming to be the laptop without its key fails too, and the session is over either way.
    forged = auth.refresh(session["refresh_token"], stolen_to, device_id=laptop.device_id)
    assert forged.status_code == 401
    original = auth.refresh(session["refresh_token"], laptop)
    assert (original.status_code, error_code(original)) == (401, "session_revoked")
    assert error_code(auth.get("/api/v1/auth/me", session["access_token"])) == "session_revoked"


def test_reusing_a_refresh_token_ends_the_session(auth, make_staff):
    staff = make_staff("thandi", "teller")
    device = Device()
    session = auth.session(staff, device)
    rotated = auth.refresh(session["refresh_token"], device).json()
    reused = auth.refresh(session["refresh_token"], device)
    assert (reused.status_code, error_code(reused)) == (401, "refresh_token_reused")
    assert error_code(auth.get("/api/v1/auth/me", rotated["access_token"])) == "session_revoked"


def test_a_nonce_works_once(auth, make_staff):
    staff = make_staff("thandi", "teller")
    device = Device()
    session = auth.session(staff, device)
    nonce = auth.challenge()
    first = auth.refresh(session["refresh_token"], device, nonce=nonce)
    assert first.status_code == 200
    second = auth.refresh(first.json()["refresh_token"], device, nonce=nonce)
    assert (second.status_code, error_code(second)) == (401, "invalid_device_proof")
    # The refusal came before the token was looked at: the session is intact.
    assert auth.refresh(first.json()["refresh_token"], device).status_code == 200


def test_disabling_a_user_and_revoking_a_device_work_on_the_next_request(auth, make_staff):
    admin = make_staff("adri", "admin", branch_code="HO")
    admin_token = auth.session(admin)["access_token"]
    teller = make_staff("thandi", "teller")
    teller_device = Device()
    session = auth.session(teller, teller_device)
    assert auth.get("/api/v1/auth/me", session["access_token"]).status_code == 200

    disabled = auth.post(f"/api/v1/admin/users/{teller.user_id}/disable", admin_token)
    assert disabled.status_code == 200
    assert disabled.json()["active"] is False
    refused = auth.get("/api/v1/auth/me", session["access_token"])
    assert (refused.status_code, error_code(refused)) == (401, "session_revoked")
    assert auth.post(f"/api/v1/admin/users/{teller.user_id}/enable", admin_token).status_code == 200

    session = auth.session(teller, teller_device, recovery=True)
    assert auth.get("/api/v1/auth/me", session["access_token"]).status_code == 200
    revoked = auth.post(f"/api/v1/admin/devices/{teller_device.device_id}/revoke", admin_token)
    assert revoked.json()["active"] is False
    after = auth.get("/api/v1/auth/me", session["access_token"])
    assert (after.status_code, error_code(after)) == (401, "device_revoked")
    assert error_code(auth.refresh(session["refresh_token"], teller_device)) == "device_revoked"
    code = teller.recovery_codes[-1]
    assert error_code(auth.sign_in(teller, teller_device, recovery_code=code)) == "device_revoked"
    # The refusal did not spend the code; a wiped console enrolls a new key pair with it.
    assert auth.sign_in(teller, Device(), recovery_code=code).status_code == 200


def test_revocation_reaches_every_instance_sharing_the_database(auth_settings, auth_server, auth, make_staff):
    keys = auth_settings.data_dir / "keys"
    second_dir = auth_settings.data_dir / "second"
    second_settings = auth_settings.model_copy(
        update={
            "data_dir": second_dir,
            "token_signing_key_file": keys / "token-signing.pem",
            "mfa_secret_key_file": keys / "mfa-secrets.key",
        }
    )
    second = RunningServer(second_settings)
    try:
        with httpx.Client(base_url=second.base_url, verify=client_context(second.ca_file)) as http:
            other = AuthClient(http)
            admin = make_staff("adri", "admin", branch_code="HO")
            admin_token = other.session(admin)["access_token"]
            teller = make_staff("thandi", "teller")
            device = Device()
            session = auth.session(teller, device)
            # Tokens from one instance work on the other.
            assert other.get("/api/v1/auth/me", session["access_token"]).status_code == 200
            other.post(f"/api/v1/admin/devices/{device.device_id}/revoke", admin_token)
            refused = auth.get("/api/v1/auth/me", session["access_token"])
            assert (refused.status_code, error_code(refused)) == (401, "device_revoked")
    finally:
        second.stop()


def test_missing_malformed_and_forged_tokens(auth, make_staff):
    missing = auth.http.get("/api/v1/auth/me")
    assert (missing.status_code, error_code(missing)) == (401, "unauthenticated")
    assert missing.headers["www-authenticate"] == 'Bearer realm="kluis"'
    for header in ("Bearer", "Bearer not-a-token", "Basic dXNlcjpwYXNz", "Bearer a.b.c"):
        response = auth.http.get("/api/v1/auth/me", headers={"authorization": header})
        assert response.status_code == 401
        assert error_code(response) in {"invalid_token", "unauthenticated"}
    staff = make_staff("thandi", "teller")
    token = auth.session(staff)["access_token"]
    header, payload, _ = token.split(".")
    none_alg = base64.urlsafe_b64encode(b'{"alg":"none","typ":"at+jwt"}').rstrip(b"=").decode()
    assert error_code(auth.get("/api/v1/auth/me", f"{none_alg}.{payload}.")) == "invalid_token"
    assert error_code(auth.get("/api/v1/auth/me", f"{header}.{payload}.AAAA")) == "invalid_token"


def test_a_teller_is_forbidden_the_admin_api(auth, make_staff):
    token = auth.session(make_staff("thandi", "teller"))["access_token"]
    response = auth.get("/api/v1/admin/users", token)
    assert (response.status_code, error_code(response)) == (403, "forbidden")


def test_changing_the_password_and_replacing_recovery_codes(auth, make_staff):
    staff = make_staff("thandi", "teller")
    device, other_device = Device(), Device()
    session = auth.session(staff, device)
    other = auth.session(staff, other_device, recovery=True)
    token = session["access_token"]
    wrong = auth.post(
        "/api/v1/auth/password",
        token,
        json={"current_password": "nope", "new_password": "another good passphrase"},
    )
    assert (wrong.status_code, error_code(wrong)) == (400, "invalid_password")
    weak = auth.post(
        "/api/v1/auth/password",
        token,
        json={"current_password": staff.password, "new_password": "thandi-thandi-1"},
    )
    assert (weak.status_code, error_code(weak)) == (422, "weak_password")
    changed = auth.post(
        "/api/v1/auth/password",
        token,
        json={"current_password": staff.password, "new_password": "another good passphrase"},
    )
    assert changed.status_code == 204
    # This session carries on; the other one has ended.
    assert auth.get("/api/v1/auth/me", token).status_code == 200
    assert error_code(auth.get("/api/v1/auth/me", other["access_token"])) == "session_revoked"
    staff.password = "another good passphrase"

    codes = auth.post("/api/v1/auth/recovery-codes", token, json={"totp_code": staff.next_code()})
    assert codes.status_code == 200
    fresh = codes.json()["recovery_codes"]
    assert len(fresh) == 10
    assert not set(fresh) & set(staff.recovery_codes)
    assert (
        error_code(auth.sign_in(staff, device, recovery_code=staff.recovery_codes[0]))
        == "invalid_credentials"
    )
    assert auth.sign_in(staff, device, recovery_code=fresh[0]).status_code == 200


def test_bad_bodies_get_field_errors_that_do_not_echo_the_input(auth, make_staff):
    staff = make_staff("thandi", "teller")
    device = Device()
    body = {
        "username": staff.username,
        "password": "Hunter2-secret-value",
        "totp_code": "123456",
        "recovery_code": "abcde-fghjk-mnpqr-stuvw",
        "device": device.proof(auth.challenge()),
    }
    both = auth.http.post("/api/v1/auth/sign-in", json=body)
    assert (both.status_code, error_code(both)) == (422, "invalid_body")
    body.pop("recovery_code")
    body["device"] = {**device.proof(auth.challenge()), "public_key": "not base64!!"}
    bad_key = auth.http.post("/api/v1/auth/sign-in", json=body)
    assert bad_key.status_code == 422
    assert [detail["loc"] for detail in bad_key.json()["error"]["details"]] == ["body.device.public_key"]
    body["device"] = {**device.proof(auth.challenge()), "name": "Desk\x00\x1b[31m"}
    bad_name = auth.http.post("/api/v1/auth/sign-in", json=body)
    assert bad_name.status_code == 422
    assert [detail["loc"] for detail in bad_name.json()["error"]["details"]] == ["body.device.name"]
    for response in (both, bad_key, bad_name):
        assert "Hunter2" not in response.text
        assert "not base64" not in response.text


def test_no_secret_reaches_the_logs(auth, make_staff, caplog):
    caplog.set_level(logging.DEBUG)
    staff = make_staff("thandi", "teller")
    device = Device()
    code = staff.next_code()
    failed = auth.sign_in(staff, Device(), password="Guess-Me-Secret-1")
    assert failed.status_code == 401
    session = auth.sign_in(staff, device, code=code).json()
    refreshed = auth.refresh(session["refresh_token"], device).json()
    secrets = [
        staff.password,
        "Guess-Me-Secret-1",
        code,
        staff.totp_secret,
        session["access_token"],
        session["refresh_token"],
        refreshed["refresh_token"],
        refreshed["access_token"],
    ]
    from server.logs import JsonFormatter

    formatter = JsonFormatter()
    written = "\n".join(formatter.format(record) for record in caplog.records)
    assert "security event" in written
    for secret in secrets:
        assert secret not in written
