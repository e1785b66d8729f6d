"""The sync engine: one coroutine that pushes pending mutations, pulls every page of
changes into staging and applies the whole pull atomically with its cursor, uploads the
access records the console queued, then long-polls until something changes, and repeats.

Network work runs on the event loop through the signed-in session (which adds the bearer
token, refreshes it mid-sync and fails over between servers).  SQLCipher work and parsing
big pages run on worker threads through ``blocking``, so the GUI never waits on either.
While one page is staged on a worker thread the next one is already being fetched."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import functools
import gc
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import httpx
import orjson
from pydantic import BaseModel, TypeAdapter, ValidationError

from console.auth.identity import StaffIdentity
from console.logs import fields
from console.net.errors import ServerError
from console.net.models import ErrorBody
from console.sync.errors import (
    ServerTooOld,
    SyncHeld,
    SyncRefused,
    SyncUnavailable,
    UpdateRequired,
)
from console.sync.store import (
    Applied,
    Counts,
    EventResult,
    LocalStore,
    PullBatch,
    StagedPage,
    StagedRow,
    StoreBusy,
    StoreClosed,
    StoreFailed,
)
from shared.sync.client import PullOutcome, SyncClient, SyncProtocolError
from shared.sync.protocol import (
    PROTOCOL_VERSION,
    Change,
    PokeResponse,
    PullResponse,
    PushResponse,
)

logger = logging.getLogger("kluis.console.sync")

T = TypeVar("T")

PUSH_PATH = "/api/v1/sync/push"
PULL_PATH = "/api/v1/sync/pull"
POKE_PATH = "/api/v1/sync/poke"
AUDIT_EVENTS_PATH = "/api/v1/audit/events"
CLIENT_NOT_YOURS = "client_not_yours"
AUDIT_BATCH = 1000
REQUEST_TIMEOUT = 60.0
POKE_SECONDS = 25.0
PAGE_LIMIT = 1000
"""Records asked for per pull request.  The server's cost per page is spread over more
records (about 110 us a customer at 500, 80 at 2000 on the benchmark machine), but decoding
a page holds the GIL in one call, and so stops the event loop: 5-10 ms per 1000 customers
on the benchmark machine, and up to 45 ms for a page of 2000 when a garbage collection fell
inside it (see :func:`decode_pull`)."""

PAGES_AHEAD = 8
"""Digested pages that may wait for the batch to take them (while it keeps a batch in
the vault): at most this many pages' rows are held beyond the batch."""

STAGE_BATCH_ROWS = 20_000
STAGE_BATCH_SECONDS = 5.0
"""A pull keeps its pages in memory up to this many records or seconds, then stages them in
one transaction (a re-sync of a few thousand changes is applied in a single one)."""

_frozen = False


def freeze_long_lived_objects() -> None:
    """Move every object alive now (Qt wrappers, SQLAlchemy and pydantic machinery: the
    console's long-lived state) out of the garbage collector's reach, once per process.
    A big pull allocates enough to set off full collections, and each full collection
    scanned all of them while holding the GIL: 70-180 ms with the event loop stopped."""
    global _frozen
    if not _frozen:
        _frozen = True
        gc.freeze()


POKE_GRACE = 10.0
BACKOFF_FIRST = 1.0
BACKOFF_LIMIT = 30.0


class SyncSession(Protocol):
    """What the engine needs of the signed-in session (console.auth.session.Session)."""

    @property
    def identity(self) -> StaffIdentity: ...

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        timeout: float | None = None,  # noqa: ASYNC109 - a read timeout passed on to httpx
    ) -> httpx.Response: ...


Blocking = Callable[[Callable[[], T]], Awaitable[T]]


class SyncListener(Protocol):
    """How the engine tells the shell what it is doing; called on the event loop."""

    def syncing(self, active: bool) -> None: ...
    def synced(self, applied: Applied | None, at: dt.datetime) -> None: ...
    def held(self, error: SyncHeld | None) -> None: ...
    def counted(self, counts: Counts) -> None: ...


class _EventAnswer(BaseModel):
    event_id: uuid.UUID | None
    status: str
    reason: str | None = None
    message: str | None = None


class _EventAnswers(BaseModel):
    results: list[_EventAnswer]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _error_of(response: httpx.Response) -> tuple[str, str]:
    try:
        info = ErrorBody.model_validate_json(response.content).error
        return info.code, info.message
    except ValidationError:
        return f"http_{response.status_code}", response.reason_phrase or "error"


def check_answer(response: httpx.Response) -> None:
    """Raise the :class:`SyncHeld` an error answer means; return for 200."""
    status = response.status_code
    if status == 200:
        return
    code, message = _error_of(response)
    if status == 426:
        raise UpdateRequired()
    if status == 409 and code == "server_too_old":
        raise ServerTooOld()
    if status >= 500 or status == 429:
        raise SyncUnavailable(f"The server could not sync right now ({status} {code}); trying again shortly.")
    raise SyncRefused(status, code, message)


