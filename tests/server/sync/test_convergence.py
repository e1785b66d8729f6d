"""Random interleavings of offline edits, pushes, pulls, duplicates, lost responses and
server restarts: every client converges on the server's state, and every mutation is
processed exactly once and never lost.

The clients are the shared state machine with a dictionary for a store; the server is the
real SyncService on a real database, rebuilt from scratch on "restart"."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from server.auth.keystore import ServerKeys
from server.customers.tables import customers
from server.db.engine import Database
from server.db.migrate import upgrade_to_head
from server.sync.scope import branch_bucket
from server.sync.tables import sync_mutations
from shared.sync.protocol import PushResponse
from testkit.sync import customer_fields, make_register
from testkit.sync_world import CLIENTS, World, make_world

Step = tuple[str, int, int]
STEPS = st.lists(
    st.tuples(
        st.sampled_from(
            ["create", "update", "push", "push_lost", "push_again", "pull", "pull_lost", "restart"]
        ),
        st.integers(0, CLIENTS - 1),
        st.integers(0, 1000),
    ),
    min_size=1,
    max_size=30,
)


async def run_step(world: World, step: Step) -> None:
    action, who, salt = step
    replica = world.replicas[who]
    now = dt.datetime.now(dt.UTC)
    if action == "create":
        customer_id = uuid.uuid4()
        fields = customer_fields(first=f"N{salt}")
        mutation = replica.sync.enqueue(
            "customer.create",
            {"id": str(customer_id), "branch_id": str(world.branch_id), "fields": fields},
            now,
        )
        replica.made.append(mutation.mutation_id)
    elif action == "update":
        known = sorted(replica.view(now))
        if not known:
            return
        target = known[salt % len(known)]
        change = (
            {"first_names": f"U{salt}"} if salt % 5 else {"id_number": "1234"}
        )  # some updates are invalid
        mutation = replica.sync.enqueue("customer.update", {"id": str(target), "changes": change}, now)
        replica.made.append(mutation.mutation_id)
    elif action in ("push", "push_lost"):
        request = replica.sync.push_request()
        if request is None:
            return
        replica.last_push = request
        response = await world.service.push(replica.principal, request)
        if action == "push":
            replica.sync.on_push_response(response)
    elif action == "push_again":
        if replica.last_push is not None:
            response = await world.service.push(replica.principal, replica.last_push)
            replica.sync.on_push_response(response)
    elif action in ("pull", "pull_lost"):
        page = await world.service.pull(replica.principal, replica.sync.pull_request(limit=2 + salt % 3))
        if action == "pull":
            replica.apply_page(page)
    elif action == "restart":
        await world.restart()


async def settle(world: World) -> None:
    """Reconnect everyone: push everything, then pull until nothing is left to learn."""
    # Up to ten seconds: on PostgreSQL any write transaction in the cluster holds the
    # watermark back until it ends.
    for _ in range(500):
        busy = False
        for replica in world.replicas:
            request = replica.sync.push_request()
            if request is not None:
                busy = True
                response: PushResponse = await world.service.push(replica.principal, request)
                replica.sync.on_push_response(response)
            page = await world.service.pull(replica.principal, replica.sync.pull_request(limit=3))
            replica.apply_page(page)
            busy = busy or page.has_more or bool(replica.sync.state.pending) or bool(page.changes)
        if not busy:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the replicas did not settle")


async def check(world: World) -> None:
    async with world.database.transaction() as connection:
        rows = (
            await connection.execute(
                select(customers).where(customers.c.bucket == branch_bucket(world.branch_id))
            )
        ).all()
        ledger = (await connection.execute(select(sync_mutations))).all()
    server = {row.id: data for row, data in zip(rows, await world.register.store.records(rows), strict=True)}
    for replica in world.replicas:
        assert replica.sync.state.pending == ()
        assert replica.confirmed == server
        processed = sorted(row.mutation_id for row in ledger if row.client_id == replica.sync.state.client_id)
        # Every mutation the client made was processed exactly once: none lost, none twice.
        assert processed == replica.made


@pytest.fixture(scope="module")
def sqlite_world_parts(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('convergence') / 'k.db'}"
    upgrade_to_head(url)
    return url


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=STEPS)
def test_every_client_converges_and_nothing_is_applied_twice_or_lost(sqlite_world_parts, steps):
    async def scenario() -> None:
        database = Database(sqlite_world_parts)
        register = await make_register(Path(sqlite_world_parts.removeprefix("sqlite:///")).parent)
        world: World | None = None
        try:
            world = await make_world(database, register, ServerKeys.ephemeral())
            for step in steps:
                await run_step(world, step)
            await settle(world)
            await check(world)
        finally:
            if world is not None:
                await world.service.release()
            await register.close()
            await database.dispose()

    asyncio.run(scenario())


async def test_convergence_on_both_databases(database_url, tmp_path):
    """One long fixed interleaving, also on PostgreSQL."""
    database = Database(database_url)
    register = await make_register(tmp_path)
    world: World | None = None
    try:
        world = await make_world(database, register, ServerKeys.ephemeral())
        script: list[Step] = []
        for round_ in range(8):
            for who in range(CLIENTS):
                script += [("create", who, round_), ("update", who, round_ * 7 + who)]
            script += [
                ("push_lost", round_ % CLIENTS, 0),
                ("push_again", round_ % CLIENTS, 0),
                ("pull_lost", (round_ + 1) % CLIENTS, 1),
                ("push", (round_ + 2) % CLIENTS, 0),
                ("pull", round_ % CLIENTS, round_),
                ("restart", 0, 0),
            ]
        for step in script:
            await run_step(world, step)
        await settle(world)
        await check(world)
        assert len(world.replicas[0].confirmed) == CLIENTS * 8
    finally:
        if world is not None:
            await world.service.release()
        await register.close()
        await database.dispose()
