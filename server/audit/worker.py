"""The audit worker each server instance runs: append waiting server events, sign a
checkpoint when the tree has grown, and prune past retention now and then.

A pass runs at once after a local append, or every ``audit_checkpoint_interval`` seconds,
but never sooner than that interval after the pass before it: signing takes the state
row's lock that every append waits for, and under a steady stream of uploads a pass after
every append signed a dozen checkpoints a second.  So a new entry gets its checkpoint
within one interval, and a busy log at most one checkpoint per interval."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time

from sqlalchemy.exc import OperationalError

from server.audit.log import AuditLog, CheckpointRefused
from server.audit.store import LogCorrupted
from server.logs import fields

logger = logging.getLogger("kluis.audit")
_FINAL_PASS_SECONDS = 5.0
# PostgreSQL's serialization_failure, deadlock_detected and lock_not_available.
_CONTENDED_SQLSTATES = frozenset({"40001", "40P01", "55P03"})


def contended(error: OperationalError) -> bool:
    """Another transaction held what a pass needed (SQLite's busy timeout ran out, or
    PostgreSQL gave up on a lock): the next pass simply tries again."""
    original = error.orig
    if isinstance(original, sqlite3.OperationalError):
        return str(original).startswith(("database is locked", "database table is locked"))
    return getattr(original, "sqlstate", None) in _CONTENDED_SQLSTATES


class AuditWorker:
    def __init__(self, log: AuditLog, *, interval: float, prune_interval: float) -> None:
        self.log = log
        self.interval = interval
        self.prune_interval = prune_interval
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._next_prune = 0.0
        log.on_append(self._wake.set)

    def start(self) -> None:
        self._next_prune = time.monotonic() + self.prune_interval
        self._task = asyncio.create_task(self._run(), name="audit-worker")

    async def run_once(self) -> None:
        while await self.log.sequence_pending():
            pass
        await self.log.sign_checkpoint()
        if time.monotonic() >= self._next_prune:
            self._next_prune = time.monotonic() + self.prune_interval
            await self.log.prune()

    async def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            started = time.monotonic()
            try:
                await self.run_once()
            except (CheckpointRefused, LogCorrupted) as exc:
                # Refusing to sign is the safe answer; an operator must look.
                logger.error("the audit log refused to sign a checkpoint", extra=fields(reason=str(exc)))
            except OperationalError as exc:
                if not contended(exc):
                    logger.exception("an audit worker pass failed; retrying")
                else:
                    logger.warning(
                        "an audit worker pass waited too long for the database; retrying",
                        extra=fields(kind=type(exc.orig).__name__),
                    )
            except Exception:
                logger.exception("an audit worker pass failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.interval)
            # Woken by an append: not before the interval since this pass began is over.
            spacing = started + self.interval - time.monotonic()
            if spacing > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), timeout=spacing)

    async def stop(self) -> None:
        """Stop, after one last pass (bounded) so that events recorded just before get in.

        The pass under way is let finish rather than cancelled: cancelling it inside a
        transaction can leave SQLite's write lock held by a connection the pool then keeps,
        and every later append would find the database locked."""
        if self._task is None:
            return
        self._stop.set()
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout=_FINAL_PASS_SECONDS)
        except TimeoutError:
            logger.warning("the audit worker's pass did not end in time; cancelling it")
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None
        try:
            await asyncio.wait_for(self.run_once(), timeout=_FINAL_PASS_SECONDS)
        except Exception:
            logger.exception(
                "the audit worker's last pass did not finish; pending events wait for the next start"
            )