UNREADABLE_ANSWER = "The server's sync answer could not be read; trying again shortly."


def parse(model: type[Any], response: httpx.Response) -> Any:
    try:
        return model.model_validate_json(response.content)
    except ValidationError:
        raise SyncUnavailable(UNREADABLE_ANSWER) from None


_CHANGES = TypeAdapter(list[Change])
VALIDATE_SLICE = 100
"""Changes validated per call.  Validating a whole page in one call would hold the GIL
(and stall the event loop) for all of it; between slices the loop gets its turn."""

DIGEST_PAUSE = 0.0005
"""Seconds a worker digesting a page sleeps after each slice.  The next page arrives while
a page is digested, and the event loop needs the GIL to read it: left to the interpreter's
5 ms switch interval, the two threads traded it so slowly that the loop ran up to 54 ms
late (100,000 customers here: 37 ms with a sleep of zero, 20 ms with this pause, at no cost
in records/s)."""


def decode_pull(response: httpx.Response) -> tuple[PullResponse, list[Any]]:
    """A pull page decoded in one quick call: its envelope validated (with no changes) and
    its changes still as decoded, for :func:`validate_changes`."""
    try:
        answer = orjson.loads(response.content)
        if not isinstance(answer, dict) or not isinstance(answer.get("changes"), list):
            raise SyncUnavailable(UNREADABLE_ANSWER)
        envelope = PullResponse.model_validate({**answer, "changes": []})
    except (orjson.JSONDecodeError, ValidationError):
        raise SyncUnavailable(UNREADABLE_ANSWER) from None
    return envelope, answer["changes"]


def validate_changes(changes: list[Any]) -> list[Change]:
    """Decoded changes as models, in one call: callers pass a slice (:data:`VALIDATE_SLICE`)."""
    try:
        return _CHANGES.validate_python(changes)
    except ValidationError:
        raise SyncUnavailable(UNREADABLE_ANSWER) from None


@dataclass
class Backoff:
    """Exponential with full jitter: a crowd of consoles does not come back at once."""

    first: float = BACKOFF_FIRST
    limit: float = BACKOFF_LIMIT
    failures: int = 0

    def next_delay(self) -> float:
        self.failures += 1
        ceiling = min(self.limit, self.first * 2 ** (self.failures - 1))
        return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not a secret

    def reset(self) -> None:
        self.failures = 0


