"""The audit API's request and response bodies (docs/audit-log.md describes each)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

BASE64URL = r"^[A-Za-z0-9_-]*$"
CODE = r"^[a-z][a-z0-9_.-]{0,63}$"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SubmittedEvent(_Body):
    event: str = Field(
        min_length=1,
        max_length=6000,
        pattern=BASE64URL,
        description="The event's canonical JSON bytes, exactly as signed, base64url without padding.",
    )
    signature: str = Field(
        min_length=86, max_length=86, pattern=BASE64URL, description="Ed25519 signature by the device's key."
    )


class SubmitIn(_Body):
    events: list[SubmittedEvent] = Field(min_length=1, max_length=1000)


class EventResult(BaseModel):
    event_id: uuid.UUID | None = Field(description="Null only when the event could not be read at all.")
    status: Literal["accepted", "rejected"]
    index: int | None = Field(description="The event's position in the log, when accepted.")
    reason: str | None = Field(
        description="Why it was rejected: malformed_event, bad_signature, revoked_device, forged_actor, "
        "forged_device, forged_role, not_a_device_event, time_in_future, unknown_device, event_id_conflict."
    )
    message: str | None


class SubmitOut(BaseModel):
    results: list[EventResult] = Field(description="One per submitted event, in the same order.")


class EntriesQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: int = Field(0, ge=0, description="First index to look at.")
    end: int | None = Field(None, ge=0, description="Index to stop before; at most start + 1000.")
    actor: uuid.UUID | None = None
    device: uuid.UUID | None = None
    action: str | None = Field(None, max_length=32)
    object_type: str | None = Field(None, max_length=32)
    object_id: str | None = Field(None, max_length=128)
    purpose: str | None = Field(None, max_length=64)
    outcome: str | None = Field(None, max_length=16)


class EntryOut(BaseModel):
    index: int
    received_at: dt.datetime
    entry: str = Field(description="The entry's bytes (the leaf data), base64url.")
    event: dict[str, str | None] | None = Field(description="The event's JSON object, null when erased.")
    salt: str | None
    signature: str | None
    erased: Literal["retention", "erasure"] | None


class EntriesOut(BaseModel):
    size: int = Field(description="The log's size now.")
    min_index: int = Field(description="Entries below this index were pruned past retention.")
    next_start: int | None = Field(description="Where the next page starts, if the range was cut short.")
    entries: list[EntryOut]


class ErasuresQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: int = Field(0, ge=0, description="First index to look at.")


class ErasureOut(BaseModel):
    index: int
    reason: Literal["retention", "erasure"]


class ErasuresOut(BaseModel):
    min_index: int = Field(description="Entries below this index were pruned past retention.")
    next_start: int | None = Field(description="Where the next page starts, if there are more.")
    erased: list[ErasureOut] = Field(description="Erased entries from start on, in index order.")


class InclusionQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    index: int = Field(ge=0)
    size: int = Field(ge=1)


class InclusionOut(BaseModel):
    index: int
    size: int
    leaf_hash: str = Field(description="The entry's leaf hash, base64url.")
    hashes: list[str] = Field(description="RFC 9162 inclusion proof, base64url hashes, leaf to root.")


class ConsistencyQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    size1: int = Field(ge=0)
    size2: int = Field(ge=0)


class ConsistencyOut(BaseModel):
    size1: int
    size2: int
    hashes: list[str] = Field(description="RFC 9162 consistency proof, base64url hashes.")


class ServerKeyOut(BaseModel):
    key_id: str
    public_key: str


class LogInfoOut(BaseModel):
    origin: str
    verifier_key: str = Field(description="The C2SP note verifier key checkpoints are signed with.")
    size: int
    min_index: int
    checkpoint_size: int | None
    server_keys: list[ServerKeyOut] = Field(description="Keys server events are signed with.")


class DeviceKeyOut(BaseModel):
    device_id: uuid.UUID
    user_id: uuid.UUID
    public_key: str = Field(description="Raw Ed25519 public key, base64url.")
    enrolled_at: dt.datetime
    revoked_at: dt.datetime | None


class DevicesOut(BaseModel):
    devices: list[DeviceKeyOut]


class ExportIn(_Body):
    kind: Literal["range", "object", "actor"]
    start: int = Field(0, ge=0, description="range: the first index.")
    end: int | None = Field(
        None, ge=0, description="range: the index to stop before (the checkpoint's size)."
    )
    object_type: str | None = Field(None, max_length=32, description="object: the object's type.")
    object_id: str | None = Field(None, max_length=128, description="object: its pseudonymous id.")
    actor: uuid.UUID | None = Field(None, description="actor: the staff member's user id.")
    since: int | None = Field(
        None, ge=0, description="Include a consistency proof from this earlier tree size to the bundle's."
    )
    purpose: str = Field(pattern=CODE, description="Why the bundle is exported (a code); it is audited.")

    @model_validator(mode="after")
    def _scope_fields(self) -> ExportIn:
        if self.kind == "object" and (self.object_type is None or self.object_id is None):
            raise ValueError("an object export needs object_type and object_id")
        if self.kind == "actor" and self.actor is None:
            raise ValueError("an actor export needs actor")
        return self
