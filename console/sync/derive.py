"""The derived columns of a synced record: only what the customer list sorts and searches
on.  ID and phone numbers become keyed hashes (HMAC-SHA256 under a random key kept in the
vault), so an exact look-up works offline without the number being stored a second time."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.customers import RECORD_TYPE, normalise_phone

ERASED_SORT_KEY = "\uffff"  # erased customers sort last


@dataclass(frozen=True)
class Derived:
    sort_key: str
    branch_id: str | None
    id_hash: bytes | None
    phone_hash: bytes | None


NOTHING = Derived("", None, None, None)


def fold(text: str) -> str:
    """Case- and space-insensitive form of a name or a search for one."""
    return " ".join(text.casefold().split())


class Deriver:
    def __init__(self, search_key: bytes) -> None:
        # Keyed once: each hash then starts from a copy (a first sync hashes two numbers a record).
        self._keyed = hmac.new(search_key, digestmod=hashlib.sha256)

    def search_hash(self, kind: str, value: str) -> bytes:
        keyed = self._keyed.copy()
        keyed.update(f"{kind}\x00{value}".encode())
        return keyed.digest()

    def phone_hash(self, phone: str) -> bytes | None:
        """The hash of a phone number as a customer record holds it, or None if it is not one."""
        try:
            return self.search_hash("phone", normalise_phone(phone))
        except ValueError:
            return None

    def derive(self, record_type: str, data: Mapping[str, Any] | None) -> Derived:
        if record_type != RECORD_TYPE or data is None:
            return NOTHING
        branch = data.get("branch_id")
        fields = data.get("fields")
        if not fields:
            return Derived(ERASED_SORT_KEY, branch, None, None)
        id_number = fields.get("id_number")
        phone = fields.get("phone")
        return Derived(
            fold(f"{fields.get('surname', '')} {fields.get('first_names', '')}"),
            branch,
            self.search_hash("id_number", id_number) if id_number else None,
            self.search_hash("phone", phone) if phone else None,
        )
