"""``kluis-verify BUNDLE``: check an audit evidence bundle with no server and no Kluis
database, using every core for the signatures.  Exit status 0 when every check passes, 1
when any fails (each failure names the entry and what is wrong), 2 when the bundle or an
argument cannot be read.

Nothing here imports Qt or the server: an auditor runs it on any machine with Python and
Kluis installed."""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from shared.audit.bundle import BundleError, load_bundle
from shared.audit.verify import BundleVerifier, Report, SignatureJob
from shared.crypto import verify

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_UNREADABLE = 2
_PARALLEL_FROM = 512
_CHUNKS_PER_WORKER = 8

# Set in the parent before forking, so workers read the jobs from inherited memory instead
# of having them pickled through a pipe.
_JOBS: Sequence[SignatureJob] = ()


def _check_range(bounds: tuple[int, int]) -> bytes:
    return check_signatures_serial(_JOBS[bounds[0] : bounds[1]])


def check_signatures_serial(jobs: Sequence[SignatureJob]) -> bytes:
    """One byte per job: 1 where the signature verifies, 0 where it does not."""
    return bytes(verify(job.public_key, job.data, job.signature) for job in jobs)


def check_signatures(jobs: Sequence[SignatureJob], workers: int | None = None) -> list[bool]:
    """Check every job's signature, spread over *workers* processes (default: every core)."""
    global _JOBS
    workers = workers or os.cpu_count() or 1
    if workers <= 1 or len(jobs) < _PARALLEL_FROM:
        return [bool(value) for value in check_signatures_serial(jobs)]
    step = -(-len(jobs) // (workers * _CHUNKS_PER_WORKER))
    bounds = [(start, min(start + step, len(jobs))) for start in range(0, len(jobs), step)]
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    _JOBS = jobs
    try:
        with context.Pool(workers) as pool:
            if method == "fork":
                parts = pool.map(_check_range, bounds, chunksize=1)
            else:
                parts = pool.map(check_signatures_serial, [jobs[a:b] for a, b in bounds], chunksize=1)
    finally:
        _JOBS = ()
    return [bool(value) for part in parts for value in part]


def _progress(stream: TextIO):  # type: ignore[no-untyped-def]
    def show(done: int, total: int) -> None:
        stream.write(f"\rchecking entries: {done}/{total}")
        if done == total:
            stream.write("\n")
        stream.flush()

    return show


def print_report(report: Report, out: TextIO) -> None:
    checkpoint = report.checkpoint
    out.write(f"bundle: {report.scope}; {report.entries} entries, {report.events} events")
    out.write(f", {len(report.erased)} erased, {report.signatures_checked} signatures checked\n")
    if checkpoint is not None:
        out.write(f"checkpoint: {checkpoint.origin} size {checkpoint.size}\n")
    for index, reason in report.erased:
        out.write(f"erased: entry {index} ({reason}); its leaf and proofs still verify\n")
    for note in report.notes:
        out.write(f"note: {note}\n")
    for finding in report.findings:
        out.write(f"FAIL {finding}\n")
    out.write("OK: every check passed\n" if report.ok else f"FAILED: {len(report.findings)} problems\n")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kluis-verify",
        description="Check a Kluis audit evidence bundle offline: checkpoint signature, every entry's "
        "commitment and signature, the root recomputed from the entries, inclusion and consistency proofs.",
    )
    parser.add_argument("bundle", type=Path, help="the bundle (JSON) exported from the audit log")
    parser.add_argument(
        "--log-key",
        help="the log's note verifier key you trust (name+id+key); without it the bundle's own is used",
    )
    parser.add_argument("--log-key-file", type=Path, help="a file holding the trusted log key")
    parser.add_argument(
        "--previous", type=Path, help="a signed checkpoint you kept earlier: the bundle's must extend it"
    )
    parser.add_argument(
        "--jobs", type=int, default=None, help="processes for signatures (default: all cores)"
    )
    parser.add_argument("--progress", action="store_true", help="show progress on standard error")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        data = args.bundle.read_bytes()
        log_key = args.log_key
        if args.log_key_file is not None:
            log_key = args.log_key_file.read_text(encoding="utf-8").strip()
        previous = args.previous.read_bytes() if args.previous is not None else None
    except OSError as exc:
        print(f"kluis-verify: cannot read {exc.filename}: {exc.strerror}", file=sys.stderr)
        return EXIT_UNREADABLE
    try:
        bundle = load_bundle(data)
    except BundleError as exc:
        print(f"kluis-verify: {args.bundle} is not a readable bundle: {exc}", file=sys.stderr)
        return EXIT_UNREADABLE
    verifier = BundleVerifier(bundle, log_key=log_key, previous=previous)
    jobs = verifier.check(_progress(sys.stderr) if args.progress else None)
    verifier.record_signatures(jobs, check_signatures(jobs, args.jobs))
    report = verifier.report()
    print_report(report, sys.stdout)
    return EXIT_OK if report.ok else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
