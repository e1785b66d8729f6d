"""Checking an evidence bundle offline, sans-IO.

:class:`BundleVerifier` takes a loaded :class:`~shared.audit.bundle.Bundle` and does every
check but the Ed25519 signatures, which it hands back as :class:`SignatureJob` lists so that
the caller can run them however it likes (all cores, with a progress bar) and feed the
results back.  Every problem becomes a :class:`Finding` naming the entry (by log index) and
what is wrong; an erased event is reported as erased, not as a failure.

What is checked:

* the checkpoint is signed by the log key and names the bundle's origin;
* an earlier checkpoint the auditor kept (``previous``) is consistent with it;
* every entry is well formed, sits at its own index, commits to its event, salt and
  signature, and agrees with its event (id, signer, retention class, scope of the bundle);
* every event's signature checks against the bundle's keys, and no device event was
  received after its device was revoked;
* for a range, the root recomputed from the entries (after the ``prefix`` subtrees, then
  extended to the checkpoint by ``range_proof``) equals the checkpoint's root;
* for a trail, each entry's inclusion proof leads to the checkpoint's root.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from shared.audit.bundle import Bundle
from shared.audit.codec import FormatError, b64url_decode
from shared.audit.entry import LogEntry, parse_entry
from shared.audit.event import SignerKind, event_from_value, verify_event_signature
from shared.checkpoint import Checkpoint, CheckpointError, open_checkpoint
from shared.merkle import (
    CompactRange,
    ProofError,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)
from shared.note import NoteError, Verifier

__all__ = ["BundleVerifier", "Finding", "Report", "SignatureJob", "verify_bundle"]

_ENTRY_MEMBERS: Final = frozenset(
    {"index", "entry", "leaf_hash", "event", "salt", "signature", "erased", "inclusion"}
)
_ERASURE_REASONS: Final = frozenset({"retention", "erasure"})
_PROGRESS_STEP: Final = 4096


@dataclass(frozen=True)
class Finding:
    """One problem.  ``index`` is the log index of the entry concerned, when there is one."""

    index: int | None
    code: str
    message: str

    def __str__(self) -> str:
        where = f"entry {self.index}" if self.index is not None else "bundle"
        return f"{where}: {self.message} [{self.code}]"


@dataclass(frozen=True)
class SignatureJob:
    index: int
    signer: str
    public_key: bytes
    data: bytes
    signature: bytes


@dataclass(frozen=True)
class Report:
    scope: str
    checkpoint: Checkpoint | None
    entries: int
    events: int
    erased: tuple[tuple[int, str], ...]
    signatures_checked: int
    findings: tuple[Finding, ...]
    notes: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.findings


@dataclass
class _Leaf:
    index: int
    computed: bytes
    listed: bytes | None


@dataclass
class BundleVerifier:
    bundle: Bundle
    log_key: str | None = None
    """The log key the auditor trusts; without it the bundle's own key is used (and noted)."""
    previous: bytes | None = None
    """A signed checkpoint the auditor kept from before: the bundle's must extend it."""
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    erased: list[tuple[int, str]] = field(default_factory=list)
    checkpoint: Checkpoint | None = None
    events: int = 0
    signatures_checked: int = 0
    _verifier: Verifier | None = None
    _position: int = 0
    _last: int = -1
    _seen: dict[str, int] = field(default_factory=dict)
    _complete: bool = True
    _listed_complete: bool = True
    _mismatched: list[int] = field(default_factory=list)
    _computed: CompactRange | None = None
    _listed: CompactRange | None = None
    _pending_computed: list[bytes] = field(default_factory=list)
    _pending_listed: list[bytes] = field(default_factory=list)

    def _find(self, index: int | None, code: str, message: str) -> None:
        self.findings.append(Finding(index, code, message))

    # --- checkpoint ---------------------------------------------------------------------

    def _open_checkpoint(self) -> None:
        bundle = self.bundle
        key_text = self.log_key or bundle.log_key
        if self.log_key is None:
            self.notes.append("the log key was taken from the bundle itself; pin it with --log-key")
        elif self.log_key != bundle.log_key:
            self.notes.append(
                "the bundle names a different log key from the trusted one; the trusted one is used"
            )
        try:
            self._verifier = Verifier.parse(key_text)
        except NoteError as exc:
            self._find(None, "bad_log_key", f"the log key is not a note verifier key: {exc}")
            return
        try:
            self.checkpoint = open_checkpoint(bundle.checkpoint, self._verifier, origin=bundle.origin)
        except (NoteError, CheckpointError) as exc:
            self._find(None, "bad_checkpoint", f"the checkpoint does not verify with the log key: {exc}")

    def _check_previous(self) -> None:
        checkpoint, previous = self.checkpoint, self.bundle.previous
        if checkpoint is None or self._verifier is None:
            return
        trusted: list[tuple[str, bytes]] = []
        if self.previous is not None:
            trusted.append(("the earlier checkpoint given", self.previous))
        if previous is not None and previous.checkpoint is not None:
            trusted.append(("the bundle's earlier checkpoint", previous.checkpoint))
        for what, note in trusted:
            try:
                old = open_checkpoint(note, self._verifier, origin=self.bundle.origin)
            except (NoteError, CheckpointError) as exc:
                self._find(None, "bad_previous_checkpoint", f"{what} does not verify: {exc}")
                continue
            if old.size == checkpoint.size:
                if old.root_hash != checkpoint.root_hash:
                    self._find(None, "fork", f"{what} has the same size {old.size} but a different root")
                continue
            if old.size > checkpoint.size:
                self._find(
                    None,
                    "log_shrank",
                    f"{what} has size {old.size}, larger than the bundle's {checkpoint.size}",
                )
                continue
            if previous is None or previous.size != old.size:
                self._find(
                    None,
                    "no_consistency_proof",
                    f"the bundle has no consistency proof from size {old.size}; "
                    f"export it with since={old.size}",
                )
                continue
            try:
                verify_consistency(
                    old.size, checkpoint.size, old.root_hash, checkpoint.root_hash, previous.proof
                )
            except ProofError as exc:
                self._find(
                    None,
                    "inconsistent",
                    f"the log at size {checkpoint.size} does not extend {what} (size {old.size}): {exc}",
                )

    # --- entries ------------------------------------------------------------------------

    def _entry(
        self, position: int, raw: Mapping[str, Any], expected: int | None, jobs: list[SignatureJob]
    ) -> _Leaf | None:
        index = raw.get("index")
        if not isinstance(index, int) or isinstance(index, bool) or index < 0:
            self._find(expected, "bad_index", f"the entry at position {position} has no valid index")
            return None
        if set(raw) != _ENTRY_MEMBERS:
            self._find(index, "malformed", f"members must be exactly {sorted(_ENTRY_MEMBERS)}")
            return None
        if expected is not None and index != expected:
            self._find(
                expected,
                "out_of_place",
                f"position {position} holds index {index}, expected {expected}: "
                "an entry is missing, inserted or out of order",
            )
        try:
            data = b64url_decode(raw["entry"], "entry")
            entry = parse_entry(data)
        except FormatError as exc:
            self._find(index, "malformed_entry", f"the entry is malformed: {exc}")
            return None
        computed = leaf_hash(data)
        listed: bytes | None = None
        if raw["leaf_hash"] is not None:
            try:
                listed = b64url_decode(raw["leaf_hash"], "leaf_hash", 32)
            except FormatError as exc:
                self._find(index, "malformed", str(exc))
        if entry.index != index:
            self._find(index, "wrong_index", f"the entry says it is entry {entry.index}, but sits at {index}")
        self._check_event(index, entry, raw, jobs)
        return _Leaf(index, computed, listed)

    def _check_event(
        self, index: int, entry: LogEntry, raw: Mapping[str, Any], jobs: list[SignatureJob]
    ) -> None:
        if raw["event"] is None:
            if raw["salt"] is not None or raw["signature"] is not None:
                self._find(index, "malformed", "an erased entry keeps neither salt nor signature")
            elif raw["erased"] not in _ERASURE_REASONS:
                self._find(index, "event_missing", "the event is missing but the entry is not marked erased")
            else:
                self.erased.append((index, str(raw["erased"])))
            return
        if raw["erased"] is not None:
            self._find(index, "malformed", "the entry is marked erased but carries its event")
        try:
            event = event_from_value(raw["event"])
            salt = b64url_decode(raw["salt"], "salt", 32)
            signature = b64url_decode(raw["signature"], "signature", 64)
        except FormatError as exc:
            self._find(index, "malformed_event", f"the event is malformed: {exc}")
            return
        data = event.to_bytes()
        if not entry.commits_to(salt, signature, data):
            self._find(
                index,
                "commitment_mismatch",
                "the event, salt or signature is not the one the entry commits to",
            )
            return
        for name, mine, theirs in (
            ("event id", str(entry.event_id), str(event.event_id)),
            ("signer", entry.signer, event.signer),
            ("class", entry.event_class, event.event_class.value),
        ):
            if mine != theirs:
                self._find(index, "entry_event_mismatch", f"the entry's {name} differs from the event's")
        scope = self.bundle.scope
        if (
            scope.kind == "object"
            and (event.object_type, event.object_id) != (scope.object_type, scope.object_id)
        ) or (scope.kind == "actor" and event.actor != scope.actor):
            self._find(index, "out_of_scope", f"the event is not part of {scope.describe()}")
        self.events += 1
        kind, signer_id = event.signer_parts
        if kind is SignerKind.DEVICE:
            device = self.bundle.device_keys.get(uuid.UUID(signer_id))
            if device is None:
                self._find(
                    index, "unknown_signer", f"device {signer_id} is not among the bundle's device keys"
                )
                return
            if device.revoked_at is not None and entry.received_at >= device.revoked_at:
                self._find(index, "revoked_device", f"received after device {signer_id} was revoked")
            public_key = device.public_key
        else:
            server_key = self.bundle.server_keys.get(signer_id)
            if server_key is None:
                self._find(
                    index, "unknown_signer", f"server key {signer_id} is not among the bundle's server keys"
                )
                return
            public_key = server_key
        jobs.append(SignatureJob(index, event.signer, public_key, data, signature))

    # --- streaming ----------------------------------------------------------------------

    def begin(self) -> None:
        """Open the checkpoint and check the earlier one; then :meth:`feed` the entries."""
        self._open_checkpoint()
        self._check_previous()
        scope = self.bundle.scope
        if scope.kind == "range" and len(self.bundle.prefix) == scope.start.bit_count():
            self._computed = CompactRange.from_state(scope.start, self.bundle.prefix)
            self._listed = CompactRange.from_state(scope.start, self.bundle.prefix)

    def feed(self, entries: Iterable[Mapping[str, Any]]) -> list[SignatureJob]:
        """Check the next entries in bundle order (any number at a time, so that a log too
        big for memory can be checked piece by piece); returns their signatures to check."""
        scope = self.bundle.scope
        jobs: list[SignatureJob] = []
        for raw in entries:
            position = self._position
            self._position += 1
            expected = scope.start + position if scope.kind == "range" else None
            leaf = self._entry(position, raw, expected, jobs)
            if leaf is None:
                self._complete = self._listed_complete = False
                continue
            if scope.kind == "range":
                self._grow(leaf)
            else:
                if leaf.index <= self._last:
                    self._find(leaf.index, "out_of_order", "trail entries must be in increasing index order")
                if self.checkpoint is not None:
                    self._check_inclusion(leaf, raw)
            self._last = max(self._last, leaf.index)
            event = raw.get("event")
            event_id = event.get("event_id") if isinstance(event, dict) else None
            if isinstance(event_id, str):
                if event_id in self._seen:
                    self._find(
                        leaf.index, "duplicate_event", f"the same event is also entry {self._seen[event_id]}"
                    )
                self._seen.setdefault(event_id, leaf.index)
        self._absorb_pending()
        return jobs

    def finish(self) -> None:
        """After the last entry: the count of a range and its root against the checkpoint."""
        scope = self.bundle.scope
        if scope.kind == "range" and self._position != scope.end - scope.start:
            self._find(
                None,
                "wrong_count",
                f"the range {scope.start}..{scope.end - 1} needs {scope.end - scope.start} entries, "
                f"the bundle has {self._position}",
            )
        if self.checkpoint is not None and scope.kind == "range":
            self._check_range()

    def _grow(self, leaf: _Leaf) -> None:
        if self._computed is None or self._listed is None:
            return
        if leaf.listed is None:
            self._listed_complete = False
        elif self._listed_complete:
            self._pending_listed.append(leaf.listed)
            if leaf.computed != leaf.listed:
                self._mismatched.append(leaf.index)
        self._pending_computed.append(leaf.computed)

    def _absorb_pending(self) -> None:
        """Fold the leaves one :meth:`feed` gathered into the trees, in one call each."""
        if self._computed is not None and self._pending_computed:
            self._computed.absorb(self._pending_computed)
        if self._listed is not None and self._listed_complete and self._pending_listed:
            self._listed.absorb(self._pending_listed)
        self._pending_computed.clear()
        self._pending_listed.clear()

    # --- tree ---------------------------------------------------------------------------

    def _range_root_holds(self, compact: CompactRange) -> bool:
        checkpoint, scope = self.checkpoint, self.bundle.scope
        assert checkpoint is not None
        if scope.end == checkpoint.size:
            return compact.root() == checkpoint.root_hash
        try:
            verify_consistency(
                scope.end, checkpoint.size, compact.root(), checkpoint.root_hash, self.bundle.range_proof
            )
        except ProofError:
            return False
        return True

    def _check_range(self) -> None:
        checkpoint, scope = self.checkpoint, self.bundle.scope
        assert checkpoint is not None
        if scope.end > checkpoint.size:
            self._find(
                None, "beyond_checkpoint", f"the range ends at {scope.end}, past the checkpoint's size"
            )
            return
        if scope.start < self.bundle.pruned_below and scope.end > scope.start:
            self._find(
                None,
                "pruned",
                f"entries below {self.bundle.pruned_below} were pruned and cannot be in a range",
            )
        if self._computed is None or self._listed is None:
            self._find(None, "bad_prefix", f"the prefix must hold {scope.start.bit_count()} subtree hashes")
            return
        counted = self._position == scope.end - scope.start
        complete = counted and self._complete
        if complete and self._range_root_holds(self._computed):
            return
        if counted and self._listed_complete and self._range_root_holds(self._listed):
            for index in self._mismatched:
                self._find(index, "not_in_log", "the entry's bytes are not the ones the signed log holds")
            if self._mismatched or not complete:
                return
        self._find(
            None,
            "root_mismatch",
            f"the root recomputed from {scope.describe()} does not match "
            f"the checkpoint of size {checkpoint.size}",
        )

    def _check_inclusion(self, leaf: _Leaf, raw: Mapping[str, Any]) -> None:
        checkpoint = self.checkpoint
        assert checkpoint is not None
        try:
            proof = [b64url_decode(item, "inclusion", 32) for item in raw["inclusion"] or []]
            verify_inclusion(leaf.computed, leaf.index, checkpoint.size, proof, checkpoint.root_hash)
        except (FormatError, ProofError, TypeError) as exc:
            self._find(
                leaf.index, "not_included", f"the inclusion proof does not lead to the checkpoint: {exc}"
            )

    # --- the whole check ----------------------------------------------------------------

    def check(self, progress: Callable[[int, int], None] | None = None) -> list[SignatureJob]:
        """Everything but signatures, over the bundle's own entries; returns the signatures
        to check."""
        self.begin()
        entries = self.bundle.entries
        total = len(entries)
        jobs: list[SignatureJob] = []
        for start in range(0, total, _PROGRESS_STEP):
            jobs.extend(self.feed(entries[start : start + _PROGRESS_STEP]))
            if progress is not None:
                progress(min(start + _PROGRESS_STEP, total), total)
        if progress is not None and not total:
            progress(0, 0)
        self.finish()
        return jobs

    def record_signatures(self, jobs: Sequence[SignatureJob], results: Sequence[bool]) -> None:
        if len(jobs) != len(results):
            raise ValueError("one result per signature job")
        for job, valid in zip(jobs, results, strict=True):
            self.signatures_checked += 1
            if not valid:
                self._find(
                    job.index, "bad_signature", f"the event's signature by {job.signer} does not verify"
                )

    def report(self) -> Report:
        findings = sorted(self.findings, key=lambda f: (f.index is not None, f.index or 0))
        return Report(
            scope=self.bundle.scope.describe(),
            checkpoint=self.checkpoint,
            entries=self._position,
            events=self.events,
            erased=tuple(self.erased),
            signatures_checked=self.signatures_checked,
            findings=tuple(findings),
            notes=tuple(self.notes),
        )


def verify_bundle(
    bundle: Bundle,
    *,
    log_key: str | None = None,
    previous: bytes | None = None,
    check_signature: Callable[[bytes, bytes, bytes], bool] = verify_event_signature,
) -> Report:
    """Every check, one signature after another (see console.verify_cli for all cores)."""
    verifier = BundleVerifier(bundle, log_key=log_key, previous=previous)
    jobs = verifier.check()
    verifier.record_signatures(
        jobs, [check_signature(job.public_key, job.data, job.signature) for job in jobs]
    )
    return verifier.report()
