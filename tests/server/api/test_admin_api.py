"""The admin workspace's API over TLS on both backends: accounts, MFA resets, devices,
branches, roles and security events."""

from __future__ import annotations

import uuid

import pytest

from server.auth.permissions import RULES, Role
from testkit.auth import Device, error_code


@pytest.fixture
def admin(auth, make_staff):
    staff = make_staff("adri", "admin", branch_code="HO")
    session = auth.session(staff)
    return staff, session["access_token"]


def test_accounts_are_listed_created_disabled_and_enabled(auth, admin, make_staff):
    _, token = admin
    make_staff("thandi", "teller", branch_code="JHB01")
    listed = auth.get("/api/v1/admin/users", token)
    assert listed.status_code == 200
    assert [user["username"] for user in listed.json()["users"]] == ["adri", "thandi"]

    branches = {
        branch["code"]: branch for branch in auth.get("/api/v1/admin/branches", token).json()["branches"]
    }
    created = auth.post(
        "/api/v1/admin/users",
        token,
        json={
            "username": "Sipho.K",
            "display_name": "Sipho Khumalo",
            "branch_id": branches["JHB01"]["id"],
            "roles": ["supervisor", "teller"],
        },
    )
    assert created.status_code == 201
    user = created.json()["user"]
    assert (user["username"], user["roles"], user["enrollment_pending"]) == (
        "sipho.k",
        ["supervisor", "teller"],
        True,
    )
    assert len(created.json()["enrollment_code"]) == 23

    again = auth.post(
        "/api/v1/admin/users",
        token,
        json={
            "username": "sipho.k",
            "display_name": "X",
            "branch_id": branches["HO"]["id"],
            "roles": ["teller"],
        },
    )
    assert (again.status_code, error_code(again)) == (409, "username_taken")
    for bad in (
        {"username": "sipho2", "display_name": "X", "branch_id": str(uuid.uuid4()), "roles": ["teller"]},
        {"username": "sipho2", "display_name": "X", "branch_id": branches["HO"]["id"], "roles": ["root"]},
        {"username": "sipho2", "display_name": "X", "branch_id": branches["HO"]["id"], "roles": []},
        {
            "username": "no spaces",
            "display_name": "X",
            "branch_id": branches["HO"]["id"],
            "roles": ["teller"],
        },
    ):
        assert auth.post("/api/v1/admin/users", token, json=bad).status_code == 422

    in_jhb = auth.get("/api/v1/admin/users", token, params={"branch_id": branches["JHB01"]["id"]})
    assert [user["username"] for user in in_jhb.json()["users"]] == ["sipho.k", "thandi"]

    user_id = user["id"]
    assert auth.get(f"/api/v1/admin/users/{user_id}", token).json()["display_name"] == "Sipho Khumalo"
    assert auth.post(f"/api/v1/admin/users/{user_id}/disable", token).json()["active"] is False
    inactive = auth.get("/api/v1/admin/users", token, params={"active": "false"}).json()["users"]
    assert [user["username"] for user in inactive] == ["sipho.k"]
    assert auth.post(f"/api/v1/admin/users/{user_id}/enable", token).json()["active"] is True
    missing = auth.get(f"/api/v1/admin/users/{uuid.uuid4()}", token)
    assert (missing.status_code, error_code(missing)) == (404, "user_not_found")


def test_an_administrator_cannot_disable_or_reset_themselves(auth, admin):
    admin_staff, token = admin
    for action in ("disable", "reset-mfa"):
        response = auth.post(f"/api/v1/admin/users/{admin_staff.user_id}/{action}", token)
        assert (response.status_code, error_code(response)) == (409, "cannot_change_self")


