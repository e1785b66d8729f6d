"""Pull cursors: opaque to clients, checked strictly here.

A cursor says "every change ordered before this key has been delivered" for one scope.
Changes are ordered by (position, record type code, record id, kind), kind 0 for a deletion
and 1 for a put, so a page can end anywhere, even inside one transaction's writes.  Types
are numbered rather than named so that no database collation can reorder them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

VERSION = "c1"


class InvalidCursor(ValueError):
    pass


@dataclass(frozen=True, order=True)
class FeedKey:
    position: int
    record_type: int
    record_id: uuid.UUID
    kind: int


@dataclass(frozen=True)
class Cursor:
    scope: str
    position: int
    """With no ``after``: everything below this position has been delivered."""
    after: FeedKey | None = None
    """The last key delivered; ``position`` equals its position."""

    def encode(self) -> str:
        if self.after is None:
            return f"{VERSION}.{self.scope}.{self.position}"
        key = self.after
        return f"{VERSION}.{self.scope}.{key.position}.{key.record_type}.{key.record_id.hex}.{key.kind}"

    @classmethod
    def decode(cls, value: str) -> Cursor:
        parts = value.split(".")
        if parts[0] != VERSION or len(parts) not in (3, 6):
            raise InvalidCursor("unknown cursor format")
        try:
            position = int(parts[2])
            if position < 0:
                raise ValueError
            if len(parts) == 3:
                return cls(scope=parts[1], position=position)
            kind = int(parts[5])
            if kind not in (0, 1):
                raise ValueError
            key = FeedKey(position, int(parts[3]), uuid.UUID(hex=parts[4]), kind)
        except ValueError:
            raise InvalidCursor("malformed cursor") from None
        return cls(scope=parts[1], position=position, after=key)
