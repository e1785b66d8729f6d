"""Appending to the log, sans-IO: from the locked log state and a batch of signed events to
the rows one transaction writes (entries, newly completed tree nodes) and the next state."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from shared.audit.codec import format_time
from shared.audit.entry import commitment, entry_bytes
from shared.audit.event import SignedEvent
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


@dataclass(frozen=True)
class AppendPlan:
    entries: list[dict[str, Any]]
    nodes: list[dict[str, Any]]
    state: LogState
    first_index: int


def event_columns(signed: SignedEvent) -> dict[str, Any]:
    """The columns of an entry row that hold (and are erased with) the event's body."""
    event = signed.event
    return {
        "event": signed.data,
        "signature": signed.signature,
        "occurred_at": event.occurred_at,
        "actor": event.actor,
        "device": event.device,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "purpose": event.purpose,
        "outcome": event.outcome,
    }


def plan_append(state: LogState, batch: Sequence[Accepted], now: dt.datetime) -> AppendPlan:
    received_at = max(now, state.last_received_at) if state.last_received_at else now
    first = state.size
    rows: list[dict[str, Any]] = []
    leaves: list[bytes] = []
    received_text = format_time(received_at)
    for offset, item in enumerate(batch):
        event = item.signed.event
        index = first + offset
        event_class = event.event_class.value
        data = entry_bytes(event_class, item.commitment, event.event_id, index, received_text, event.signer)
        leaves.append(leaf_hash(data))
        row = event_columns(item.signed)
        row.update(
            idx=index,
            entry=data,
            event_id=event.event_id,
            received_at=received_at,
            event_class=event_class,
            signer=event.signer,
            salt=item.salt,
        )
        rows.append(row)
    frontier = state.frontier.copy()
    nodes = [
        {"level": level, "idx": index, "hash": value} for (level, index), value in frontier.extend(leaves)
    ]
    return AppendPlan(
        entries=rows,
        nodes=nodes,
        state=LogState(frontier, state.min_index, received_at if batch else state.last_received_at),
        first_index=first,
    )
