"""Checking a batch of one device's Ed25519 signatures on every core.

Large batches go to worker processes.  Threads were tried first: verification releases the
GIL, but each thread must take it back between two signatures, and while the event loop is
busy parsing and appending it waits up to the interpreter's switch interval to do so, so
two cores never both verified.  The workers are started by a fork server (or spawned where
there is none), never forked from the server with its threads; they ignore SIGINT, so that
Ctrl-C reaches the server alone and it can shut them down in order, and they exit when the
server's process ends, even by SIGKILL.  If a worker dies or
cannot start, batches are checked on a thread instead (slower, never lost) and new workers
are tried again a little later."""

from __future__ import annotations

import asyncio
import logging
import math
import multiprocessing
import os
import signal
import threading
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.process import BaseProcess
from typing import Final

from server.logs import fields
from shared.crypto import verify_each

logger = logging.getLogger("kluis.audit")

INLINE_AT_MOST: Final = 16
"""Batches this small are checked on the event loop: a round trip to a worker costs more."""


def check_signatures(public_key: bytes, pairs: Sequence[tuple[bytes, bytes]]) -> bytes:
    """One byte per (message, signature) pair: 1 where it verifies under ``public_key``."""
    return verify_each(public_key, pairs)


def _start_worker() -> None:
    """In each worker: leave Ctrl-C to the server, and end with the server however it ends.
    A worker holds both ends of its job queue, so it would never see the server go; and
    the fork server lives as long as any worker does."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    server = multiprocessing.parent_process()
    if server is not None:
        threading.Thread(target=_end_with, args=(server,), name="kluis-end-with-server", daemon=True).start()


def _end_with(server: BaseProcess) -> None:
    server.join()
    os._exit(0)


def _start_method() -> str:
    return "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


RETRY_WORKERS_AFTER: Final = 30.0
"""Seconds a broken pool is left alone, its batches checked on a thread meanwhile."""


class SignatureVerifier:
    """``await verify(public_key, pairs)`` gives one bool per pair, in order."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = max(1, workers or os.cpu_count() or 1)
        self._pool: ProcessPoolExecutor | None = None
        self._no_workers_until = -math.inf

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            context = multiprocessing.get_context(_start_method())
            self._pool = ProcessPoolExecutor(self.workers, mp_context=context, initializer=_start_worker)
        return self._pool

    async def warm_up(self) -> None:
        """Start the workers now rather than with the first large batch."""
        if self.workers > 1:
            await self.verify(b"\x00" * 32, [(b"", b"\x00" * 64)] * (INLINE_AT_MOST + 1))

    async def verify(self, public_key: bytes, pairs: Sequence[tuple[bytes, bytes]]) -> list[bool]:
        if self.workers == 1 or len(pairs) <= INLINE_AT_MOST:
            return [bool(value) for value in check_signatures(public_key, pairs)]
        loop = asyncio.get_running_loop()
        if loop.time() < self._no_workers_until:
            return await self._on_a_thread(public_key, pairs)
        size = -(-len(pairs) // self.workers)
        executor = self._executor()
        try:
            parts = await asyncio.gather(
                *(
                    loop.run_in_executor(executor, check_signatures, public_key, pairs[start : start + size])
                    for start in range(0, len(pairs), size)
                )
            )
        except BrokenProcessPool:
            logger.warning(
                "a signature worker died or could not start; checking on a thread for a while",
                extra=fields(seconds=RETRY_WORKERS_AFTER),
            )
            self._discard(executor)
            self._no_workers_until = loop.time() + RETRY_WORKERS_AFTER
            return await self._on_a_thread(public_key, pairs)
        return [bool(value) for part in parts for value in part]

    async def _on_a_thread(self, public_key: bytes, pairs: Sequence[tuple[bytes, bytes]]) -> list[bool]:
        """Off the event loop, on one core at most: the fallback while there are no workers."""
        results = await asyncio.to_thread(check_signatures, public_key, pairs)
        return [bool(value) for value in results]

    def _discard(self, executor: ProcessPoolExecutor) -> None:
        if self._pool is executor:
            self._pool = None
        executor.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
