"""Waking long-polls when records change.

A write publishes the buckets it touched after it commits.  Every instance wakes its own
waiters directly; on PostgreSQL the writer also sends ``NOTIFY kluis_sync`` inside its
transaction (delivered on commit) and every instance LISTENs, so a console polling one
instance hears about an edit made through another within a moment."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from server.logs import fields
from server.sync.scope import Scope

logger = logging.getLogger("kluis.sync")

CHANNEL = "kluis_sync"
RECONNECT_DELAY = 2.0


class ChangeNotifier:
    def __init__(self) -> None:
        self._waiters: dict[asyncio.Future[bool], Scope] = {}
        self._listener: asyncio.Task[None] | None = None
        self._closed = False

    def publish(self, buckets: Iterable[str]) -> None:
        """Wake every waiter whose scope holds one of ``buckets`` (after commit)."""
        touched = set(buckets)
        if not touched:
            return
        for waiter, scope in list(self._waiters.items()):
            if not waiter.done() and any(scope.includes(bucket) for bucket in touched):
                waiter.set_result(True)

    async def announce(self, connection: AsyncConnection, buckets: Iterable[str]) -> None:
        """Inside the writing transaction: tell the other instances, on commit."""
        if connection.dialect.name == "postgresql":
            payload = ",".join(sorted(set(buckets)))
            if payload:
                await connection.execute(
                    text("SELECT pg_notify(:channel, :payload)"), {"channel": CHANNEL, "payload": payload}
                )

    async def wait(self, scope: Scope, seconds: float) -> bool:
        """True when a change in ``scope`` was published, False on timeout or shutdown."""
        if self._closed:
            return False
        waiter: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiters[waiter] = scope
        try:
            async with asyncio.timeout(seconds):
                return await waiter
        except TimeoutError:
            return False
        finally:
            self._waiters.pop(waiter, None)

    def start(self, database_url: str) -> None:
        """On PostgreSQL, listen for other instances' changes in the background."""
        if make_url(database_url).get_backend_name() == "postgresql":
            self._listener = asyncio.get_running_loop().create_task(self._listen(database_url))

    async def _listen(self, database_url: str) -> None:
        conninfo = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
        while not self._closed:
            try:
                async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as connection:
                    await connection.execute(f"LISTEN {CHANNEL}")
                    async for notice in connection.notifies():
                        self.publish(bucket for bucket in notice.payload.split(",") if bucket)
            except psycopg.Error as exc:
                logger.warning(
                    "change listener lost its connection; reconnecting", extra=fields(kind=type(exc).__name__)
                )
                await asyncio.sleep(RECONNECT_DELAY)

    @property
    def closed(self) -> bool:
        return self._closed

    async def close(self) -> None:
        """Release every long-poll (they answer "no change") and stop listening."""
        self._closed = True
        for waiter in list(self._waiters):
            if not waiter.done():
                waiter.set_result(False)
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
