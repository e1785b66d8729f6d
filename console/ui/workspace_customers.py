"""The role workspaces built on synced data: the teller's customer register (own branch)
and the compliance officer's (every branch).  The shell lists them after its own pages."""

from __future__ import annotations

from console.ui.customers_page import compliance_page, teller_page
from console.ui.workspaces import Role, Workspace

ROLE_WORKSPACES = (
    Workspace(key="customers", title="Customers", build=teller_page, roles=frozenset({Role.TELLER})),
    Workspace(
        key="all_customers", title="All customers", build=compliance_page, roles=frozenset({Role.COMPLIANCE})
    ),
)
