"""A sync service on a real database with a few clients (each the shared sync state machine
with a dictionary for a store): the world the service-level sync tests run in."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

from server.auth.accounts import Actor, create_branch
from server.auth.authorizer import Principal
from server.auth.devices import enroll_device
from server.auth.keystore import ServerKeys
from server.auth.mfa import MfaCipher
from server.auth.permissions import permissions_of
from server.customers.service import CustomerRegister
from server.db.engine import Database
from server.sync.feed import ChangeFeed
from server.sync.notify import ChangeNotifier
from server.sync.service import SyncService
from shared.crypto import generate_private_key, public_key_to_raw
from shared.customers import MUTATIONS
from shared.sync.client import ClientState, SyncClient
from shared.sync.mutators import Rejection
from shared.sync.protocol import PullResponse, PushRequest
from testkit.auth import enroll_staff

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

    async def restart(self) -> None:
        """A new server process: what the old one held in memory (pages read ahead) is gone."""
        await self.service.release()
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
