"""Appending to the log, sans-IO: from the locked log state and a batch of signed events to
the rows one transaction writes (entries, newly completed tree nodes) and the next state."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from shared.audit.codec import format_time
from shared.audit.entry import commitment, entry_bytes
from shared.audit.event import SignedEvent, event_class_name
from shared.merkle import CompactRange, leaf_hash


@dataclass(frozen=True)
class LogState:
    frontier: CompactRange
    min_index: int
    last_received_at: dt.datetime | None

    @property
    def size(self) -> int:
        return self.frontier.size


@dataclass(frozen=True)
class Accepted:
    """An event cleared for the log, with the salt its entry commits with.  The commitment
    is computed when the event is accepted, outside the lock every append takes."""

    signed: SignedEvent
    salt: bytes
    commitment: bytes = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "commitment", commitment(self.salt, self.signed.signature, self.signed.data))


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
on are the ones an erasure clears."""

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
        signed = item.signed
        event = signed.event
        index = first + offset
        kind = event_class_name(event.action)
        data = entry_bytes(kind, item.commitment, event.event_id, index, received_text, event.signer)
        leaves.append(leaf_hash(data))
        rows.append(
            (
                index,
                data,
                event.event_id,
                received_at,
                kind,
                event.signer,
                item.salt,
                signed.data,
                signed.signature,
                event.occurred_at,
                event.actor,
                event.device,
                event.action,
                event.object_type,
                event.object_id,
                event.purpose,
                event.outcome,
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
