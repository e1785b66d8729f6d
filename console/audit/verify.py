"""Verifying the auditor's copy of the log offline, with no server.

The copy is checked exactly as ``kluis-verify`` checks an evidence bundle of the whole log
(shared/audit/verify.py), entry by entry in chunks so that a log of millions fits in
memory: the signed checkpoint opens with the pinned log key; it is consistent with the
checkpoint this console verified last (kept in the vault); every entry is well formed, in
its place and commits to its event; every device and server signature checks (on every
core, while the next chunk's entries are being checked); and the root recomputed from
every entry equals the checkpoint's.  What it finds names the entry.  A clean result makes
the copy's checkpoint the one later checkpoints must extend."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass

from console.audit.copy import AuditCopy, CopyState
from console.audit.signatures import PendingResults, SignatureChecker
from console.errors import ConsoleError
from shared.audit.bundle import Bundle, BundleScope, PreviousCheckpoint
from shared.audit.verify import BundleVerifier, Report, SignatureJob

Progress = Callable[[int, int], None]


class NothingToVerify(ConsoleError):
    def __init__(self) -> None:
        super().__init__("There is no copy of the audit log on this computer yet: download it first.")


class VerificationCancelled(ConsoleError):
    def __init__(self) -> None:
        super().__init__("The verification was stopped before it finished; nothing was recorded.")


@dataclass(frozen=True)
class Verification:
    report: Report
    state: CopyState
    at: dt.datetime


def copy_bundle(copy: AuditCopy, state: CopyState, at: dt.datetime, *, previous_note: bool = False) -> Bundle:
    """The copy as a range bundle without its entries (they are fed in chunks).  The
    consistency proof from the trusted checkpoint goes with it; the trusted checkpoint itself
    only when asked (a verifier given it separately would check it twice)."""
    assert state.checkpoint is not None
    assert state.origin is not None
    assert state.log_key is not None
    previous = None
    if state.trusted_checkpoint is not None and state.trusted_size is not None:
        previous = PreviousCheckpoint(
            size=state.trusted_size,
            checkpoint=state.trusted_checkpoint if previous_note else None,
            proof=state.consistency_proof or (),
        )
    return Bundle(
        origin=state.origin,
        log_key=state.log_key,
        checkpoint=state.checkpoint,
        exported_at=at,
        scope=BundleScope("range", start=state.min_index, end=state.size),
        pruned_below=state.min_index,
        server_keys=state.server_keys,
        device_keys=copy.device_keys(),
        prefix=state.prefix,
        range_proof=(),
        previous=previous,
        entries=(),
    )


def verify_copy(
    copy: AuditCopy,
    *,
    workers: int | None = None,
    progress: Progress | None = None,
    cancelled: threading.Event | None = None,
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> Verification:
    """Blocks (SQLCipher and CPU): run it on a worker thread.  Records the outcome in the
    copy unless ``cancelled`` is set before the end."""
    at = clock()
    done = 0
    report_progress = progress or (lambda done, total: None)
    with copy.snapshot() as snapshot:
        state = snapshot.state()
        if state.empty:
            raise NothingToVerify()
        verifier = BundleVerifier(
            copy_bundle(snapshot, state, at), log_key=state.log_key, previous=state.trusted_checkpoint
        )
        verifier.begin()
        report_progress(0, state.held)
        waiting: tuple[list[SignatureJob], PendingResults, int] | None = None
        with SignatureChecker(workers) as checker:
            for chunk in snapshot.bundle_entries(state.min_index, state.size):
                if cancelled is not None and cancelled.is_set():
                    raise VerificationCancelled()
                jobs = verifier.feed(chunk)
                pending = checker.submit(jobs)
                if waiting is not None:
                    done += _collect(verifier, waiting)
                    report_progress(done, state.held)
                waiting = (jobs, pending, len(chunk))
            if waiting is not None:
                done += _collect(verifier, waiting)
    verifier.finish()
    report = verifier.report()
    report_progress(state.held, state.held)
    if cancelled is not None and cancelled.is_set():
        raise VerificationCancelled()
    copy.record_verification(report, state, at)
    return Verification(report, state, at)


def _collect(verifier: BundleVerifier, waiting: tuple[list[SignatureJob], PendingResults, int]) -> int:
    jobs, pending, entries = waiting
    verifier.record_signatures(jobs, pending.result())
    return entries
