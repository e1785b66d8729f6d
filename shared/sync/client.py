"""The client side of sync as a state machine with no I/O.

The console keeps a :class:`ClientState` in its encrypted store, asks this module what to
send, hands it what came back, and persists the decisions it returns in one transaction.
Pending mutations stay in the outbox until a pull shows the server state that contains
their effect (``last_mutation_id`` has reached them), so the user never sees their own
work flicker away; a rejected mutation leaves the outbox for the "needs attention" list."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from shared.sync.protocol import (
    MAX_PUSH_MUTATIONS,
    PROTOCOL_VERSION,
    Change,
    Mutation,
    MutationResult,
    PullRequest,
    PullResponse,
    PushRequest,
    PushResponse,
)


class SyncProtocolError(Exception):
    """The server answered something that cannot be true of a correct server."""


@dataclass(frozen=True)
class ClientState:
    client_id: uuid.UUID
    cursor: str | None = None
    last_mutation_id: int = 0
    """The highest mutation id the server has reported processed (by push or pull)."""
    confirmed_mutation_id: int = 0
    """The highest mutation id whose effect is in the records pulled so far."""
    results_after: int = 0
    """The highest mutation id whose result has been recorded locally."""
    next_mutation_id: int = 1
    pending: tuple[Mutation, ...] = ()


@dataclass(frozen=True)
class PushOutcome:
    state: ClientState
    results: tuple[MutationResult, ...]
    retry_from: int | None = None
    transient: bool = False


@dataclass(frozen=True)
class PullOutcome:
    state: ClientState
    reset: bool
    changes: tuple[Change, ...]
    results: tuple[MutationResult, ...]
    confirmed: tuple[Mutation, ...] = ()
    """Mutations whose effect is now part of the server state; drop them from the outbox."""
    has_more: bool = False


class SyncClient:
    """Pure decisions over a :class:`ClientState`; every method returns a new state."""

    def __init__(self, state: ClientState) -> None:
        self.state = state

    def enqueue(self, name: str, args: Mapping[str, Any], now: dt.datetime) -> Mutation:
        """A new mutation with the next id; the caller stores it in the outbox."""
        if now.tzinfo is None:
            raise ValueError("client_time must be timezone-aware")
        state = self.state
        mutation = Mutation(
            client_id=state.client_id,
            mutation_id=state.next_mutation_id,
            name=name,
            args=dict(args),
            schema_version=PROTOCOL_VERSION,
            client_time=now,
        )
        self.state = replace(
            state, next_mutation_id=state.next_mutation_id + 1, pending=(*state.pending, mutation)
        )
        return mutation

    def push_request(self) -> PushRequest | None:
        """The pending mutations the server has not yet processed, oldest first."""
        unsent = [m for m in self.state.pending if m.mutation_id > self.state.last_mutation_id]
        if not unsent:
            return None
        return PushRequest(
            client_id=self.state.client_id,
            schema_version=PROTOCOL_VERSION,
            mutations=unsent[:MAX_PUSH_MUTATIONS],
        )

    def on_push_response(self, response: PushResponse) -> PushOutcome:
        state = self.state
        if response.last_mutation_id >= state.next_mutation_id:
            raise SyncProtocolError(
                f"server claims mutation {response.last_mutation_id} processed; "
                f"the client has made only {state.next_mutation_id - 1}"
            )
        for result in response.results:
            if result.mutation_id > response.last_mutation_id:
                raise SyncProtocolError(f"result for mutation {result.mutation_id} beyond last_mutation_id")
        # Results are surfaced at once, but results_after moves only with a pull: a push
        # whose answer was lost may have rejected a mutation the next push sees as a duplicate.
        new_results = tuple(r for r in response.results if r.mutation_id > state.results_after)
        self.state = replace(state, last_mutation_id=max(state.last_mutation_id, response.last_mutation_id))
        retry_from = response.last_mutation_id + 1 if response.stopped == "gap" else None
        return PushOutcome(self.state, new_results, retry_from, response.stopped == "transient")

    def pull_request(self, limit: int = 1000) -> PullRequest:
        return PullRequest(
            client_id=self.state.client_id,
            schema_version=PROTOCOL_VERSION,
            cursor=self.state.cursor,
            results_after=self.state.results_after,
            limit=limit,
        )

    def on_pull_response(self, response: PullResponse) -> PullOutcome:
        state = self.state
        if response.last_mutation_id >= state.next_mutation_id:
            raise SyncProtocolError(
                f"server claims mutation {response.last_mutation_id} processed; "
                f"the client has made only {state.next_mutation_id - 1}"
            )
        confirmed_id = max(state.confirmed_mutation_id, response.last_mutation_id)
        confirmed = tuple(m for m in state.pending if m.mutation_id <= confirmed_id)
        remaining = tuple(m for m in state.pending if m.mutation_id > confirmed_id)
        results = tuple(r for r in response.mutation_results if r.mutation_id > state.results_after)
        for result in results:
            if result.mutation_id > response.last_mutation_id:
                raise SyncProtocolError(f"result for mutation {result.mutation_id} beyond last_mutation_id")
        self.state = replace(
            state,
            cursor=response.cursor,
            last_mutation_id=max(state.last_mutation_id, response.last_mutation_id),
            confirmed_mutation_id=confirmed_id,
            results_after=max(state.results_after, response.last_mutation_id),
            pending=remaining,
        )
        return PullOutcome(
            state=self.state,
            reset=response.reset,
            changes=tuple(response.changes),
            results=results,
            confirmed=confirmed,
            has_more=response.has_more,
        )


def rejected(results: Sequence[MutationResult]) -> list[MutationResult]:
    return [result for result in results if result.outcome == "rejected"]
