"""Random interleavings of offline edits, pushes, pulls, duplicates, lost responses and
server restarts: every client converges on the server's state, and every mutation is
processed exactly once and never lost.

The clients are the shared state machine with a dictionary for a store; the server is the
real SyncService on a real database, rebuilt from scratch on "restart"."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from server.auth.accounts import Actor, create_branch
from server.auth.authorizer import Principal
from server.auth.devices import enroll_device
from server.auth.keystore import ServerKeys
from server.auth.mfa import MfaCipher
from server.auth.permissions import permissions_of
from server.customers.service import CustomerRegister
from server.customers.tables import customers
from server.db.engine import Database
from server.db.migrate import upgrade_to_head
from server.sync.feed import ChangeFeed
from server.sync.notify import ChangeNotifier
from server.sync.scope import branch_bucket
from server.sync.service import SyncService
from server.sync.tables import sync_mutations
from shared.crypto import generate_private_key, public_key_to_raw
from shared.customers import MUTATIONS
from shared.sync.client import ClientState, SyncClient
from shared.sync.mutators import Rejection
from shared.sync.protocol import PullResponse, PushRequest, PushResponse
from testkit.auth import enroll_staff
from testkit.sync import customer_fields, make_register

CLIENTS = 3


@dataclass
class Replica:
    """A console: the server state it pulled, plus its pending mutations on top."""

    principal: Principal
    sync: SyncClient
    confirmed: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)
    staged: dict[uuid.UUID, dict[str, Any] | None] = field(default_factory=dict)
    staged_reset: bool = False
    last_push: PushRequest | None = None
    made: list[int] = field(default_factory=list)

    def view(self, now: dt.datetime) -> dict[uuid.UUID, dict[str, Any]]:
        """What the user sees: pulled state with pending mutations re-applied (rebase)."""
        view = dict(self.confirmed)
        for mutation in self.sync.state.pending:
            try:
                puts = MUTATIONS[mutation.name](
                    mutation.args, lambda kind, key: view.get(key), now.date(), now
                )
            except Rejection:
                continue
            for put in puts:
                view[put.id] = put.data
        return view

    def apply_page(self, page: PullResponse) -> None:
        # Pages of one pull are staged and applied together, as the console does, so that
        # the user never sees half a pull.
        outcome = self.sync.on_pull_response(page)
        if outcome.reset:
            self.staged = {}
            self.staged_reset = True
        for change in outcome.changes:
            self.staged[change.id] = change.data if change.op == "put" else None
        if not page.has_more:
            if self.staged_reset:
                self.confirmed = {}
            for key, data in self.staged.items():
                if data is None:
                    self.confirmed.pop(key, None)
                else:
                    self.confirmed[key] = data
            self.staged = {}
            self.staged_reset = False


@dataclass
class World:
    database: Database
    register: CustomerRegister
    branch_id: uuid.UUID
    replicas: list[Replica]
    service: SyncService

    def restart(self) -> None:
        self.service = build_service(self.database, self.register)


def build_service(database: Database, register: CustomerRegister) -> SyncService:
    return SyncService(
        database,
        ChangeFeed([register.synced]),
        ChangeNotifier(),
        register.commands.handlers(),
        lambda: dt.datetime.now(dt.UTC),
    )


async def make_world(database: Database, register: CustomerRegister, keys: ServerKeys) -> World:
    now = dt.datetime.now(dt.UTC)
    tag = uuid.uuid4().hex[:6].upper()
    async with database.transaction(write=True) as connection:
        branch = await create_branch(
            connection, code=f"B{tag}", name="Convergence", region="Gauteng", actor=Actor.cli(), now=now
        )
    replicas = []
    for number in range(CLIENTS):
        staff = await enroll_staff(
            database,
            MfaCipher(keys.mfa),
            "unused-hash",
            f"c{tag.lower()}{number}",
            ("teller",),
            branch_code=branch.code,
        )
        async with database.transaction(write=True) as connection:
            device = await enroll_device(
                connection,
                user_id=staff.user_id,
                name="test",
                public_key=public_key_to_raw(generate_private_key()),
                now=now,
            )
        principal = Principal(
            user_id=staff.user_id,
            username=staff.username,
            display_name=staff.username,
            roles=("teller",),
            branch_id=branch.id,
            branch_code=branch.code,
            device_id=device.id,
            session_id=uuid.uuid4(),
            session_expires_at=now + dt.timedelta(hours=1),
            permissions=permissions_of(["teller"]),
        )
        replicas.append(Replica(principal, SyncClient(ClientState(client_id=uuid.uuid4()))))
    return World(database, register, branch.id, replicas, build_service(database, register))


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
        world.restart()


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
        try:
            world = await make_world(database, register, ServerKeys.ephemeral())
            for step in steps:
                await run_step(world, step)
            await settle(world)
            await check(world)
        finally:
            await register.close()
            await database.dispose()

    asyncio.run(scenario())


async def test_convergence_on_both_databases(database_url, tmp_path):
    """One long fixed interleaving, also on PostgreSQL."""
    database = Database(database_url)
    register = await make_register(tmp_path)
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
        await register.close()
        await database.dispose()
