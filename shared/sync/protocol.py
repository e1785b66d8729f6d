"""Sync messages.  Push sends commands the client made (offline or online); pull brings
back the server's state of every record the device may hold, page by page.

A mutation is a command (``customer.create``), never a row write; ``mutation_id`` is
gapless per client, so the server can tell a duplicate from a gap; new records get UUIDs
made by the client, so a retried create is the same create."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

PROTOCOL_VERSION = 1
"""The version of these messages and of the record schemas carried in them."""

MAX_PUSH_MUTATIONS = 500
MAX_PULL_LIMIT = 5000
MAX_MUTATION_NAME = 64

MutationName = Annotated[
    str, Field(min_length=3, max_length=MAX_MUTATION_NAME, pattern=r"^[a-z_]+\.[a-z_]+$")
]


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Mutation(_Message):
    client_id: uuid.UUID
    mutation_id: int = Field(ge=1, description="Gapless per client, starting at 1.")
    name: MutationName
    args: dict[str, Any]
    schema_version: int = Field(ge=1)
    client_time: AwareDatetime


class PushRequest(_Message):
    client_id: uuid.UUID
    schema_version: int = Field(ge=1)
    mutations: list[Mutation] = Field(min_length=1, max_length=MAX_PUSH_MUTATIONS)


Outcome = Literal["applied", "rejected"]


class MutationResult(_Message):
    """What became of one mutation.  A rejection is final: the mutation is not retried."""

    mutation_id: int = Field(ge=1)
    outcome: Outcome
    code: str | None = None
    message: str | None = None


StopReason = Literal["gap", "transient"]


class PushResponse(_Message):
    last_mutation_id: int = Field(ge=0, description="The highest mutation id the server has processed.")
    results: list[MutationResult]
    stopped: StopReason | None = Field(
        None,
        description="Why the batch stopped early: a gap in mutation ids (the client must resend from "
        "last_mutation_id + 1) or a transient server failure (retry later).",
    )


class PullRequest(_Message):
    client_id: uuid.UUID
    schema_version: int = Field(ge=1)
    cursor: str | None = Field(
        None, max_length=512, description="Opaque; None on first pull and after reset."
    )
    results_after: int = Field(
        0, ge=0, description="The highest mutation id whose result the client has already recorded."
    )
    limit: int = Field(1000, ge=1, le=MAX_PULL_LIMIT)


class Change(_Message):
    op: Literal["put", "delete"]
    type: str = Field(max_length=40)
    id: uuid.UUID
    version: int | None = Field(None, ge=1)
    data: dict[str, Any] | None = None


class PullResponse(_Message):
    changes: list[Change]
    cursor: str
    last_mutation_id: int = Field(ge=0)
    mutation_results: list[MutationResult] = Field(
        description="Results of this client's mutations above results_after up to last_mutation_id."
    )
    reset: bool = Field(
        description="The client must drop every synced record (not its outbox) before applying this page: "
        "its scope changed or its cursor is too old."
    )
    has_more: bool
    server_time: dt.datetime


class PokeResponse(_Message):
    """The long-poll answer: whether the device's records changed since its cursor."""

    changed: bool
    server_time: dt.datetime


SYNC_HEADER = "x-kluis-schema"
"""Every sync request carries the client's protocol version in this header as well."""
