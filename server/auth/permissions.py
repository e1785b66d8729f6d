"""Roles, permissions and the one table saying which roles hold which permission.

Every protected route declares ``access=Requires(Permission.X)``; the authorizer looks the
permission up here and nowhere else.  Each permission also says whether it changes data and
whether it reads customers' personal information, so that segregation of duties is checked
against the table itself when this module is imported: an auditor holds nothing that
changes data, and an administrator holds nothing that reads personal information."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    TELLER = "teller"
    SUPERVISOR = "supervisor"
    COMPLIANCE_OFFICER = "compliance_officer"
    INFORMATION_OFFICER = "information_officer"
    AUDITOR = "auditor"
    ADMIN = "admin"


class Permission(StrEnum):
    # The signed-in user's own session: who am I, sign out, own password and recovery codes.
    SESSION_SELF = "session.self"
    # Customers (data subjects).
    CUSTOMERS_READ_BRANCH = "customers.read_branch"
    CUSTOMERS_READ_ALL = "customers.read_all"
    CUSTOMERS_SEARCH = "customers.search"
    CUSTOMERS_CREATE = "customers.create"
    CUSTOMERS_UPDATE = "customers.update"
    CUSTOMERS_REVEAL = "customers.reveal"
    # Transactions.
    TRANSACTIONS_READ = "transactions.read"
    TRANSACTIONS_CAPTURE = "transactions.capture"
    TRANSACTIONS_APPROVE = "transactions.approve"
    # POPIA compliance.
    CONSENT_MANAGE = "consent.manage"
    DSAR_MANAGE = "dsar.manage"
    BREACH_MANAGE = "breach.manage"
    OPERATORS_MANAGE = "operators.manage"
    INVENTORY_MANAGE = "inventory.manage"
    # The audit log and security events.
    AUDIT_READ = "audit.read"
    AUDIT_VERIFY = "audit.verify"
    AUDIT_EXPORT = "audit.export"
    SECURITY_EVENTS_READ = "security_events.read"
    # Administration of staff accounts, devices and the organisation.
    USERS_READ = "users.read"
    USERS_MANAGE = "users.manage"
    MFA_RESET = "mfa.reset"
    DEVICES_READ = "devices.read"
    DEVICES_MANAGE = "devices.manage"
    ROLES_READ = "roles.read"
    BRANCHES_READ = "branches.read"
    BRANCHES_MANAGE = "branches.manage"


@dataclass(frozen=True)
class Rule:
    roles: frozenset[Role]
    description: str
    changes_data: bool = False
    reads_personal_information: bool = False


def _rule(
    description: str, *roles: Role, changes_data: bool = False, reads_personal_information: bool = False
) -> Rule:
    return Rule(frozenset(roles), description, changes_data, reads_personal_information)


# Short names keep the table below readable at a glance.
TL, SV, CO, IO, AU, AD = (
    Role.TELLER,
    Role.SUPERVISOR,
    Role.COMPLIANCE_OFFICER,
    Role.INFORMATION_OFFICER,
    Role.AUDITOR,
    Role.ADMIN,
)

RULES: Mapping[Permission, Rule] = {
    Permission.SESSION_SELF: _rule("See and end one's own session, change one's password.", *Role),
    Permission.CUSTOMERS_READ_BRANCH: _rule(
        "Open customers of one's own branch (masked).", TL, SV, reads_personal_information=True
    ),
    Permission.CUSTOMERS_READ_ALL: _rule(
        "Open customers of every branch (masked).", CO, IO, reads_personal_information=True
    ),
    Permission.CUSTOMERS_SEARCH: _rule(
        "Search customers by exact ID or phone number.", TL, SV, CO, IO, reads_personal_information=True
    ),
    Permission.CUSTOMERS_CREATE: _rule(
        "Register a customer.", TL, changes_data=True, reads_personal_information=True
    ),
    Permission.CUSTOMERS_UPDATE: _rule(
        "Change a customer's details.", TL, changes_data=True, reads_personal_information=True
    ),
    Permission.CUSTOMERS_REVEAL: _rule(
        "Reveal a masked personal field, stating a purpose.", TL, SV, CO, IO, reads_personal_information=True
    ),
    Permission.TRANSACTIONS_READ: _rule("See transactions.", TL, SV, CO, IO, reads_personal_information=True),
    Permission.TRANSACTIONS_CAPTURE: _rule(
        "Capture a transaction.", TL, changes_data=True, reads_personal_information=True
    ),
    Permission.TRANSACTIONS_APPROVE: _rule(
        "Approve another person's high-value or unusual transaction.",
        SV,
        changes_data=True,
        reads_personal_information=True,
    ),
    Permission.CONSENT_MANAGE: _rule(
        "Record and withdraw consent.", CO, IO, changes_data=True, reads_personal_information=True
    ),
    Permission.DSAR_MANAGE: _rule(
        "Handle data subject access and correction requests.",
        CO,
        IO,
        changes_data=True,
        reads_personal_information=True,
    ),
    Permission.BREACH_MANAGE: _rule(
        "Record security compromises and their notifications.",
        CO,
        IO,
        changes_data=True,
        reads_personal_information=True,
    ),
    Permission.OPERATORS_MANAGE: _rule("Maintain the register of operators.", CO, IO, changes_data=True),
    Permission.INVENTORY_MANAGE: _rule(
        "Maintain the inventory of processing activities.", CO, IO, changes_data=True
    ),
    Permission.AUDIT_READ: _rule("Read the audit log.", AU, CO, IO),
    Permission.AUDIT_VERIFY: _rule("Verify the audit log's proofs and signatures.", AU),
    Permission.AUDIT_EXPORT: _rule("Export an audit evidence bundle.", AU),
    Permission.SECURITY_EVENTS_READ: _rule("Read security events.", AU, CO, IO, AD),
    Permission.USERS_READ: _rule("List staff accounts.", AD),
    Permission.USERS_MANAGE: _rule("Create, disable and enable staff accounts.", AD, changes_data=True),
    Permission.MFA_RESET: _rule("Reset a staff member's MFA.", AD, changes_data=True),
    Permission.DEVICES_READ: _rule("List enrolled devices.", AD),
    Permission.DEVICES_MANAGE: _rule("Revoke devices.", AD, changes_data=True),
    Permission.ROLES_READ: _rule("List roles and their permissions.", AD),
    Permission.BRANCHES_READ: _rule("List branches.", AD),
    Permission.BRANCHES_MANAGE: _rule("Create branches.", AD, changes_data=True),
}


class SegregationError(AssertionError):
    """The permission table breaks a segregation-of-duties rule."""


def check_table(rules: Mapping[Permission, Rule] = RULES) -> None:
    """Raise :class:`SegregationError` unless every permission has a rule and the rules keep
    auditors away from changing data and administrators away from personal information."""
    missing = set(Permission) - set(rules)
    if missing:
        raise SegregationError(f"permissions without a rule: {sorted(missing)}")
    for permission, rule in rules.items():
        if not rule.roles:
            raise SegregationError(f"{permission} is held by no role")
        if rule.changes_data and Role.AUDITOR in rule.roles:
            raise SegregationError(f"auditors must not hold {permission}, which changes data")
        if rule.reads_personal_information and Role.ADMIN in rule.roles:
            raise SegregationError(f"administrators must not hold {permission}, which reads personal data")


check_table()

_BY_ROLE: Mapping[Role, frozenset[Permission]] = {
    role: frozenset(permission for permission, rule in RULES.items() if role in rule.roles) for role in Role
}


def permissions_of(roles: Iterable[str]) -> frozenset[Permission]:
    """Every permission the given roles hold together; unknown role names hold nothing."""
    held: set[Permission] = set()
    for name in roles:
        try:
            held |= _BY_ROLE[Role(name)]
        except ValueError:
            continue
    return frozenset(held)


_NAMES = frozenset(permission.value for permission in Permission)


def is_permission(name: str) -> bool:
    return name in _NAMES
