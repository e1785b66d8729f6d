"""The administrator's workspace: staff accounts, roles, MFA, devices and branches, on the
server (online only).  The shell lists it after its own pages, for administrators only."""

from __future__ import annotations

from console.ui.admin_page import admin_page
from console.ui.workspaces import Role, Workspace

ADMIN_WORKSPACES = (
    Workspace(key="admin", title="Administration", build=admin_page, roles=frozenset({Role.ADMIN})),
)
