"""Checking a batch of one device's events on every core: screening each event and
verifying its Ed25519 signature.

Large batches go to worker processes.  Threads were tried first: verification releases the
GIL, but each thread must take it back between two signatures, and while the event loop is
busy parsing and appending it waits up to the interpreter's switch interval to do so, so
two cores never both verified.  Screening (parsing and checking the event against the
caller) runs in the workers too: on the event loop it took as long as appending.  The
workers run at a lower priority than the server, whose appends every batch waits on.

The workers are started by a fork server (or spawned where there is none), never forked
from the server with its threads; they ignore SIGINT, so that Ctrl-C reaches the server
alone and it can shut them down in order, and they exit when the server's process ends,
even by SIGKILL.  If a worker dies or cannot start, batches are checked on a thread
instead (slower, never lost) and new workers are tried again a little later."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from multiprocessing.process import BaseProcess
from typing import Final, TypeVar

from server.audit.ingest import Caller, Refused, check_batch
from server.logs import fields
from shared.audit.event import EventFields
from shared.crypto import verify

logger = logging.getLogger("kluis.audit")

_Item = TypeVar("_Item")
_Answer = TypeVar("_Answer")
_Work = Callable[[Sequence[_Item]], Sequence[_Answer]]

WORKER_NICENESS: Final = 10
"""How much lower than the server's the workers' scheduling priority is."""

INLINE_AT_MOST: Final = 16
"""Batches this small are checked on the event loop: a round trip to a worker costs more."""


def check_signatures(public_key: bytes, pairs: Sequence[tuple[bytes, bytes]]) -> bytes:
    """One byte per (message, signature) pair: 1 where it verifies under ``public_key``."""
    return bytes(verify(public_key, message, signature) for message, signature in pairs)


def _start_worker() -> None:
    """In each worker: leave Ctrl-C to the server, and end with the server however it ends.
    A worker holds both ends of its job queue, so it would never see the server go; and
    the fork server lives as long as any worker does."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(os, "nice"):
        # The event loop and the appending transaction are the path every batch waits on;
        # checking is batch work, and takes whatever CPU they leave.
        os.nice(WORKER_NICENESS)
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
        return [bool(value) for value in await self._spread(partial(check_signatures, public_key), pairs)]

    async def check_events(
        self, caller: Caller, public_key: bytes, now: dt.datetime, items: Sequence[tuple[bytes, bytes]]
    ) -> list[EventFields | Refused]:
        """:func:`ingest.check_batch` for a whole batch: screening moves to the workers with
        the signatures, because on the event loop it took as long as the append itself."""
        return await self._spread(partial(check_batch, caller, public_key, now), items)

    async def _spread(self, work: _Work[_Item, _Answer], items: Sequence[_Item]) -> list[_Answer]:
        """``work`` over ``items``, cut into one share per worker; the answers in order."""
        if self.workers == 1 or len(items) <= INLINE_AT_MOST:
            return list(work(items))
        loop = asyncio.get_running_loop()
        if loop.time() < self._no_workers_until:
            return await self._on_a_thread(work, items)
        size = -(-len(items) // self.workers)
        executor = self._executor()
        try:
            parts = await asyncio.gather(
                *(
                    loop.run_in_executor(executor, work, items[start : start + size])
                    for start in range(0, len(items), size)
                )
            )
        except BrokenProcessPool:
            logger.warning(
                "a signature worker died or could not start; checking on a thread for a while",
                extra=fields(seconds=RETRY_WORKERS_AFTER),
            )
            self._discard(executor)
            self._no_workers_until = loop.time() + RETRY_WORKERS_AFTER
            return await self._on_a_thread(work, items)
        return [answer for part in parts for answer in part]

    async def _on_a_thread(self, work: _Work[_Item, _Answer], items: Sequence[_Item]) -> list[_Answer]:
        """Off the event loop, on one core at most: the fallback while there are no workers."""
        return list(await asyncio.to_thread(work, items))

    def _discard(self, executor: ProcessPoolExecutor) -> None:
        if self._pool is executor:
            self._pool = None
        executor.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
