"""Evidence bundles made from the auditor's copy of the log, offline.

A bundle is the format ``kluis-verify`` checks (shared/audit/bundle.py) with no server and
no Kluis database: a range of entries with the hashes that join them to the signed
checkpoint, or one object's or one staff member's trail with an inclusion proof for each
entry.  The proofs come from the copy itself (a :class:`~shared.merkle.PrunedTree` over its
leaves and the subtrees covering what was pruned), so nothing here needs the network.  The
file is written atomically; the export is recorded as an access event by the caller."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from console.audit.copy import AuditCopy, CopyState, EntryFilter
from console.audit.verify import copy_bundle
from console.errors import ConsoleError
from console.files import write_atomically
from shared.audit.bundle import MAX_BUNDLE_ENTRIES, Bundle, BundleScope
from shared.audit.codec import b64url_encode
from shared.merkle import CompactRange, PrunedTree, consistency_proof, inclusion_proof


class ExportRefused(ConsoleError):
    """The bundle cannot be made as asked; nothing was written."""


@dataclass(frozen=True)
class ExportRequest:
    """``kind`` is ``range`` (entries ``start`` to ``end``, the copy's end when None),
    ``object`` (``object_type`` and ``object_id``) or ``actor``."""

    kind: str
    start: int | None = None
    end: int | None = None
    object_type: str | None = None
    object_id: str | None = None
    actor: uuid.UUID | None = None

    def scope(self, state: CopyState) -> BundleScope:
        if self.kind == "range":
            start = state.min_index if self.start is None else self.start
            end = state.size if self.end is None else self.end
            return BundleScope("range", start=start, end=end)
        if self.kind == "object":
            return BundleScope("object", object_type=self.object_type, object_id=self.object_id)
        return BundleScope("actor", actor=self.actor)

    @property
    def audit_target(self) -> tuple[str, str]:
        """What the export's access event names, as the server names its own exports."""
        if self.kind == "range":
            return "audit_log", "range"
        if self.kind == "object":
            assert self.object_type is not None
            assert self.object_id is not None
            return self.object_type, self.object_id
        return "user", str(self.actor)


@dataclass(frozen=True)
class Exported:
    path: Path
    entries: int
    scope: str
    checkpoint_size: int


def build_bundle(copy: AuditCopy, request: ExportRequest, at: dt.datetime) -> tuple[Bundle, CopyState]:
    """The bundle and the state of the copy it was made from; blocks (SQLCipher, hashing)."""
    with copy.snapshot() as snapshot:
        state = snapshot.state()
        if state.empty:
            raise ExportRefused("There is no copy of the audit log on this computer yet: download it first.")
        scope = request.scope(state)
        if scope.kind == "range" and not state.min_index <= scope.start <= scope.end <= state.size:
            raise ExportRefused(
                f"A range must lie within the entries this copy holds, {state.min_index} to {state.size - 1}."
            )
        base = copy_bundle(snapshot, state, at, previous_note=True)
        leaves = snapshot.leaf_hashes()
        tree = PrunedTree(state.min_index, state.prefix, leaves)
        if scope.kind == "range":
            entries = [entry for chunk in snapshot.bundle_entries(scope.start, scope.end) for entry in chunk]
            compact = CompactRange.from_state(state.min_index, state.prefix)
            compact.extend(leaves[: scope.start - state.min_index])
            prefix, range_proof = compact.hashes, tuple(consistency_proof(tree, scope.end, state.size))
        else:
            where = (
                EntryFilter(object_type=scope.object_type, object_id=scope.object_id)
                if scope.kind == "object"
                else EntryFilter(actor=str(scope.actor))
            )
            entries = [
                {
                    **entry,
                    "inclusion": [
                        b64url_encode(h) for h in inclusion_proof(tree, entry["index"], state.size)
                    ],
                }
                for chunk in snapshot.bundle_entries(state.min_index, state.size, where=where)
                for entry in chunk
            ]
            prefix, range_proof = (), ()
    if len(entries) > MAX_BUNDLE_ENTRIES:
        raise ExportRefused(
            f"That is {len(entries):,} entries; a bundle holds at most {MAX_BUNDLE_ENTRIES:,}. "
            "Export a shorter range."
        )
    signers = {uuid.UUID(e["event"]["signer"].split(":", 1)[1]) for e in entries if _device_signed(e)}
    previous = base.previous
    if previous is None or previous.size >= state.size or not previous.proof:
        previous = None
    bundle = replace(
        base,
        scope=scope,
        device_keys={key: value for key, value in base.device_keys.items() if key in signers},
        prefix=tuple(prefix),
        range_proof=range_proof,
        previous=previous,
        entries=entries,
    )
    return bundle, state


def _proof(tree: PrunedTree, index: int, size: int) -> list[str]:
    return [b64url_encode(value) for value in inclusion_proof(tree, index, size)]


def _device_signed(entry: dict[str, Any]) -> bool:
    event = entry["event"]
    return event is not None and str(event.get("signer", "")).startswith("device:")


def export_bundle(copy: AuditCopy, request: ExportRequest, path: Path, at: dt.datetime) -> Exported:
    """Make the bundle and write it to ``path`` atomically."""
    bundle, state = build_bundle(copy, request, at)
    data = json.dumps(bundle.to_value(), separators=(",", ":")).encode()
    try:
        write_atomically(path, data)
    except OSError as exc:
        raise ExportRefused(f"The bundle could not be written to {path}: {exc.strerror}.") from None
    return Exported(path, len(bundle.entries), bundle.scope.describe(), state.size)
