"""Reading a client's next pull page while it takes in the last one.

A console asks for a long feed a page at a time, and for the next page only once it has
read the last; between the two requests the server would sit idle.  So once a page with
more after it is answered, the page after it is read at once, for that client, and handed
over if the client's next request asks for exactly it: the same cursor, scope (grants are
looked up again for that request) and size.  Anything else reads afresh: a request that
repeats a cursor after a lost answer, changed grants, a request that reaches another
server instance, a read that failed.

A page read ahead is one the client could have asked for at that moment, so it is as
correct as any, merely older: whatever changed meanwhile (an erasure too) reaches the
client on a later page, as it would have had the client asked then.  None is kept longer
than :data:`KEEP_SECONDS`, nor for more than :data:`CLIENTS` clients at once (the oldest
goes first)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from server.logs import fields
from server.sync.cursor import Cursor
from server.sync.feed import FeedPage
from server.sync.scope import Scope

logger = logging.getLogger("kluis.sync")

CLIENTS = 16
KEEP_SECONDS = 10.0

PageReader = Callable[[Scope, Cursor, int], Coroutine[Any, Any, FeedPage]]
"""Reads one page after a cursor for a scope, in a snapshot of its own."""


@dataclass
class _Ahead:
    cursor: str
    scope: Scope
    limit: int
    reading: asyncio.Task[FeedPage]
    expiry: asyncio.TimerHandle

    def drop(self) -> None:
        self.expiry.cancel()
        self.reading.cancel()


class PagesAhead:
    def __init__(
        self, read: PageReader, *, clients: int = CLIENTS, keep_seconds: float = KEEP_SECONDS
    ) -> None:
        self._read = read
        self._clients = clients
        self._keep_seconds = keep_seconds
        self._ahead: dict[uuid.UUID, _Ahead] = {}
        """Oldest first."""
        self._closed = False
        self.used = 0
        self.missed = 0
        """Pages read ahead that were handed over, and those that were not (a request for
        another page, or a failed read)."""

    def __len__(self) -> int:
        return len(self._ahead)

    def counts(self) -> tuple[int, int, int]:
        """(used, missed, held now), for the metrics."""
        return self.used, self.missed, len(self._ahead)

    def read_after(self, client_id: uuid.UUID, page: FeedPage, scope: Scope, limit: int) -> None:
        """``page`` was answered to ``client_id``: start reading the one after it, if any."""
        self._discard(client_id)
        if self._closed or not page.has_more:
            return
        while len(self._ahead) >= self._clients:
            self._discard(next(iter(self._ahead)))
        loop = asyncio.get_running_loop()
        reading = loop.create_task(self._read(scope, page.cursor, limit))
        reading.add_done_callback(_note_failure)
        expiry = loop.call_later(self._keep_seconds, self._expire, client_id, reading)
        self._ahead[client_id] = _Ahead(page.cursor.encode(), scope, limit, reading, expiry)

    async def take(
        self, client_id: uuid.UUID, cursor: str | None, scope: Scope, limit: int
    ) -> FeedPage | None:
        """The page read ahead for exactly this request, or ``None``: read it afresh."""
        ahead = self._ahead.pop(client_id, None)
        if ahead is None:
            return None
        if (ahead.cursor, ahead.scope, ahead.limit) != (cursor, scope, limit):
            ahead.drop()
            self.missed += 1
            return None
        ahead.expiry.cancel()
        try:
            page = await ahead.reading
        except Exception:  # noqa: BLE001 - a failed read ahead is read again, and fails there if it must
            self.missed += 1
            return None
        self.used += 1
        return page

    async def close(self) -> None:
        """Stop every read and forget every page; nothing is read ahead after this."""
        self._closed = True
        readings = [ahead.reading for ahead in self._ahead.values()]
        for client_id in list(self._ahead):
            self._discard(client_id)
        await asyncio.gather(*readings, return_exceptions=True)

    def _discard(self, client_id: uuid.UUID) -> None:
        ahead = self._ahead.pop(client_id, None)
        if ahead is not None:
            ahead.drop()

    def _expire(self, client_id: uuid.UUID, reading: asyncio.Task[FeedPage]) -> None:
        ahead = self._ahead.get(client_id)
        if ahead is not None and ahead.reading is reading:
            self._discard(client_id)


def _note_failure(reading: asyncio.Task[FeedPage]) -> None:
    """Retrieve a failed read's error, so that one nobody takes is not reported as lost."""
    if reading.cancelled():
        return
    error = reading.exception()
    if error is not None:
        logger.info(
            "a pull page read ahead failed; it is read again if asked for",
            extra=fields(reason=type(error).__name__),
        )
