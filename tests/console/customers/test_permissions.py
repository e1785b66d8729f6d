"""The console's customer permissions are the server's: every role, every customer permission."""

from __future__ import annotations

import pytest

from console.customers.permissions import CREATE, REVEAL, SEARCH, UPDATE, acting_role, may
from server.auth.permissions import Permission, Role, permissions_of


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("permission", [CREATE, UPDATE, REVEAL, SEARCH])
def test_each_role_may_do_on_the_console_what_the_server_allows(role, permission):
    assert may([role.value], permission) == (Permission(permission) in permissions_of([role.value]))


def test_access_records_name_a_customer_role_first():
    assert acting_role(("admin", "compliance_officer")) == "compliance_officer"
    assert acting_role(("supervisor", "teller")) == "teller"
    assert acting_role(("auditor",)) == "auditor"
