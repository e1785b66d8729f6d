"""The auditor's workspace: the signed audit log, copied into the vault and verified offline."""

from __future__ import annotations

from console.ui.audit_page import auditor_page
from console.ui.workspaces import Role, Workspace

AUDIT_WORKSPACES = (
    Workspace(key="audit", title="Audit log", build=auditor_page, roles=frozenset({Role.AUDITOR})),
)
