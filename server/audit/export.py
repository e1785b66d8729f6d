"""Evidence bundles (format: :mod:`shared.audit.bundle`) built from the stored log, and the
entry rows as the API shows them.  Everything is read in one snapshot."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncConnection

from server.audit.store import (
    StoredCheckpoint,
    build_proof,
    checkpoint_at,
    get_nodes,
    latest_checkpoint,
    load_state,
    node_range,
)
from server.audit.tables import audit_entries
from server.auth.tables import devices
from shared.audit.bundle import MAX_BUNDLE_ENTRIES, Bundle, BundleScope, DeviceKey, PreviousCheckpoint
from shared.audit.codec import b64url_encode
from shared.merkle import consistency_proof_plan, inclusion_proof_plan, range_node_ids


class ExportError(Exception):
    """The export cannot be made as asked; ``code`` and the message are for the client."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True)
class LogIdentity:
    origin: str
    verifier_key: str
    server_keys: dict[str, bytes]


def entry_value(
    row: Row[Any], *, leaf_hash: bytes | None = None, inclusion: Sequence[bytes] | None = None
) -> dict[str, Any]:
    """One entry as bundles and the API write it."""
    return {
        "index": row.idx,
        "entry": b64url_encode(bytes(row.entry)),
        "leaf_hash": b64url_encode(leaf_hash) if leaf_hash is not None else None,
        "event": json.loads(bytes(row.event)) if row.event is not None else None,
        "salt": b64url_encode(bytes(row.salt)) if row.salt is not None else None,
        "signature": b64url_encode(bytes(row.signature)) if row.signature is not None else None,
        "erased": row.erased_reason if row.event is None else None,
        "inclusion": [b64url_encode(value) for value in inclusion] if inclusion is not None else None,
    }


async def device_keys(connection: AsyncConnection, ids: set[uuid.UUID] | None = None) -> list[DeviceKey]:
    """Enrolled devices' keys (all of them, or those given), without names: a device name
    may be a person's."""
    query = select(
        devices.c.id, devices.c.user_id, devices.c.public_key, devices.c.created_at, devices.c.revoked_at
    )
    if ids is not None:
        if not ids:
            return []
        query = query.where(devices.c.id.in_(sorted(ids)))
    rows = await connection.execute(query.order_by(devices.c.created_at, devices.c.id))
    return [
        DeviceKey(row.id, row.user_id, bytes(row.public_key), row.created_at, row.revoked_at) for row in rows
    ]


def _signer_devices(rows: Sequence[Row[Any]]) -> set[uuid.UUID]:
    return {uuid.UUID(row.signer.split(":", 1)[1]) for row in rows if row.signer.startswith("device:")}


async def _checkpoint(connection: AsyncConnection) -> StoredCheckpoint:
    checkpoint = await latest_checkpoint(connection)
    if checkpoint is None:
        raise ExportError(
            409, "no_checkpoint", "The log has no signed checkpoint yet; try again in a moment."
        )
    return checkpoint


async def _previous(connection: AsyncConnection, since: int | None, size: int) -> PreviousCheckpoint | None:
    if since is None:
        return None
    if since > size:
        raise ExportError(
            422, "since_after_checkpoint", f"since must be at most the checkpoint's size {size}."
        )
    older = await checkpoint_at(connection, since)
    proof = await build_proof(connection, consistency_proof_plan(since, size))
    return PreviousCheckpoint(since, older.note if older is not None else None, tuple(proof))


def _bundle(
    identity: LogIdentity,
    checkpoint: StoredCheckpoint,
    scope: BundleScope,
    min_index: int,
    keys: list[DeviceKey],
    entries: list[dict[str, Any]],
    *,
    prefix: Sequence[bytes] = (),
    range_proof: Sequence[bytes] = (),
    previous: PreviousCheckpoint | None,
    now: dt.datetime,
) -> dict[str, Any]:
    return Bundle(
        origin=identity.origin,
        log_key=identity.verifier_key,
        checkpoint=checkpoint.note,
        exported_at=now,
        scope=scope,
        pruned_below=min_index,
        server_keys=identity.server_keys,
        device_keys={key.device_id: key for key in keys},
        prefix=tuple(prefix),
        range_proof=tuple(range_proof),
        previous=previous,
        entries=entries,
    ).to_value()


async def export_range(
    connection: AsyncConnection,
    identity: LogIdentity,
    start: int,
    end: int | None,
    since: int | None,
    now: dt.datetime,
) -> dict[str, Any]:
    """Entries ``[start, end)`` (to the latest checkpoint when *end* is None), with what lets
    an auditor recompute the checkpoint's root from them."""
    checkpoint = await _checkpoint(connection)
    state = await load_state(connection, lock=False)
    end = checkpoint.size if end is None else end
    if not start <= end <= checkpoint.size:
        raise ExportError(
            422, "bad_range", f"The range must lie within the checkpoint's {checkpoint.size} entries."
        )
    if start < state.min_index and end > start:
        raise ExportError(
            410,
            "pruned",
            f"Entries below {state.min_index} were pruned past retention; start at or above it.",
        )
    if end - start > MAX_BUNDLE_ENTRIES:
        raise ExportError(422, "range_too_large", f"Export at most {MAX_BUNDLE_ENTRIES} entries at a time.")
    rows = list(
        await connection.execute(
            select(audit_entries)
            .where(audit_entries.c.idx >= start, audit_entries.c.idx < end)
            .order_by(audit_entries.c.idx)
        )
    )
    leaves = await node_range(connection, 0, start, end)
    prefix_ids = range_node_ids(0, start)
    prefix = await get_nodes(connection, prefix_ids) if prefix_ids else []
    range_proof = await build_proof(connection, consistency_proof_plan(end, checkpoint.size))
    keys = await device_keys(connection, _signer_devices(rows))
    entries = [entry_value(row, leaf_hash=leaves[row.idx - start]) for row in rows]
    return _bundle(
        identity,
        checkpoint,
        BundleScope("range", start=start, end=end),
        state.min_index,
        keys,
        entries,
        prefix=prefix,
        range_proof=range_proof,
        previous=await _previous(connection, since, checkpoint.size),
        now=now,
    )


async def export_trail(
    connection: AsyncConnection,
    identity: LogIdentity,
    scope: BundleScope,
    since: int | None,
    now: dt.datetime,
) -> dict[str, Any]:
    """Every retained entry of one object's or one actor's trail, each with its inclusion proof."""
    checkpoint = await _checkpoint(connection)
    state = await load_state(connection, lock=False)
    query = select(audit_entries).where(audit_entries.c.idx < checkpoint.size)
    if scope.kind == "object":
        query = query.where(
            audit_entries.c.object_type == scope.object_type, audit_entries.c.object_id == scope.object_id
        )
    else:
        query = query.where(audit_entries.c.actor == scope.actor)
    rows = list(await connection.execute(query.order_by(audit_entries.c.idx).limit(MAX_BUNDLE_ENTRIES + 1)))
    if len(rows) > MAX_BUNDLE_ENTRIES:
        raise ExportError(422, "trail_too_large", f"The trail has more than {MAX_BUNDLE_ENTRIES} entries.")
    entries = [
        entry_value(
            row, inclusion=await build_proof(connection, inclusion_proof_plan(row.idx, checkpoint.size))
        )
        for row in rows
    ]
    keys = await device_keys(connection, _signer_devices(rows))
    return _bundle(
        identity,
        checkpoint,
        scope,
        state.min_index,
        keys,
        entries,
        previous=await _previous(connection, since, checkpoint.size),
        now=now,
    )
