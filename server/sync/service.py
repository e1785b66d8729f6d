"""Push, pull and long-poll: the server's half of the sync protocol.

Each mutation is processed in its own transaction together with its client's
``last_mutation_id``: a duplicate is skipped, a gap stops the batch, a business rejection
is recorded as the mutation's result and still advances the id, and a transient failure
leaves the id where it was so that the client retries."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, func, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection

from server.auth.authorizer import Principal
from server.db.engine import Database
from server.http.errors import HTTPError
from server.logs import fields
from server.sync.ahead import PagesAhead
from server.sync.answer import PullAnswer
from server.sync.cursor import Cursor, InvalidCursor
from server.sync.feed import ChangeFeed, FeedPage
from server.sync.notify import ChangeNotifier
from server.sync.positions import write_position
from server.sync.scope import Scope, scope_of
from server.sync.tables import sync_clients, sync_mutations
from shared.sync.mutators import Rejection
from shared.sync.protocol import (
    PROTOCOL_VERSION,
    Mutation,
    MutationResult,
    PokeResponse,
    PullRequest,
    PullResponse,
    PushRequest,
    PushResponse,
    StopReason,
)

logger = logging.getLogger("kluis.sync")

MIN_PROTOCOL_VERSION = 1
POKE_RECHECK = 0.2

MutationHandler = Callable[[AsyncConnection, Principal, Mutation, dt.datetime], Awaitable[set[str]]]
"""Carry out one mutation in the given transaction; return the buckets it touched, or raise
:class:`Rejection`."""


class _Outcome:
    DUPLICATE = "duplicate"
    GAP = "gap"


@dataclass(frozen=True)
class _Processed:
    result: MutationResult
    buckets: set[str]


def check_protocol(version: int) -> None:
    if version < MIN_PROTOCOL_VERSION:
        raise HTTPError(
            426,
            "update_required",
            "This console is too old for the server; install the current version. Your unsent work is kept.",
        )
    if version > PROTOCOL_VERSION:
        raise HTTPError(409, "server_too_old", "The server does not yet speak this console's sync protocol.")


class SyncService:
    def __init__(
        self,
        database: Database,
        feed: ChangeFeed,
        notifier: ChangeNotifier,
        handlers: Mapping[str, MutationHandler],
        clock: Callable[[], dt.datetime],
    ) -> None:
        self.database = database
        self.feed = feed
        self.notifier = notifier
        self.handlers = dict(handlers)
        self.clock = clock
        self.ahead = PagesAhead(self._read_page)

    async def release(self) -> None:
        """Release long-polls and stop reading ahead (shutdown; may come twice)."""
        await self.notifier.close()
        await self.ahead.close()

    # -- clients -------------------------------------------------------------------------

    async def _client(self, principal: Principal, client_id: uuid.UUID) -> Row[Any]:
        """The client's row, registering it on first contact; a client id belongs to one
        user on one device for ever."""
        async with self.database.transaction() as connection:
            row = (
                await connection.execute(select(sync_clients).where(sync_clients.c.client_id == client_id))
            ).first()
        if row is None:
            now = self.clock()
            try:
                async with self.database.transaction(write=True) as connection:
                    await connection.execute(
                        insert(sync_clients).values(
                            client_id=client_id,
                            user_id=principal.user_id,
                            device_id=principal.device_id,
                            last_mutation_id=0,
                            created_at=now,
                            last_seen_at=now,
                        )
                    )
            except IntegrityError:
                pass  # registered meanwhile by a concurrent request; checked below
            async with self.database.transaction() as connection:
                row = (
                    await connection.execute(
                        select(sync_clients).where(sync_clients.c.client_id == client_id)
                    )
                ).one()
        if row.user_id != principal.user_id or row.device_id != principal.device_id:
            raise HTTPError(403, "client_not_yours", "This sync client belongs to another user or device.")
        return row

    # -- push ----------------------------------------------------------------------------

    async def push(self, principal: Principal, request: PushRequest) -> PushResponse:
        check_protocol(request.schema_version)
        if any(mutation.client_id != request.client_id for mutation in request.mutations):
            raise HTTPError(422, "client_mismatch", "Every mutation must carry the request's client id.")
        ids = [mutation.mutation_id for mutation in request.mutations]
        if ids != sorted(set(ids)):
            raise HTTPError(422, "mutation_order", "Mutation ids must be strictly increasing within a push.")
        client = await self._client(principal, request.client_id)
        results: list[MutationResult] = []
        stopped: StopReason | None = None
        for mutation in request.mutations:
            try:
                processed = await self._process(principal, mutation)
            except (OperationalError, DBAPIError) as exc:
                logger.warning(
                    "mutation not processed; the client will retry",
                    extra=fields(kind=type(exc).__name__, count=mutation.mutation_id),
                )
                stopped = "transient"
                break
            if processed == _Outcome.GAP:
                stopped = "gap"
                break
            if isinstance(processed, _Processed):
                results.append(processed.result)
                self.notifier.publish(processed.buckets)
        async with self.database.transaction() as connection:
            last = (
                await connection.execute(
                    select(sync_clients.c.last_mutation_id).where(
                        sync_clients.c.client_id == client.client_id
                    )
                )
            ).scalar_one()
        return PushResponse(last_mutation_id=last, results=results, stopped=stopped)

    async def _process(self, principal: Principal, mutation: Mutation) -> _Processed | str:
        now = self.clock()
        async with self.database.transaction(write=True) as connection:
            query = select(sync_clients.c.last_mutation_id).where(
                sync_clients.c.client_id == mutation.client_id
            )
            if connection.dialect.name == "postgresql":
                query = query.with_for_update()
            last = (await connection.execute(query)).scalar_one()
            if mutation.mutation_id <= last:
                return _Outcome.DUPLICATE
            if mutation.mutation_id != last + 1:
                return _Outcome.GAP
            buckets: set[str] = set()
            code: str | None = None
            message: str | None = None
            handler = self.handlers.get(mutation.name)
            try:
                if handler is None:
                    raise Rejection(
                        "unknown_mutation", f"The server does not know the command {mutation.name}."
                    )
                if mutation.schema_version > PROTOCOL_VERSION:
                    raise Rejection(
                        "schema_too_new", "The server does not yet understand this command's version."
                    )
                async with connection.begin_nested():
                    buckets = await handler(connection, principal, mutation, now)
                    await self.notifier.announce(connection, buckets)
            except Rejection as rejection:
                code, message = rejection.code, rejection.message[:500]
            position = await write_position(connection)
            await connection.execute(
                insert(sync_mutations).values(
                    client_id=mutation.client_id,
                    mutation_id=mutation.mutation_id,
                    position=position,
                    name=mutation.name,
                    outcome="rejected" if code else "applied",
                    code=code,
                    message=message,
                    processed_at=now,
                )
            )
            await connection.execute(
                update(sync_clients)
                .where(sync_clients.c.client_id == mutation.client_id)
                .values(last_mutation_id=mutation.mutation_id, last_seen_at=now)
            )
        outcome = "rejected" if code else "applied"
        return _Processed(
            MutationResult(mutation_id=mutation.mutation_id, outcome=outcome, code=code, message=message),
            buckets,
        )

    # -- pull ----------------------------------------------------------------------------

    @staticmethod
    def _cursor(value: str | None) -> Cursor | None:
        if value is None:
            return None
        try:
            return Cursor.decode(value)
        except InvalidCursor:
            # A cursor we cannot read starts the device over rather than failing it for ever.
            return None

    async def pull(self, principal: Principal, request: PullRequest) -> PullResponse:
        """The pull answer as a model, read back from the bytes the API would send."""
        return PullResponse.model_validate_json((await self.answer_pull(principal, request)).to_json())

    async def _read_page(self, scope: Scope, cursor: Cursor | None, limit: int) -> FeedPage:
        async with self.database.snapshot() as connection:
            return await self.feed.page(connection, scope, cursor, limit)

    async def answer_pull(self, principal: Principal, request: PullRequest) -> PullAnswer:
        check_protocol(request.schema_version)
        client = await self._client(principal, request.client_id)
        scope = scope_of(principal)
        page = await self.ahead.take(client.client_id, request.cursor, scope, request.limit)
        if page is None:
            page = await self._read_page(scope, self._cursor(request.cursor), request.limit)
        # Read after the page, perhaps long after (read ahead): anything this client's
        # mutations did that the page does not show sits at or above its watermark.
        async with self.database.snapshot() as connection:
            confirmed = await self._confirmed(connection, client.client_id, page)
            rejected = (
                await connection.execute(
                    select(sync_mutations)
                    .where(
                        sync_mutations.c.client_id == client.client_id,
                        sync_mutations.c.outcome == "rejected",
                        sync_mutations.c.mutation_id > request.results_after,
                        sync_mutations.c.mutation_id <= confirmed,
                    )
                    .order_by(sync_mutations.c.mutation_id)
                )
            ).all()
        envelope = PullResponse(
            changes=[],
            cursor=page.cursor.encode(),
            last_mutation_id=confirmed,
            mutation_results=[
                MutationResult(
                    mutation_id=row.mutation_id, outcome="rejected", code=row.code, message=row.message
                )
                for row in rejected
            ],
            reset=page.reset,
            has_more=page.has_more,
            server_time=self.clock(),
        )
        self.ahead.read_after(client.client_id, page, scope, request.limit)
        return PullAnswer(envelope, page.changes)

    async def _confirmed(self, connection: AsyncConnection, client_id: uuid.UUID, page: FeedPage) -> int:
        """The highest mutation id whose effects every page up to this one has delivered:
        a mutation processed at a position the watermark has not passed is not yet visible."""
        first_unseen = (
            await connection.execute(
                select(func.min(sync_mutations.c.mutation_id)).where(
                    sync_mutations.c.client_id == client_id, sync_mutations.c.position >= page.watermark
                )
            )
        ).scalar_one()
        if first_unseen is not None:
            return int(first_unseen) - 1
        last = (
            await connection.execute(
                select(sync_clients.c.last_mutation_id).where(sync_clients.c.client_id == client_id)
            )
        ).scalar_one()
        return int(last)

    # -- long-poll -------------------------------------------------------------------------

    async def poke(
        self, principal: Principal, client_id: uuid.UUID, cursor: str | None, seconds: float
    ) -> PokeResponse:
        """Answer as soon as the device has something to pull, or after ``seconds``."""
        await self._client(principal, client_id)
        scope = scope_of(principal)
        parsed = self._cursor(cursor)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while True:
            pullable, pending = await self._look(scope, parsed)
            if pullable:
                return PokeResponse(changed=True, server_time=self.clock())
            remaining = deadline - loop.time()
            if remaining <= 0:
                return PokeResponse(changed=False, server_time=self.clock())
            # A committed change behind an older open transaction becomes pullable when that
            # transaction ends, which sends no notification of its own: look again shortly.
            wait = min(remaining, POKE_RECHECK) if pending else remaining
            if await self.notifier.wait(scope, wait):
                continue
            if self.notifier.closed:
                return PokeResponse(changed=False, server_time=self.clock())

    async def _look(self, scope: Scope, cursor: Cursor | None) -> tuple[bool, bool]:
        async with self.database.snapshot() as connection:
            page = await self.feed.page(connection, scope, cursor, 1)
            if page.changes or page.reset:
                return True, True
            return False, await self.feed.pending(connection, scope, page.cursor)