async def _hand_over(
    pages: asyncio.Queue[StagedPage], page: StagedPage, staging: asyncio.Task[Applied]
) -> None:
    """Queue ``page`` for ``staging``, waiting while the queue is full, unless staging has
    ended (failed): then its error is raised here rather than waited on forever."""
    putting = asyncio.ensure_future(pages.put(page))
    try:
        await asyncio.wait({putting, staging}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not putting.done():
            putting.cancel()
    if not putting.done() or putting.cancelled():
        staging.result()  # raises the error staging ended with
        raise RuntimeError("pull staging ended before the last page")


def _close_opened(opening: asyncio.Future[PullBatch]) -> None:
    if not opening.cancelled() and opening.exception() is None:
        opening.result().close()


class SyncEngine:
    def __init__(
        self,
        session: SyncSession,
        store: LocalStore,
        blocking: Blocking[Any],
        listener: SyncListener,
        *,
        page_limit: int = PAGE_LIMIT,
        poke_seconds: float = POKE_SECONDS,
        backoff: Backoff | None = None,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self._session = session
        self.store = store
        self._blocking = blocking
        self._listener = listener
        self._page_limit = page_limit
        self._poke_seconds = poke_seconds
        self._backoff = backoff or Backoff()
        self._clock = clock
        self._wake = asyncio.Event()
        self.cycles = 0

    def wake(self) -> None:
        """Something was queued here (an edit, an access record): sync now, not after the poll."""
        self._wake.set()

    # --- the loop ----------------------------------------------------------------------

    async def run(self) -> None:
        """Sync until cancelled or the session ends (``SessionEnded`` propagates)."""
        while True:
            self._wake.clear()
            try:
                applied = await self.sync_once()
            except SyncHeld as held:
                self._listener.held(held)
                delay = held.retry_after if held.retry_after is not None else self._backoff.next_delay()
                logger.info("sync held", extra=fields(reason=type(held).__name__, count=int(delay)))
                await self._sleep_unless_woken(delay)
                continue
            self._backoff.reset()
            self._listener.held(None)
            if applied.changes or applied.reset:
                await self.fold_log()
            try:
                await self._wait_for_changes()
            except SyncHeld as held:
                self._listener.held(held)
                await self._sleep_unless_woken(self._backoff.next_delay())

    async def sync_once(self) -> Applied:
        """One full exchange: push, pull (all pages, applied together), upload access records."""
        try:
            return await self._exchange()
        except SyncRefused as refused:
            if refused.code != CLIENT_NOT_YOURS:
                raise
        # This vault's sync client was registered by the device this computer was before it
        # was enrolled again: continue as a new client.
        resent = await self._blocking(self.store.rebind)
        logger.warning("sync client of an earlier device; continuing anew", extra=fields(count=resent))
        return await self._exchange()

    async def _exchange(self) -> Applied:
        freeze_long_lived_objects()
        self._listener.syncing(True)
        try:
            await self._push()
            applied = await self._pull()
            await self._upload_events()
        except (ServerError, StoreBusy, StoreFailed) as error:
            raise SyncUnavailable(str(error)) from None
        except SyncProtocolError:
            logger.warning("server sync answer contradicts this console's state")
            raise SyncUnavailable("The server's sync answer did not match this console's records.") from None
        finally:
            self._listener.syncing(False)
            await self._count()
        self.cycles += 1
        self._listener.synced(applied, applied.at)
        return applied

    async def fold_log(self) -> None:
        """Copy the pages the last pull wrote from the write-ahead log into the vault file,
        now that its changes are on screen.  Housekeeping: if it cannot run now, the next
        commit that finds the log long does it."""
        try:
            frames, folded = await self._blocking(self.store.fold_log)
        except (StoreBusy, StoreFailed, StoreClosed):
            logger.info("write-ahead log left for a later checkpoint")
            return
        logger.debug("write-ahead log folded", extra=fields(count=folded, status=f"{folded}/{frames}"))

    async def _count(self) -> None:
        try:
            counts = await self._blocking(self.store.counts)
        except Exception:  # noqa: BLE001 - counting is best effort; the vault may just have closed
            return
        self._listener.counted(counts)

    async def _post(self, path: str, body: Any, timeout: float = REQUEST_TIMEOUT) -> httpx.Response:  # noqa: ASYNC109 - httpx read timeout
        response = await self._session.request("POST", path, json=body, timeout=timeout)
        check_answer(response)
        return response

    # --- push --------------------------------------------------------------------------

    async def _push(self) -> None:
        stalled = 0
        while True:
            client, _ = await self._blocking(self.store.sync_client)
            request = client.push_request()
            if request is None:
                return
            response = await self._post(PUSH_PATH, request.model_dump(mode="json"))
            outcome = client.on_push_response(parse(PushResponse, response))
            await self._blocking(functools.partial(self.store.record_push, outcome))
            if outcome.transient:
                raise SyncUnavailable("The server could not apply every change just now; trying again soon.")
            progressed = outcome.state.last_mutation_id >= request.mutations[0].mutation_id
            stalled = 0 if progressed else stalled + 1
            if stalled >= 2:
                raise SyncUnavailable("The server did not accept the next change; trying again shortly.")

    # --- pull --------------------------------------------------------------------------

    @staticmethod
    def _advance(client: SyncClient, response: httpx.Response) -> tuple[PullOutcome, list[Any]]:
        """On a worker thread: decode a page and advance the client past it, which is all the
        next request needs; the changes stay as decoded, for :meth:`_digest`."""
        envelope, changes = decode_pull(response)
        return client.on_pull_response(envelope), changes

    def _digest(self, changes: list[Any]) -> list[StagedRow]:
        """On a worker thread, while the server makes the next page: validate a page's
        changes and compute their staged rows, a slice at a time, pausing between slices
        (:data:`DIGEST_PAUSE`).  The batch waiting to be kept holds only the
        rows (strings), which the garbage collector soon stops scanning, rather than
        thousands of models and dicts that every full collection would visit with the event
        loop stopped."""
        rows: list[StagedRow] = []
        for start in range(0, len(changes), VALIDATE_SLICE):
            rows.extend(self.store.staged_rows(validate_changes(changes[start : start + VALIDATE_SLICE])))
            time.sleep(DIGEST_PAUSE)
        return rows

    def _fetch_page(self, client: SyncClient) -> asyncio.Task[httpx.Response]:
        body = client.pull_request(self._page_limit).model_dump(mode="json")
        return asyncio.get_running_loop().create_task(self._post(PULL_PATH, body))

    async def _pull(self) -> Applied:
        """Fetch pages (the next one as soon as the last is decoded, while its changes are
        validated and derived) and hand them to :meth:`_stage`, which gathers them, keeps
        them in batches and applies the last batch together with everything kept before
        it.  Fetching never waits for a batch being kept unless :data:`PAGES_AHEAD` pages
        are already waiting.  Batching spares a durable commit per page; a pull cut short
        resumes after its last kept batch."""
        client, _ = await self._blocking(self.store.sync_client)
        loop = asyncio.get_running_loop()
        batch = await self._open_batch()
        pages: asyncio.Queue[StagedPage] = asyncio.Queue(PAGES_AHEAD)
        staging = loop.create_task(self._stage(batch, pages))
        fetching: asyncio.Task[httpx.Response] | None = None
        try:
            fetching = self._fetch_page(client)
            while True:
                response = await fetching
                outcome, changes = await self._blocking(functools.partial(self._advance, client, response))
                if outcome.has_more:
                    fetching = self._fetch_page(client)
                rows = await self._blocking(functools.partial(self._digest, changes))
                await _hand_over(pages, (outcome, rows), staging)
                if not outcome.has_more:
                    return await staging
        finally:
            for task in (fetching, staging):
                if task is not None and not task.done():
                    task.cancel()
            await asyncio.gather(
                *(task for task in (fetching, staging) if task is not None), return_exceptions=True
            )
            try:
                await self._blocking(batch.close)
            except BaseException:
                # Cancelled again, or no worker left to take it: close here (the batch
                # waits for nothing; a method still running on a worker closes it after).
                batch.close()
                raise

    async def _stage(self, batch: PullBatch, pages: asyncio.Queue[StagedPage]) -> Applied:
        """Gather each page handed over (in SQLite, which lets go of the GIL, on a worker
        of its own), keep a batch when it is big or old enough, and apply the pull when its
        last page comes."""
        loop = asyncio.get_running_loop()
        batch_rows, batch_started = 0, loop.time()
        while True:
            page = await pages.get()
            await self._blocking(functools.partial(batch.add, page))
            outcome, rows = page
            if not outcome.has_more:
                applied: Applied = await self._blocking(batch.apply)
                return applied
            batch_rows += len(rows)
            if batch_rows >= STAGE_BATCH_ROWS or loop.time() - batch_started >= STAGE_BATCH_SECONDS:
                await self._blocking(batch.keep)
                batch_rows, batch_started = 0, loop.time()

    async def _open_batch(self) -> PullBatch:
        """A batch for this pull; one opened by a worker after this task was cancelled is
        closed rather than left holding a connection."""
        opening = asyncio.ensure_future(self._blocking(self.store.open_pull))
        try:
            return await asyncio.shield(opening)
        except asyncio.CancelledError:
            opening.add_done_callback(_close_opened)
            raise

    # --- access records ----------------------------------------------------------------

    async def _upload_events(self) -> None:
        while True:
            events = await self._blocking(lambda: self.store.pending_events(AUDIT_BATCH))
            if not events:
                return
            body = {"events": [{"event": b64url(e.event), "signature": b64url(e.signature)} for e in events]}
            answers: _EventAnswers = parse(_EventAnswers, await self._post(AUDIT_EVENTS_PATH, body))
            if len(answers.results) != len(events):
                raise SyncUnavailable("The answer to the access records did not match; trying again.")
            results = [
                EventResult(event.event_id, answer.status == "accepted", answer.reason, answer.message)
                for event, answer in zip(events, answers.results, strict=True)
            ]
            await self._blocking(functools.partial(self.store.record_event_results, events, results))
            refused = sum(1 for result in results if not result.accepted)
            if refused:
                logger.warning("access records refused by the server", extra=fields(count=refused))
            if len(events) < AUDIT_BATCH:
                return

    # --- waiting -----------------------------------------------------------------------

    async def _sleep_unless_woken(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._wake.wait(), seconds)
        except TimeoutError:
            return

    async def _wait_for_changes(self) -> None:
        """Long-poll until the server has something for this device or something was queued here."""
        while not self._wake.is_set():
            client_id = await self._blocking(self.store.client_id)
            cursor = await self._blocking(self.store.committed_cursor)
            body = {
                "client_id": str(client_id),
                "schema_version": PROTOCOL_VERSION,
                "cursor": cursor,
                "wait_seconds": self._poke_seconds,
            }
            poke = asyncio.get_running_loop().create_task(
                self._post(POKE_PATH, body, timeout=self._poke_seconds + POKE_GRACE)
            )
            woken = asyncio.get_running_loop().create_task(self._wake.wait())
            try:
                done, _ = await asyncio.wait({poke, woken}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (poke, woken):
                    if not task.done():
                        task.cancel()
                await asyncio.gather(poke, woken, return_exceptions=True)
            if poke in done and not poke.cancelled():
                try:
                    answer: PokeResponse = parse(PokeResponse, poke.result())
                except ServerError as error:
                    raise SyncUnavailable(str(error)) from None
                if answer.changed:
                    return
