"""Appending to the log, sans-IO: from the locked log state and a batch of signed events to
the rows one transaction writes (entries, newly completed tree nodes) and the next state."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from shared.audit.codec import format_time
from shared.audit.entry import commitment, entry_bytes
from shared.audit.event import EventFields, SignedEvent, event_class_name, event_fields
from shared.merkle import CompactRange, leaf_hash


@dataclass(frozen=True)
class LogState:
    frontier: CompactRange
    min_index: int
    last_received_at: dt.datetime | None

    @property
    def size(self) -> int:
        return self.frontier.size


@dataclass(frozen=True, slots=True)
class Accepted:
    """An event cleared for the log, as its fields (:data:`EventFields`, the strings a
    signature worker hands back), its exact signed bytes and signature, and the salt its
    entry commits with.  No :class:`AuditEvent` is rebuilt on the append path: the fields
    are what the rows are written from.  The commitment is computed when the event is
    accepted, outside the lock every append takes."""

    fields: EventFields
    data: bytes
    signature: bytes
    salt: bytes
    commitment: bytes = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "commitment", commitment(self.salt, self.signature, self.data))

    @classmethod
    def of(cls, signed: SignedEvent, salt: bytes) -> Accepted:
        """A signed event in hand (the server's own), cleared for the log."""
        return cls(event_fields(signed.event), signed.data, signed.signature, salt)

    @property
    def event_id(self) -> str:
        """The event id as the event spells it (lower-case, hyphenated)."""
        return self.fields[0]


ENTRY_COLUMNS: tuple[str, ...] = (
    "idx",
    "entry",
    "event_id",
    "received_at",
    "event_class",
    "signer",
    "salt",
    "event",
    "signature",
    "occurred_at",
    "actor",
    "device",
    "action",
    "object_type",
    "object_id",
    "purpose",
    "outcome",
)
"""The columns of an entry row as the plan gives them; the body's columns from ``event``
on are the ones an erasure clears.  Ids and times are in the row as the event's canonical
text (``received_at`` as :func:`format_time` writes it); the store converts them for each
database driver."""

NODE_COLUMNS: tuple[str, ...] = ("level", "idx", "hash")


@dataclass(frozen=True)
class AppendPlan:
    """Rows as tuples in the order of :data:`ENTRY_COLUMNS` and :data:`NODE_COLUMNS`."""

    entries: list[tuple[Any, ...]]
    nodes: list[tuple[int, int, bytes]]
    state: LogState
    first_index: int


def plan_append(state: LogState, batch: Sequence[Accepted], now: dt.datetime) -> AppendPlan:
    received_at = max(now, state.last_received_at) if state.last_received_at else now
    first = state.size
    rows: list[tuple[Any, ...]] = []
    leaves: list[bytes] = []
    received_text = format_time(received_at)
    for offset, item in enumerate(batch):
        event_id, occurred_at, signer, action, outcome, actor, device, *rest = item.fields
        _, object_type, object_id, purpose, _ = rest
        index = first + offset
        kind = event_class_name(action)
        data = entry_bytes(kind, item.commitment, event_id, index, received_text, signer)
        leaves.append(leaf_hash(data))
        rows.append(
            (
                index,
                data,
                event_id,
                received_text,
                kind,
                signer,
                item.salt,
                item.data,
                item.signature,
                occurred_at,
                actor,
                device,
                action,
                object_type,
                object_id,
                purpose,
                outcome,
            )
        )
    frontier = state.frontier.copy()
    nodes = [(level, index, value) for (level, index), value in frontier.extend(leaves)]
    return AppendPlan(
        entries=rows,
        nodes=nodes,
        state=LogState(frontier, state.min_index, received_at if batch else state.last_received_at),
        first_index=first,
    )
