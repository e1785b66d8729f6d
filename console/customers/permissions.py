"""What each role may do with customers on this console.

The server decides for everything it is sent; these rules let the console offer only what
will be allowed, and decide the one thing it does alone: revealing a masked field of a
record already on this computer.  A test keeps this table equal to the server's."""

from __future__ import annotations

from collections.abc import Iterable

CREATE = "customers.create"
UPDATE = "customers.update"
REVEAL = "customers.reveal"
SEARCH = "customers.search"

_HOLDERS: dict[str, frozenset[str]] = {
    CREATE: frozenset({"teller"}),
    UPDATE: frozenset({"teller"}),
    REVEAL: frozenset({"teller", "supervisor", "compliance_officer", "information_officer"}),
    SEARCH: frozenset({"teller", "supervisor", "compliance_officer", "information_officer"}),
}

CUSTOMER_ROLES = ("teller", "supervisor", "compliance_officer", "information_officer")
"""Roles that work with customers, in the order an access record names the first one held."""


def may(roles: Iterable[str], permission: str) -> bool:
    return not _HOLDERS[permission].isdisjoint(roles)


def acting_role(roles: Iterable[str]) -> str:
    """The role an access record names: the first customer role held, else the first role."""
    held = tuple(roles)
    for role in CUSTOMER_ROLES:
        if role in held:
            return role
    if not held:
        raise ValueError("a signed-in staff member has at least one role")
    return held[0]
