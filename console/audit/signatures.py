"""Checking many Ed25519 signatures on every core, from inside the console.

The console runs Qt and a thread pool, so its worker processes are started by a fork
server (a clean process forked before any thread exists) or spawned, never forked from the
console itself.  Small batches are checked here: starting processes would cost more."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing.process import BaseProcess
from types import TracebackType
from typing import Final

from console.verify_cli import check_signatures_serial
from shared.audit.verify import SignatureJob

PARALLEL_FROM: Final = 512


def _start_method() -> str:
    methods = multiprocessing.get_all_start_methods()
    return "forkserver" if "forkserver" in methods else "spawn"


def _in_each_checker() -> None:
    """Ctrl-C belongs to the console; and a checker exits when the console does, even when
    the console is killed and never shuts its pool down, rather than lingering."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    console = multiprocessing.parent_process()
    if console is not None:
        threading.Thread(target=_exit_after, args=(console,), name="kluis-checker-watch", daemon=True).start()


def _exit_after(console: BaseProcess) -> None:
    console.join()
    os._exit(0)


class SignatureChecker:
    """``submit(jobs)`` returns a future of one bool per job; use it as a context manager so
    its processes end with it."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = max(1, workers or os.cpu_count() or 1)
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> SignatureChecker:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            context = multiprocessing.get_context(_start_method())
            self._pool = ProcessPoolExecutor(self.workers, mp_context=context, initializer=_in_each_checker)
        return self._pool

    def submit(self, jobs: Sequence[SignatureJob]) -> PendingResults:
        """Start checking ``jobs``; the answer's ``result()`` waits for them."""
        if self.workers == 1 or len(jobs) < PARALLEL_FROM:
            return PendingResults(done=check_signatures_serial(jobs))
        step = -(-len(jobs) // self.workers)
        executor = self._executor()
        return PendingResults(
            parts=[
                executor.submit(check_signatures_serial, list(jobs[start : start + step]))
                for start in range(0, len(jobs), step)
            ]
        )


class PendingResults:
    def __init__(self, *, done: bytes | None = None, parts: Sequence[Future[bytes]] = ()) -> None:
        self._done = done
        self._parts = parts

    def result(self) -> list[bool]:
        """One bool per job, in order: True where the signature verifies."""
        if self._done is None:
            self._done = b"".join(part.result() for part in self._parts)
        return [bool(value) for value in self._done]
