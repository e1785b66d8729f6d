"""Mutators: the functions that carry out a mutation, run by the server for real and by the
console optimistically, so that offline work shows exactly as the server will apply it."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

Record = dict[str, Any]
Reader = Callable[[str, uuid.UUID], Record | None]
"""Look up the current data of a record by type and id, or None."""


class Rejection(Exception):
    """A business rule refused the mutation.  Final: it is recorded, never retried.
    ``message`` is shown to staff, so it never contains personal information."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Put:
    """A record's new data, as a mutation leaves it."""

    type: str
    id: uuid.UUID
    data: Record


class Mutator(Protocol):
    """Carry out one mutation against current data: the records it writes, or Rejection.
    ``now`` is the time of application (the server's when it applies for real)."""

    def __call__(
        self, args: Mapping[str, Any], read: Reader, today: dt.date, now: dt.datetime
    ) -> list[Put]: ...
