"""What a device may hold, computed from the principal's current grants on every pull."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

from server.auth.authorizer import Principal
from server.auth.permissions import Permission


def branch_bucket(branch_id: uuid.UUID) -> str:
    return f"branch:{branch_id}"


@dataclass(frozen=True)
class Scope:
    buckets: frozenset[str] | None
    """The buckets the device may hold; None means every bucket."""

    def includes(self, bucket: str) -> bool:
        return self.buckets is None or bucket in self.buckets

    @property
    def key(self) -> str:
        """A short fingerprint: a cursor from another scope is not valid for this one."""
        text = "*" if self.buckets is None else "\n".join(sorted(self.buckets))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def scope_of(principal: Principal) -> Scope:
    if principal.may(Permission.CUSTOMERS_READ_ALL):
        return Scope(None)
    if principal.may(Permission.CUSTOMERS_READ_BRANCH):
        return Scope(frozenset({branch_bucket(principal.branch_id)}))
    return Scope(frozenset())
