"""The change feed under concurrency: no change is ever skipped, even when transactions
commit out of position order (PostgreSQL), and every reader ends with the server's state."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import random
import uuid

import pytest
from sqlalchemy.exc import IntegrityError

from server.auth.accounts import Actor, create_branch
from server.customers.service import CustomerRegister
from server.customers.tables import customers
from server.db.engine import Database
from server.sync.cursor import Cursor
from server.sync.feed import ChangeFeed
from server.sync.positions import write_position
from server.sync.scope import Scope
from shared.customers import Customer, CustomerFields
from testkit.sync import customer_fields, make_register

ALL = Scope(None)


@pytest.fixture
async def world(database_url, tmp_path):
    database = Database(database_url)
    register = await make_register(tmp_path / "keys")
    now = dt.datetime.now(dt.UTC)
    async with database.transaction(write=True) as connection:
        branch = await create_branch(
            connection, code="FEED1", name="Feed", region="Gauteng", actor=Actor.cli(), now=now
        )
    yield database, register, branch.id
    await register.close()
    await database.dispose()


def make_customer(branch_id: uuid.UUID, name: str, customer_id: uuid.UUID | None = None) -> Customer:
    now = dt.datetime.now(dt.UTC)
    fields = CustomerFields.model_validate(
        {
            **customer_fields(first=name),
            "id_number": None,
            "passport_number": f"P{uuid.uuid4().hex[:8].upper()}",
            "passport_country": "ZA",
        }
    )
    return Customer(
        id=customer_id or uuid.uuid4(), branch_id=branch_id, fields=fields, created_at=now, updated_at=now
    )


async def write(
    database: Database, register: CustomerRegister, customer: Customer, hold: asyncio.Event | None = None
) -> None:
    async with database.transaction(write=True) as connection:
        previous = await register.store.row(connection, customer.id, lock=True)
        await register.store.write(
            connection,
            customer,
            previous=previous,
            actor=uuid.uuid4(),
            position=await write_position(connection),
        )
        if hold is not None:
            await hold.wait()


async def read_all(database: Database, feed: ChangeFeed, cursor: Cursor | None, limit: int = 3):
    seen: dict[uuid.UUID, dict] = {}
    while True:
        async with database.snapshot() as connection:
            page = await feed.page(connection, ALL, cursor, limit)
        for change in page.changes:
            seen[change.id] = change.data
        cursor = page.cursor
        if not page.has_more:
            return seen, cursor


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_a_change_committed_out_of_order_is_not_skipped(world):
    database, register, branch_id = world
    feed = ChangeFeed([register.synced])
    early, late = make_customer(branch_id, "Early"), make_customer(branch_id, "Late")

    hold = asyncio.Event()
    early_writer = asyncio.create_task(write(database, register, early, hold))
    await asyncio.sleep(0.2)  # the early transaction has its transaction id and is still open
    await write(database, register, late)

    seen, cursor = await read_all(database, feed, None)
    # "late" is committed and visible, but it sits above an open transaction: delivering it
    # now would move the cursor past "early", which would then never be delivered.
    assert seen == {}
    hold.set()
    await early_writer
    # Any write transaction in the cluster holds the watermark back, so allow a moment.
    delivered: dict[uuid.UUID, dict] = {}
    for _ in range(200):
        seen, cursor = await read_all(database, feed, cursor)
        delivered.update(seen)
        if set(delivered) == {early.id, late.id}:
            break
        await asyncio.sleep(0.05)
    assert set(delivered) == {early.id, late.id}


async def test_concurrent_writers_and_readers_converge(world):
    database, register, branch_id = world
    feed = ChangeFeed([register.synced])
    rng = random.Random(20261128)
    ids = [uuid.uuid4() for _ in range(12)]
    stop = asyncio.Event()

    async def writer(number: int) -> None:
        for round_ in range(6):
            customer_id = rng.choice(ids)
            customer = make_customer(branch_id, f"W{number}R{round_}", customer_id)
            hold = asyncio.Event()
            task = asyncio.create_task(write(database, register, customer, hold))
            await asyncio.sleep(rng.uniform(0, 0.03))
            hold.set()
            # Two writers creating the same new customer at once: the loser's insert fails.
            with contextlib.suppress(IntegrityError):
                await task

    async def reader() -> tuple[dict[uuid.UUID, dict], Cursor | None]:
        state: dict[uuid.UUID, dict] = {}
        cursor = None
        while not stop.is_set():
            seen, cursor = await read_all(database, feed, cursor, limit=rng.randint(1, 4))
            state.update(seen)
            await asyncio.sleep(rng.uniform(0, 0.02))
        return state, cursor

    readers = [asyncio.create_task(reader()) for _ in range(3)]
    await asyncio.gather(*(writer(n) for n in range(4)))
    stop.set()
    finished = await asyncio.gather(*readers)

    async with database.transaction() as connection:
        rows = (await connection.execute(customers.select())).all()
    server_state = {row.id: data for row, data in zip(rows, await register.store.records(rows), strict=True)}
    for state, cursor in finished:
        # Catch up from where each reader stopped; an unrelated write transaction elsewhere
        # in the cluster may hold the watermark back for a moment.
        for _ in range(200):
            seen, cursor = await read_all(database, feed, cursor)
            state.update(seen)
            if state == server_state:
                break
            await asyncio.sleep(0.05)
        assert state == server_state
