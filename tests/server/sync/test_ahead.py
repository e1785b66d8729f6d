"""Pull pages read ahead: handed over only to the request for exactly that page, never
skipping a change or confirming a mutation before its effects are delivered, and never kept
beyond their time or number."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import uuid

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from server.auth.keystore import ServerKeys
from server.auth.permissions import permissions_of
from server.customers.tables import customers
from server.db.engine import Database
from server.sync.ahead import PagesAhead
from server.sync.cursor import Cursor
from server.sync.feed import FeedPage
from server.sync.scope import Scope
from server.tls import client_context
from testkit.sync import customer_fields, make_register
from testkit.sync_world import Replica, World, build_service, make_world

SCOPE = Scope(frozenset({"branch:a"}))


def page_after(position: int, *, has_more: bool = True) -> FeedPage:
    return FeedPage([], Cursor(SCOPE.key, position), has_more=has_more, reset=False, watermark=position)


class Reader:
    """A page reader that takes ``delay`` seconds and records what became of each read."""

    def __init__(self, delay: float = 0.0, error: Exception | None = None) -> None:
        self.delay = delay
        self.error = error
        self.cancelled: list[int] = []

    async def __call__(self, scope: Scope, cursor: Cursor, limit: int) -> FeedPage:
        try:
            await asyncio.sleep(self.delay)
        except asyncio.CancelledError:
            self.cancelled.append(cursor.position)
            raise
        if self.error is not None:
            raise self.error
        return page_after(cursor.position + limit)


async def test_the_page_read_ahead_goes_only_to_the_request_for_it():
    ahead = PagesAhead(Reader())
    client = uuid.uuid4()
    ahead.read_after(client, page_after(3), SCOPE, 3)
    assert len(ahead) == 1
    cursor = Cursor(SCOPE.key, 3).encode()
    assert await ahead.take(client, cursor, SCOPE, 3) == page_after(6)
    assert (ahead.used, ahead.missed, len(ahead)) == (1, 0, 0)
    assert await ahead.take(client, cursor, SCOPE, 3) is None  # handed over once

    for other in ((None, SCOPE, 3), (cursor, Scope(None), 3), (cursor, SCOPE, 4)):
        ahead.read_after(client, page_after(3), SCOPE, 3)
        assert await ahead.take(client, *other) is None
        assert len(ahead) == 0
    assert ahead.missed == 3
    await ahead.close()


async def test_nothing_is_read_after_the_last_page_or_once_closed():
    reader = Reader(delay=5)
    ahead = PagesAhead(reader)
    ahead.read_after(uuid.uuid4(), page_after(3, has_more=False), SCOPE, 3)
    assert len(ahead) == 0
    ahead.read_after(uuid.uuid4(), page_after(7), SCOPE, 3)
    await asyncio.sleep(0)
    await ahead.close()
    assert reader.cancelled == [7]
    ahead.read_after(uuid.uuid4(), page_after(9), SCOPE, 3)
    assert len(ahead) == 0


async def test_a_page_is_kept_for_a_while_and_for_a_few_clients_only():
    reader = Reader(delay=5)
    ahead = PagesAhead(reader, clients=2, keep_seconds=0.2)
    first, second, third = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    for number, client in enumerate((first, second, third)):
        ahead.read_after(client, page_after(number * 10), SCOPE, 3)
        await asyncio.sleep(0.01)  # its read has begun
    assert len(ahead) == 2
    assert reader.cancelled == [0]  # the oldest made room
    assert await ahead.take(first, Cursor(SCOPE.key, 0).encode(), SCOPE, 3) is None
    await asyncio.sleep(0.4)
    assert len(ahead) == 0
    assert sorted(reader.cancelled) == [0, 10, 20]
    await ahead.close()


async def test_a_failed_read_ahead_is_read_again_not_reported_lost(caplog):
    ahead = PagesAhead(Reader(error=OSError("database gone")))
    client = uuid.uuid4()
    with caplog.at_level(logging.INFO, logger="kluis.sync"):
        ahead.read_after(client, page_after(3), SCOPE, 3)
        await asyncio.sleep(0.05)
        assert await ahead.take(client, Cursor(SCOPE.key, 3).encode(), SCOPE, 3) is None
        ahead.read_after(client, page_after(3), SCOPE, 3)  # failed, and nobody takes it
        await asyncio.sleep(0.05)
        await ahead.close()
    assert ahead.missed == 1
    failures = [record for record in caplog.records if "read ahead failed" in record.getMessage()]
    assert len(failures) == 2
    assert all(record.fields == {"reason": "OSError"} for record in failures)
    assert "database gone" not in caplog.text


# --- through the sync service, on both databases ---------------------------------------


@pytest.fixture
async def world(database_url, tmp_path):
    database = Database(database_url)
    register = await make_register(tmp_path)
    world = await make_world(database, register, ServerKeys.ephemeral())
    yield world
    await world.service.release()
    await register.close()
    await database.dispose()


async def push_all(world: World, replica: Replica) -> None:
    while (request := replica.sync.push_request()) is not None:
        replica.sync.on_push_response(await world.service.push(replica.principal, request))


async def create(world: World, replica: Replica, count: int) -> list[uuid.UUID]:
    ids = [uuid.uuid4() for _ in range(count)]
    now = dt.datetime.now(dt.UTC)
    for number, customer_id in enumerate(ids):
        fields = customer_fields(first=f"Ahead{number}")
        args = {"id": str(customer_id), "branch_id": str(world.branch_id), "fields": fields}
        replica.made.append(replica.sync.enqueue("customer.create", args, now).mutation_id)
    await push_all(world, replica)
    return ids


async def read_ahead_done(world: World) -> None:
    for ahead in world.service.ahead._ahead.values():
        await asyncio.wait([ahead.reading])


async def server_state(world: World) -> dict[uuid.UUID, dict]:
    async with world.database.transaction() as connection:
        rows = (await connection.execute(customers.select())).all()
    records = await world.register.store.records(rows)
    return {row.id: data for row, data in zip(rows, records, strict=True)}


async def pull_to_the_end(world: World, replica: Replica, limit: int = 3) -> None:
    for _ in range(200):
        page = await world.service.pull(replica.principal, replica.sync.pull_request(limit=limit))
        replica.apply_page(page)
        if not page.has_more and replica.confirmed == await server_state(world):
            return
        if not page.has_more:
            await asyncio.sleep(0.05)  # PostgreSQL: another transaction holds the watermark back
    raise AssertionError("the pull did not catch up")


async def test_a_pull_is_answered_from_the_page_read_ahead_as_a_fresh_read_would(world):
    writer, reader = world.replicas[0], world.replicas[1]
    await create(world, writer, 7)
    first = await world.service.pull(reader.principal, reader.sync.pull_request(limit=3))
    reader.apply_page(first)
    assert first.has_more
    assert len(world.service.ahead) == 1
    await read_ahead_done(world)

    request = reader.sync.pull_request(limit=3)
    fresh = build_service(world.database, world.register)
    try:
        expected = await fresh.pull(reader.principal, request)
    finally:
        await fresh.release()
    second = await world.service.pull(reader.principal, request)
    assert world.service.ahead.used == 1
    assert second.model_dump(exclude={"server_time"}) == expected.model_dump(exclude={"server_time"})
    reader.apply_page(second)
    await pull_to_the_end(world, reader)
    assert len(world.service.ahead) == 0
    assert len(reader.confirmed) == 7


async def test_a_page_read_ahead_never_skips_a_later_write_nor_confirms_a_mutation_early(world):
    writer, reader = world.replicas[0], world.replicas[1]
    created = await create(world, writer, 7)
    reader.apply_page(await world.service.pull(reader.principal, reader.sync.pull_request(limit=3)))
    await read_ahead_done(world)

    # After the next page was read: the reader's own new customer, and a change to one it has.
    own = (await create(world, reader, 1))[0]
    now = dt.datetime.now(dt.UTC)
    changed = next(iter(reader.staged))  # delivered on the first page
    writer.sync.enqueue("customer.update", {"id": str(changed), "changes": {"first_names": "Later"}}, now)
    await push_all(world, writer)
    assert reader.sync.state.last_mutation_id == 1

    second = await world.service.pull(reader.principal, reader.sync.pull_request(limit=3))
    assert world.service.ahead.used == 1
    assert own not in {change.id for change in second.changes}
    # Its effect is not on this page, so the mutation is not yet confirmed as delivered.
    assert second.last_mutation_id == 0
    reader.apply_page(second)
    assert reader.sync.state.pending != ()

    await pull_to_the_end(world, reader)
    assert reader.sync.state.pending == ()
    assert set(reader.confirmed) == {*created, own}
    assert reader.confirmed[changed]["fields"]["first_names"] == "Later"


async def test_a_repeated_cursor_other_size_or_changed_grants_read_afresh(world):
    writer, reader = world.replicas[0], world.replicas[1]
    await create(world, writer, 7)
    opening = reader.sync.pull_request(limit=3)
    first = await world.service.pull(reader.principal, opening)
    await read_ahead_done(world)

    again = await world.service.pull(reader.principal, opening)  # the first answer was lost
    assert (world.service.ahead.used, world.service.ahead.missed) == (0, 1)
    assert again.model_dump(exclude={"server_time"}) == first.model_dump(exclude={"server_time"})
    reader.apply_page(again)
    await read_ahead_done(world)

    smaller = await world.service.pull(reader.principal, reader.sync.pull_request(limit=2))
    assert world.service.ahead.missed == 2
    assert len(smaller.changes) == 2
    reader.apply_page(smaller)
    await read_ahead_done(world)

    promoted = dataclasses.replace(
        reader.principal, roles=("compliance_officer",), permissions=permissions_of(["compliance_officer"])
    )
    reader.principal = promoted
    widened = await world.service.pull(promoted, reader.sync.pull_request(limit=3))
    assert world.service.ahead.missed == 3
    assert widened.reset
    reader.apply_page(widened)
    await pull_to_the_end(world, reader)
    assert reader.confirmed == await server_state(world)


# --- through a running server, as operators see it --------------------------------------


def scrape(server) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    _, port = server.metrics_address
    with httpx.Client(verify=client_context(server.ca_file)) as client:
        text = client.get(f"https://localhost:{port}/metrics").text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name.startswith("kluis_sync_pages_read_ahead")
    }


def test_the_metrics_count_pages_read_ahead_used_and_missed(sign_in, sync_server):
    teller = sign_in("thabo", "teller")
    console = teller.console()
    for number in range(5):
        console.create_customer(teller.branch_id, first_names=f"Metric{number}")
    console.push()
    console.pull_until(lambda c: len(c.customers()) == 5)
    console.pull_page(2)  # nothing new: a last page, nothing read after it
    counts = scrape(sync_server)
    used = counts[("kluis_sync_pages_read_ahead_total", (("outcome", "used"),))]
    missed = counts[("kluis_sync_pages_read_ahead_total", (("outcome", "missed"),))]
    assert (used, missed) == (0, 0)  # one page of up to 1000 had nothing after it

    other = sign_in("lindiwe", "teller").console()
    pages = other.pull(limit=2)
    assert [len(page.changes) for page in pages] == [2, 2, 1]
    counts = scrape(sync_server)
    assert counts[("kluis_sync_pages_read_ahead_total", (("outcome", "used"),))] == 2
    assert counts[("kluis_sync_pages_read_ahead_total", (("outcome", "missed"),))] == 0
    assert counts[("kluis_sync_pages_read_ahead_held", ())] == 0


def test_shutting_the_server_down_stops_what_it_reads_ahead(sign_in, sync_server):
    teller = sign_in("palesa", "teller")
    console = teller.console()
    for number in range(3):
        console.create_customer(teller.branch_id, first_names=f"Down{number}")
    console.push()
    console.pull_until(lambda c: len(c.customers()) == 3)
    reader = sign_in("kagiso", "teller").console()
    assert reader.pull_page(2).has_more
    ahead = sync_server.server.application.sync.ahead
    assert len(ahead) == 1
    [held] = ahead._ahead.values()
    # The server's own shutdown, on its still-running loop (closing the loop would cancel
    # whatever was left anyway, and so prove nothing).
    sync_server.run(sync_server.server.shutdown())
    assert len(ahead) == 0
    assert held.reading.done()