def test_an_mfa_reset_ends_sessions_and_issues_a_new_code(auth, admin, make_staff):
    _, token = admin
    teller = make_staff("thandi", "teller")
    session = auth.session(teller)
    reset = auth.post(f"/api/v1/admin/users/{teller.user_id}/reset-mfa", token)
    assert reset.status_code == 200
    assert reset.json()["user"]["mfa_enrolled"] is False
    assert reset.json()["user"]["enrollment_pending"] is True
    assert error_code(auth.get("/api/v1/auth/me", session["access_token"])) == "session_revoked"
    assert (
        error_code(auth.sign_in(teller, Device(), recovery_code=teller.recovery_codes[0]))
        == "invalid_credentials"
    )
    started = auth.http.post(
        "/api/v1/auth/enrollment/start",
        json={"username": "thandi", "enrollment_code": reset.json()["enrollment_code"]},
    )
    assert started.status_code == 200


def test_devices_are_listed_and_revoked(auth, admin, make_staff):
    _, token = admin
    teller = make_staff("thandi", "teller")
    device = Device(name="Front desk")
    auth.session(teller, device)
    listed = auth.get("/api/v1/admin/devices", token, params={"user_id": str(teller.user_id)}).json()[
        "devices"
    ]
    assert [(item["name"], item["active"]) for item in listed] == [("Front desk", True)]
    assert len(auth.get("/api/v1/admin/devices", token).json()["devices"]) == 2
    first = auth.post(f"/api/v1/admin/devices/{device.device_id}/revoke", token)
    second = auth.post(f"/api/v1/admin/devices/{device.device_id}/revoke", token)
    assert first.status_code == second.status_code == 200
    assert first.json()["revoked_at"] == second.json()["revoked_at"]
    missing = auth.post(f"/api/v1/admin/devices/{uuid.uuid4()}/revoke", token)
    assert (missing.status_code, error_code(missing)) == (404, "device_not_found")
    events = auth.get("/api/v1/security-events", token, params={"kind": "device_revoked"}).json()["events"]
    assert len(events) == 1
    assert events[0]["device_id"] == str(device.device_id)


def test_branches_and_roles(auth, admin):
    _, token = admin
    created = auth.post(
        "/api/v1/admin/branches", token, json={"code": "pta01", "name": "Pretoria", "region": "Gauteng"}
    )
    assert created.status_code == 201
    assert created.json()["code"] == "PTA01"
    duplicate = auth.post(
        "/api/v1/admin/branches", token, json={"code": "PTA01", "name": "Again", "region": "Gauteng"}
    )
    assert (duplicate.status_code, error_code(duplicate)) == (409, "branch_code_taken")
    codes = [branch["code"] for branch in auth.get("/api/v1/admin/branches", token).json()["branches"]]
    assert codes == ["HO", "PTA01"]
    roles = {role["name"]: role for role in auth.get("/api/v1/admin/roles", token).json()["roles"]}
    assert set(roles) == {role.value for role in Role}
    for role in Role:
        expected = {permission.value for permission, rule in RULES.items() if role in rule.roles}
        assert {permission["name"] for permission in roles[role.value]["permissions"]} == expected


def test_security_events_are_paged_newest_first_and_filtered(auth, admin, make_staff):
    _, token = admin
    teller = make_staff("thandi", "teller")
    auth.sign_in(teller, Device(), password="wrong one")
    auth.session(teller)
    page = auth.get("/api/v1/security-events", token, params={"limit": 2}).json()["events"]
    assert len(page) == 2
    assert page[0]["sequence"] > page[1]["sequence"]
    older = auth.get("/api/v1/security-events", token, params={"before": page[1]["sequence"]}).json()[
        "events"
    ]
    assert all(event["sequence"] < page[1]["sequence"] for event in older)
    mine = auth.get("/api/v1/security-events", token, params={"user_id": str(teller.user_id)}).json()[
        "events"
    ]
    kinds = [(event["kind"], event["outcome"], event["reason"]) for event in mine]
    assert ("sign_in", "failure", "bad_credentials") in kinds
    assert ("sign_in", "success", "totp") in kinds
    assert all(event["client_address"] == "127.0.0.1" for event in mine if event["source"] == "api")
    bad = auth.get("/api/v1/security-events", token, params={"kind": "made_up"})
    assert bad.status_code == 422
