"""The permission table: complete, and segregation of duties enforced by it."""

from __future__ import annotations

from dataclasses import replace

import pytest

from server.auth.permissions import (
    RULES,
    Permission,
    Role,
    SegregationError,
    check_table,
    is_permission,
    permissions_of,
)


def test_every_permission_has_a_rule_and_a_role():
    assert set(RULES) == set(Permission)
    assert all(rule.roles for rule in RULES.values())
    check_table()


def test_an_auditor_holds_nothing_that_changes_data():
    held = permissions_of([Role.AUDITOR])
    assert held
    assert not [permission for permission in held if RULES[permission].changes_data]
    assert held == {
        Permission.SESSION_SELF,
        Permission.AUDIT_READ,
        Permission.AUDIT_VERIFY,
        Permission.AUDIT_EXPORT,
        Permission.SECURITY_EVENTS_READ,
    }


def test_an_admin_holds_nothing_that_reads_personal_information():
    held = permissions_of([Role.ADMIN])
    assert not [permission for permission in held if RULES[permission].reads_personal_information]
    for permission in (
        Permission.CUSTOMERS_READ_BRANCH,
        Permission.CUSTOMERS_READ_ALL,
        Permission.CUSTOMERS_SEARCH,
        Permission.CUSTOMERS_REVEAL,
        Permission.TRANSACTIONS_READ,
        Permission.AUDIT_READ,
    ):
        assert permission not in held
    assert {Permission.USERS_MANAGE, Permission.MFA_RESET, Permission.DEVICES_MANAGE} <= held


def test_permissions_that_touch_customers_are_marked_as_reading_personal_information():
    for permission in Permission:
        if permission.value.startswith(("customers.", "transactions.", "consent.", "dsar.", "breach.")):
            assert RULES[permission].reads_personal_information, permission


def test_writes_are_marked_as_changing_data():
    for permission in Permission:
        action = permission.value.split(".")[1]
        if (
            action in {"create", "update", "capture", "approve", "manage"}
            or permission is Permission.MFA_RESET
        ):
            assert RULES[permission].changes_data, permission


def test_tellers_capture_and_supervisors_approve_never_the_same_role():
    capture = RULES[Permission.TRANSACTIONS_CAPTURE].roles
    approve = RULES[Permission.TRANSACTIONS_APPROVE].roles
    assert capture == {Role.TELLER}
    assert approve == {Role.SUPERVISOR}


def test_a_table_breaking_segregation_is_refused():
    broken = dict(RULES)
    broken[Permission.CUSTOMERS_UPDATE] = replace(
        RULES[Permission.CUSTOMERS_UPDATE], roles=RULES[Permission.CUSTOMERS_UPDATE].roles | {Role.AUDITOR}
    )
    with pytest.raises(SegregationError, match="auditors"):
        check_table(broken)
    broken = dict(RULES)
    broken[Permission.CUSTOMERS_REVEAL] = replace(
        RULES[Permission.CUSTOMERS_REVEAL], roles=RULES[Permission.CUSTOMERS_REVEAL].roles | {Role.ADMIN}
    )
    with pytest.raises(SegregationError, match="administrators"):
        check_table(broken)
    incomplete = {key: value for key, value in RULES.items() if key is not Permission.AUDIT_VERIFY}
    with pytest.raises(SegregationError, match="without a rule"):
        check_table(incomplete)


def test_unknown_roles_hold_nothing_and_names_are_checked():
    assert permissions_of(["root", "superuser"]) == frozenset()
    assert is_permission("users.manage")
    assert not is_permission("users.delete")
