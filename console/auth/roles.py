"""The server's roles as people read them, and the shell workspaces each one opens."""

from __future__ import annotations

from collections.abc import Iterable

from console.ui.workspaces import Role

ROLE_TITLES = {
    "teller": "Teller",
    "supervisor": "Supervisor",
    "compliance_officer": "Compliance officer",
    "information_officer": "Information officer",
    "auditor": "Auditor",
    "admin": "Administrator",
}

SHELL_ROLES = {
    "teller": Role.TELLER,
    "supervisor": Role.TELLER,
    "compliance_officer": Role.COMPLIANCE,
    "information_officer": Role.COMPLIANCE,
    "auditor": Role.AUDITOR,
    "admin": Role.ADMIN,
}


def role_titles(roles: Iterable[str]) -> str:
    return ", ".join(ROLE_TITLES.get(role, role) for role in roles)


def shell_roles(roles: Iterable[str]) -> frozenset[Role]:
    """Roles this console does not know open no workspace."""
    return frozenset(SHELL_ROLES[role] for role in roles if role in SHELL_ROLES)
