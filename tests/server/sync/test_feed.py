"""The change feed under concurrency: no change is ever skipped, even when transactions
commit out of position order (PostgreSQL), and every reader ends with the server's state."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import random
import uuid

import pytest
from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table, Uuid, insert, select
from sqlalchemy.exc import IntegrityError

from server.auth.accounts import Actor, create_branch
from server.customers.service import CUSTOMER_TYPE_CODE, CustomerRegister
from server.customers.tables import customers
from server.db.engine import Database
from server.sync.cursor import Cursor
from server.sync.feed import ChangeFeed, SyncedType
from server.sync.positions import write_position
from server.sync.scope import Scope
from server.sync.tables import sync_tombstones
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


widgets = Table(
    "test_widgets",
    MetaData(),
    Column("id", Uuid(), primary_key=True),
    Column("bucket", String(64), nullable=False),
    Column("position", BigInteger(), nullable=False),
    Column("version", Integer(), nullable=False),
    Column("label", String(40), nullable=False),
)
WIDGET_CODE = 99


async def encode_widgets(rows):
    return [json.dumps({"label": row.label}).encode() for row in rows]


WIDGETS = SyncedType("widget", WIDGET_CODE, widgets, (widgets.c.label,), encode_widgets)


@pytest.mark.parametrize("limit", [1, 2, 3, 7, 100])
async def test_types_and_tombstones_merge_in_feed_order_at_any_page_size(world, limit):
    """Each type and the tombstones are read in their own index order and merged: pages of
    any size deliver every change once, in (position, type, id, kind) order."""
    database, register, branch_id = world
    async with database.engine.begin() as connection:
        await connection.run_sync(widgets.metadata.create_all)
    expected: list[tuple[int, int, uuid.UUID, int, str]] = []
    for round_ in range(4):
        customer = make_customer(branch_id, f"Merge{round_}")
        await write(database, register, customer)
        async with database.transaction() as connection:
            position = (
                await connection.execute(select(customers.c.position).where(customers.c.id == customer.id))
            ).scalar_one()
        expected.append((position, CUSTOMER_TYPE_CODE, customer.id, 1, "put"))
        async with database.transaction(write=True) as connection:
            position = await write_position(connection)
            reborn = uuid.uuid4()
            for widget_id in (uuid.uuid4(), uuid.uuid4(), reborn):
                await connection.execute(
                    insert(widgets).values(
                        id=widget_id, bucket="widgets", position=position, version=1, label=f"w{round_}"
                    )
                )
                expected.append((position, WIDGET_CODE, widget_id, 1, "put"))
            # A deletion at the same position as a put of the same record sorts before it.
            for record_type, record_id in ((WIDGET_CODE, reborn), (CUSTOMER_TYPE_CODE, uuid.uuid4())):
                await connection.execute(
                    insert(sync_tombstones).values(
                        position=position,
                        bucket="widgets",
                        record_type=record_type,
                        record_id=record_id,
                        created_at=dt.datetime.now(dt.UTC),
                    )
                )
                expected.append((position, record_type, record_id, 0, "delete"))
    expected.sort()
    feed = ChangeFeed([register.synced, WIDGETS])
    delivered = []
    cursor = None
    while True:
        async with database.snapshot() as connection:
            page = await feed.page(connection, ALL, cursor, limit)
        assert len(page.changes) <= limit
        delivered.extend(page.changes)
        cursor = page.cursor
        if not page.has_more:
            break
    names = {CUSTOMER_TYPE_CODE: "customer", WIDGET_CODE: "widget"}
    assert [(c.type, c.id, c.op) for c in delivered] == [
        (names[code], record_id, op) for _, code, record_id, _, op in expected
    ]
    labels = [c.data["label"] for c in delivered if c.type == "widget" and c.op == "put"]
    assert labels == sorted(labels)
    customer_puts = [c for c in delivered if c.type == "customer" and c.op == "put"]
    assert [c.data["fields"]["first_names"] for c in customer_puts] == [f"Merge{n}" for n in range(4)]
