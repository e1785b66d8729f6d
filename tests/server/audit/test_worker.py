"""The audit worker rides out a database that is busy for a moment: a short warning, no
traceback, and the next pass does the work. Anything else is still logged in full."""

from __future__ import annotations

import asyncio
import itertools
import logging
import sqlite3

import psycopg.errors
import pytest
from sqlalchemy.exc import OperationalError

from server.audit.keys import AuditKeys
from server.audit.log import AuditLog
from server.audit.retention import RetentionPolicy
from server.audit.worker import AuditWorker, contended
from server.db.engine import Database


def wrapped(original: Exception) -> OperationalError:
    return OperationalError("UPDATE audit_log_state SET ...", {}, original)


@pytest.mark.parametrize(
    ("original", "expected"),
    [
        (sqlite3.OperationalError("database is locked"), True),
        (sqlite3.OperationalError("database table is locked: audit_nodes"), True),
        (sqlite3.OperationalError("no such table: audit_entries"), False),
        (psycopg.errors.LockNotAvailable("lock timeout"), True),
        (psycopg.errors.SerializationFailure("could not serialize access"), True),
        (psycopg.errors.DeadlockDetected("deadlock detected"), True),
        (psycopg.errors.OperationalError("server closed the connection unexpectedly"), False),
    ],
)
def test_only_waiting_for_another_transaction_counts_as_contention(original, expected):
    assert contended(wrapped(original)) is expected


async def run_passes(database_url: str, failure: Exception) -> list[str]:
    """Run the worker until one pass has failed with *failure* and the next has succeeded."""
    database = Database(database_url)
    log = AuditLog(database, AuditKeys.ephemeral("worker.test/audit"), RetentionPolicy({}))
    real = log.sequence_pending
    passes: list[str] = []
    recovered = asyncio.Event()

    async def sequence_pending() -> bool:
        if not passes:
            passes.append("failed")
            raise failure
        passes.append("ran")
        recovered.set()
        return await real()

    log.sequence_pending = sequence_pending  # type: ignore[method-assign]
    worker = AuditWorker(log, interval=0.05, prune_interval=3600)
    worker.start()
    try:
        await asyncio.wait_for(recovered.wait(), timeout=10)
    finally:
        await worker.stop()
        log.close()
        await database.dispose()
    return passes


async def the_failed_pass_logged(database_url: str, caplog, message: str) -> logging.LogRecord:
    """Run the worker through a pass failing with SQLite's *message* and the pass after it;
    the one log record the failure left."""
    caplog.set_level(logging.WARNING, logger="kluis.audit")
    passes = await run_passes(database_url, wrapped(sqlite3.OperationalError(message)))
    assert passes[:2] == ["failed", "ran"]
    [record] = [r for r in caplog.records if "audit worker pass" in r.getMessage()]
    return record


async def test_a_busy_database_gives_a_warning_and_the_next_pass_does_the_work(database_url, caplog):
    record = await the_failed_pass_logged(database_url, caplog, "database is locked")
    assert record.levelno == logging.WARNING
    assert record.getMessage() == "an audit worker pass waited too long for the database; retrying"
    assert record.exc_info is None
    assert record.fields == {"kind": "OperationalError"}


async def test_any_other_failure_is_logged_with_its_traceback(database_url, caplog):
    record = await the_failed_pass_logged(database_url, caplog, "no such table: audit_nodes")
    assert record.levelno == logging.ERROR
    assert record.getMessage() == "an audit worker pass failed; retrying"
    assert record.exc_info is not None


async def test_stopping_lets_the_pass_under_way_finish_its_transaction(database_url):
    """A pass cancelled inside a transaction could leave SQLite's write lock held; stopping
    waits for the pass instead, and the database takes writes afterwards."""
    database = Database(database_url)
    log = AuditLog(database, AuditKeys.ephemeral("worker.test/audit"), RetentionPolicy({}))
    real = log.sequence_pending
    inside = asyncio.Event()
    finished: list[bool] = []
    cancelled: list[bool] = []

    async def sequence_pending() -> bool:
        if finished:
            return await real()
        try:
            async with database.transaction(write=True) as connection:
                await connection.exec_driver_sql("SELECT 1 FROM audit_log_state")
                inside.set()
                await asyncio.sleep(0.3)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise
        finished.append(True)
        return await real()

    log.sequence_pending = sequence_pending  # type: ignore[method-assign]
    worker = AuditWorker(log, interval=0.05, prune_interval=3600)
    worker.start()
    try:
        await asyncio.wait_for(inside.wait(), timeout=10)
        await worker.stop()
        assert cancelled == []
        assert finished == [True]
        async with database.transaction(write=True) as connection:
            await connection.exec_driver_sql("UPDATE audit_log_state SET size = size")
    finally:
        log.close()
        await database.dispose()


async def test_a_stream_of_appends_gets_one_checkpoint_per_interval_not_one_each(database_url):
    """Signing locks the state row every append waits for: a busy log is checkpointed at
    most once an interval, and the last append still gets its pass within one."""
    database = Database(database_url)
    log = AuditLog(database, AuditKeys.ephemeral("worker.test/audit"), RetentionPolicy({}))
    passes: list[float] = []
    real = log.sign_checkpoint

    async def sign_checkpoint():  # type: ignore[no-untyped-def]
        passes.append(loop.time())
        return await real()

    loop = asyncio.get_running_loop()
    log.sign_checkpoint = sign_checkpoint  # type: ignore[method-assign]
    interval = 0.2
    worker = AuditWorker(log, interval=interval, prune_interval=3600)
    worker.start()
    try:
        await asyncio.sleep(0.05)
        started = loop.time()
        for _ in range(100):  # an append every 10 ms for a second
            log._appended()
            await asyncio.sleep(0.01)
        last_append = loop.time()
        while not passes or passes[-1] < last_append:
            await asyncio.sleep(0.01)
            assert loop.time() - last_append < interval + 2.0, "the last append got no pass"
        during = [moment for moment in passes if started <= moment < last_append]
        assert 2 <= len(during) <= (last_append - started) / interval + 2
        # Apart by the interval, give or take how long a pass's first steps took.
        assert all(later - earlier >= interval / 2 for earlier, later in itertools.pairwise(passes))
    finally:
        await worker.stop()
        log.close()
        await database.dispose()
