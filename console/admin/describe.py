"""How the admin workspace words what it shows: account states, filters, the permission
matrix, and failures as sentences for the administrator."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from console.admin.api import AdminRefused, Device, PermissionInfo, RoleInfo, SecurityEvent, StaffUser
from console.auth.roles import ROLE_TITLES
from console.auth.session import SessionEnded
from console.net.errors import NoServerAvailable, ServerError, ServerUnreachable

NEEDS_SERVER = (
    "Administration needs the server: staff accounts, devices and branches are managed there and "
    "nothing of it is kept on this computer."
)
UNREACHABLE_AFTER = (
    "If you had just made a change, refresh once the server is back to see whether it was made."
)


def explain(error: Exception) -> str | None:
    """A sentence for the administrator, or None for an error that is a bug."""
    if isinstance(error, AdminRefused):
        return f"The server refused this: {error}"
    if isinstance(error, SessionEnded):
        return str(error)
    if isinstance(error, ServerUnreachable | NoServerAvailable):
        return f"{error} {UNREACHABLE_AFTER}"
    if isinstance(error, ServerError):
        return str(error)
    return None


def role_title(role: str) -> str:
    return ROLE_TITLES.get(role, role)


def roles_text(roles: Iterable[str]) -> str:
    return ", ".join(role_title(role) for role in roles)


def state_text(user: StaffUser) -> str:
    return "Active" if user.active else "Disabled"


def mfa_text(user: StaffUser) -> str:
    if user.mfa_enrolled:
        return "Enrolled"
    if user.enrollment_pending:
        return "Not enrolled (code issued)"
    return "Not enrolled"


def device_state(device: Device) -> str:
    return "Active" if device.active else "Revoked"


def matches(user: StaffUser, text: str) -> bool:
    """Part of the username, the display name or the branch code, in any case."""
    wanted = text.strip().casefold()
    if not wanted:
        return True
    return any(wanted in value.casefold() for value in (user.username, user.display_name, user.branch.code))


def short_id(value: uuid.UUID | None) -> str:
    return "—" if value is None else str(value)[:8]


def who(user_id: uuid.UUID | None, usernames: Mapping[uuid.UUID, str]) -> str:
    """A username where the account is listed, else the start of its id."""
    if user_id is None:
        return "—"
    return usernames.get(user_id, short_id(user_id))


EVENT_TITLES = {
    "sign_in": "Sign-in",
    "lockout": "Lockout",
    "enrollment": "Enrollment",
    "mfa_enrolled": "MFA enrolled",
    "mfa_reset": "MFA reset",
    "recovery_code_used": "Recovery code used",
    "recovery_codes_replaced": "Recovery codes replaced",
    "password_changed": "Password changed",
    "token_reuse": "Refresh token reused",
    "refresh": "Session refreshed",
    "sign_out": "Sign-out",
    "device_enrolled": "Device enrolled",
    "device_revoked": "Device revoked",
    "device_proof_failed": "Device proof failed",
    "user_created": "Account created",
    "user_disabled": "Account disabled",
    "user_enabled": "Account enabled",
    "branch_created": "Branch created",
}


def event_kind(event: SecurityEvent) -> str:
    return EVENT_TITLES.get(event.kind) or event.kind.replace("_", " ").capitalize()


def event_reason(event: SecurityEvent) -> str:
    return (event.reason or "").replace("_", " ")


@dataclass(frozen=True)
class PermissionRow:
    permission: PermissionInfo
    held_by: frozenset[str]


def permission_matrix(roles: Sequence[RoleInfo]) -> list[PermissionRow]:
    """One row per permission, in the order the server lists them, with the roles holding it."""
    found: dict[str, PermissionInfo] = {}
    holders: dict[str, set[str]] = {}
    for role in roles:
        for permission in role.permissions:
            found.setdefault(permission.name, permission)
            holders.setdefault(permission.name, set()).add(role.name)
    return [PermissionRow(found[name], frozenset(holders[name])) for name in found]
