"""Headless consoles for sync tests: a real vault (SQLCipher), a real signed-in session over
verified TLS, and the console's sync engine, without windows.

Each console signs in as a staff member with a new device, exactly as the sign-in service
does, and drives :class:`console.sync.engine.SyncEngine` against a real server."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event, insert, text
from sqlalchemy.engine import Engine

from console.auth.api import IdentityAPI
from console.auth.device import DeviceKey
from console.auth.local import LocalVaults, OnlineGrant
from console.auth.session import Session, identity_of
from console.customers.access import AccessRecorder
from console.net.client import ServerClient
from console.net.errors import ServerUnreachable
from console.net.trust import load_trust_anchor
from console.operations import Operations
from console.sync.engine import Backoff, SyncEngine
from console.sync.errors import SyncHeld
from console.sync.store import Applied, Counts, LocalStore
from server.auth.keystore import load_sealing_key
from server.config import Settings
from server.customers.keys import CustomerKeyStore, customer_keys, key_database_url
from server.customers.service import CUSTOMER_MASTER_KEY
from server.customers.tables import customers
from server.customers.vault import CustomerVault
from server.db.engine import Database
from server.sync.scope import branch_bucket
from shared.canonical import dumps_canonical
from shared.sa_id import luhn_check_digit
from testkit.auth import FAST_ARGON2, Staff, provision
from testkit.console import FAST_KDF, Monotonic, RecordingClient
from testkit.servers import RunningServer, server_settings
from testkit.sync import customer_fields


@dataclass
class Recorded:
    """What the engine told the shell."""

    syncing: list[bool] = field(default_factory=list)
    synced: list[Applied | None] = field(default_factory=list)
    held: list[SyncHeld | None] = field(default_factory=list)
    counts: list[Counts] = field(default_factory=list)

    def syncing_now(self, active: bool) -> None:
        self.syncing.append(active)

    def synced_at(self, applied: Applied | None, at: dt.datetime) -> None:
        self.synced.append(applied)

    def held_by(self, error: SyncHeld | None) -> None:
        self.held.append(error)

    def counted(self, counts: Counts) -> None:
        self.counts.append(counts)


class RecordingListener:
    def __init__(self) -> None:
        self.seen = Recorded()

    def syncing(self, active: bool) -> None:
        self.seen.syncing_now(active)

    def synced(self, applied: Applied | None, at: dt.datetime) -> None:
        self.seen.synced_at(applied, at)

    def held(self, error: SyncHeld | None) -> None:
        self.seen.held_by(error)

    def counted(self, counts: Counts) -> None:
        self.seen.counted(counts)


class FlakySession:
    """The session, with answers that can be made to get lost on the way back: the server
    did the work, the console never heard (``lose(path, times, after)``)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.lost: dict[str, int] = {}
        self.passing: dict[str, int] = {}
        self.sent: list[str] = []

    @property
    def identity(self) -> Any:
        return self.session.identity

    def lose(self, path: str, times: int = 1, *, after: int = 0) -> None:
        """Lose the next ``times`` answers to ``path`` once ``after`` more have arrived."""
        self.lost[path] = times
        self.passing[path] = after

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        timeout: float | None = None,
        accept: str | None = None,
    ) -> httpx.Response:
        response = await self.session.request(method, path, json=json, timeout=timeout, accept=accept)
        self.sent.append(path)
        if self.passing.get(path, 0) > 0:
            self.passing[path] -= 1
        elif self.lost.get(path, 0) > 0:
            self.lost[path] -= 1
            raise ServerUnreachable(str(response.request.url.host), "the connection broke (test)")
        return response


class HeadlessSyncConsole:
    """One signed-in console's sync half."""

    def __init__(
        self,
        staff: Staff,
        session: Session,
        flaky: FlakySession,
        operations: Operations,
        client: ServerClient,
    ) -> None:
        self.staff = staff
        self.session = session
        self.flaky = flaky
        self.operations = operations
        self.client = client
        self.store = LocalStore(session.vault.engine, is_closed=lambda: session.vault.closed)
        self.listener = RecordingListener()
        self.engine = SyncEngine(
            flaky,
            self.store,
            operations.in_thread,
            self.listener,
            page_limit=50,
            poke_seconds=10.0,
            backoff=Backoff(first=0.05, limit=0.2),
        )
        self.access = AccessRecorder(session.identity, session.sign, self.store)

    @property
    def branch_id(self) -> uuid.UUID:
        return self.session.identity.branch_id

    async def blocking(self, work: Any) -> Any:
        return await self.operations.in_thread(work)

    async def sync(self) -> Applied:
        return await self.engine.sync_once()

    async def create_customer(self, **overrides: Any) -> uuid.UUID:
        customer_id = uuid.uuid4()
        args = {
            "id": str(customer_id),
            "branch_id": str(overrides.pop("branch_id", self.branch_id)),
            "fields": {**customer_fields(), **overrides},
        }
        await self.blocking(lambda: self.store.enqueue("customer.create", args))
        return customer_id

    async def update_customer(self, customer_id: uuid.UUID, **changes: Any) -> None:
        args = {"id": str(customer_id), "changes": changes}
        await self.blocking(lambda: self.store.enqueue("customer.update", args))

    async def customers(self) -> dict[uuid.UUID, dict[str, Any]]:
        """Every customer as the screens would show it (pending edits included)."""

        def read() -> dict[uuid.UUID, dict[str, Any]]:
            import json

            with self.store.reading() as connection:
                rows = connection.execute(
                    text(
                        "SELECT id, COALESCE(local_data, server_data) FROM sync_records "
                        "WHERE type = 'customer'"
                    )
                ).all()
            return {uuid.UUID(row[0]): json.loads(row[1]) for row in rows}

        result: dict[uuid.UUID, dict[str, Any]] = await self.blocking(read)
        return result

    async def server_customers(self) -> dict[uuid.UUID, dict[str, Any]]:
        """Only the server's state as last pulled."""

        def read() -> dict[uuid.UUID, dict[str, Any]]:
            import json

            with self.store.reading() as connection:
                rows = connection.execute(
                    text(
                        "SELECT id, server_data FROM sync_records "
                        "WHERE type = 'customer' AND server_data IS NOT NULL"
                    )
                ).all()
            return {uuid.UUID(row[0]): json.loads(row[1]) for row in rows}

        result: dict[uuid.UUID, dict[str, Any]] = await self.blocking(read)
        return result

    async def counts(self) -> Counts:
        result: Counts = await self.blocking(self.store.counts)
        return result


class Consoles:
    """Signs headless consoles in to one server and closes them all at the end."""

    def __init__(self, loop: asyncio.AbstractEventLoop, server: RunningServer, root: Path) -> None:
        self.server = server
        self.root = root
        self.unexpected: list[BaseException] = []
        self.operations = Operations(loop, self.unexpected.append)
        self.client = RecordingClient([server.base_url], load_trust_anchor(server.ca_file))
        self.opened: list[HeadlessSyncConsole] = []

    async def staff(self, username: str, *roles: str, branch_code: str = "JHB01") -> Staff:
        """Provision an enrolled account (on a thread: it runs its own event loop)."""
        return await asyncio.to_thread(
            provision, self.server.settings, username, roles or ("teller",), branch_code=branch_code
        )

    async def sign_in(self, staff: Staff, *, monotonic: Monotonic | None = None) -> HeadlessSyncConsole:
        device = DeviceKey.generate()
        api = IdentityAPI(self.client)
        answer = await api.sign_in(
            staff.username,
            staff.password,
            totp_code=None,
            recovery_code=staff.recovery_codes.pop(),
            device=device,
            device_id=None,
            device_name="Headless desk",
        )
        grant = OnlineGrant(identity_of(answer), answer.offline_unlock_hours, answer.offline_unlock_until)
        vaults = LocalVaults(self.root / f"profile-{len(self.opened)}", kdf=FAST_KDF)
        unlocked = await self.operations.in_thread(
            lambda: vaults.create(staff.username, staff.password, grant, device, "Headless desk")
        )
        session = Session(
            unlocked.identity,
            unlocked.vault,
            device,
            self.client,
            self.operations,
            answer=answer,
            monotonic=monotonic or Monotonic(),
        )
        console = HeadlessSyncConsole(staff, session, FlakySession(session), self.operations, self.client)
        self.opened.append(console)
        return console

    async def aclose(self) -> None:
        for console in self.opened:
            if not console.session.closed:
                await console.session.close("signed_out")
        await self.operations.aclose()
        await self.client.aclose()


class ServerHolder:
    """A test's server; ``stop`` and ``start`` keep its port, data and database."""

    def __init__(self, server: RunningServer) -> None:
        self.current: RunningServer | None = server
        self.settings = server.settings
        self._last = server

    @property
    def server(self) -> RunningServer:
        assert self.current is not None
        return self.current

    def stop(self) -> None:
        if self.current is not None:
            self.current.stop()
            self.current = None

    def start(self) -> RunningServer:
        assert self.current is None
        self.current = self._last = restart(self._last)
        return self.current


@contextmanager
def statements_run(engine: Engine) -> Iterator[list[str]]:
    """The SQL statements ``engine`` sends to the database inside the block, in order."""
    statements: list[str] = []

    def seen(_connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", seen)


def server_holder(tmp_path: Path, url: str, **settings: Any) -> Iterator[ServerHolder]:
    """For a fixture: a server in ``tmp_path/server`` on the database at ``url``."""
    made = server_settings(tmp_path / "server", url, shutdown_grace=1.0, **{**FAST_ARGON2, **settings})
    made.data_dir.mkdir(parents=True, exist_ok=True)
    holder = ServerHolder(RunningServer(made))
    yield holder
    holder.stop()


def open_consoles(
    loop: asyncio.AbstractEventLoop,
    run: Callable[[Any], Any],
    holder: ServerHolder,
    root: Path,
) -> Iterator[Consoles]:
    """For a fixture: headless consoles of the held server, all closed at the end, and no
    unexpected exception in any of them."""
    made = Consoles(loop, holder.server, root)
    yield made
    run(made.aclose())
    assert made.unexpected == []


def restart(server: RunningServer) -> RunningServer:
    """Start the server again on the same port, data directory and database."""
    port = server.address[1]
    settings: Settings = server.settings.model_copy(update={"listen": f"127.0.0.1:{port}"})
    return RunningServer(settings)


def server_customer_versions(settings: Settings) -> dict[uuid.UUID, int]:
    """Each customer's version as the server's database holds it (blocking: run it on a thread
    from a coroutine)."""
    return asyncio.run(_server_customer_versions(settings))


async def _server_customer_versions(settings: Settings) -> dict[uuid.UUID, int]:
    database = Database(settings.effective_database_url())
    try:
        async with database.transaction() as connection:
            rows = (await connection.execute(customers.select())).all()
        return {uuid.UUID(str(row.id)): int(row.version) for row in rows}
    finally:
        await database.dispose()


SEED_BATCH = 5000


def _id_number(serial: int) -> tuple[str, str]:
    born = dt.date(1940, 1, 1) + dt.timedelta(days=serial // 5000)
    payload = f"{born:%y%m%d}{serial % 5000:04d}08"
    return payload + str(luhn_check_digit(payload)), born.isoformat()


def _fields(serial: int, rng: random.Random) -> dict[str, Any]:
    number, born = _id_number(serial)
    first = rng.choice(["Thandi", "Sipho", "Lerato", "Johan", "Priya", "Ayanda", "Naledi", "Pieter"])
    surname = rng.choice(["Nkosi", "Dlamini", "van der Merwe", "Naidoo", "Mokoena", "Botha", "Zulu"])
    return {
        "first_names": first,
        "surname": f"{surname}{serial}",
        "id_number": number,
        "passport_number": None,
        "passport_country": None,
        "date_of_birth": born,
        "email": f"c{serial}@example.co.za",
        "phone": f"+2782{serial % 10_000_000:07d}",
        "address": {
            "line1": f"{serial % 300} Main Road",
            "line2": None,
            "suburb": None,
            "city": "Johannesburg",
            "province": "GP",
            "postal_code": "2001",
        },
    }


async def feed_position(connection: Any) -> int:
    """A new position in the change feed for one write transaction (as server/sync/positions.py)."""
    if connection.dialect.name == "postgresql":
        return int((await connection.execute(text("SELECT pg_current_xact_id()::text::bigint"))).scalar_one())
    bump = text("UPDATE sync_counter SET value = value + 1 WHERE id = 1 RETURNING value")
    return int((await connection.execute(bump)).scalar_one())


async def seed_customers(
    settings: Settings, branch_id: uuid.UUID, actor: uuid.UUID, count: int, *, first_serial: int = 0
) -> list[uuid.UUID]:
    """``count`` real sealed customers, written in bulk the way CustomerStore writes one.
    Serials make ID numbers unique: seed further batches from a later ``first_serial``."""
    vault = CustomerVault(
        load_sealing_key(CUSTOMER_MASTER_KEY, keys_dir=settings.data_dir / "keys", key_file=None).key
    )
    keys = CustomerKeyStore(key_database_url(settings))
    await keys.prepare()
    database = Database(settings.effective_database_url())
    rng = random.Random(7)
    ids: list[uuid.UUID] = []
    now = dt.datetime.now(dt.UTC)
    try:
        end = first_serial + count
        for start in range(first_serial, end, SEED_BATCH):
            rows, key_rows = [], []
            for serial in range(start, min(end, start + SEED_BATCH)):
                customer_id = uuid.uuid4()
                fields = _fields(serial, rng)
                key, wrapped = vault.new_key(customer_id)
                rows.append(
                    {
                        "id": customer_id,
                        "branch_id": branch_id,
                        "bucket": branch_bucket(branch_id),
                        "version": 1,
                        "status": "active",
                        "personal": vault.seal(customer_id, key, dumps_canonical(fields)),
                        "id_number_hash": vault.search_hash("id_number", fields["id_number"]),
                        "passport_hash": None,
                        "phone_hash": vault.search_hash("phone", fields["phone"]),
                        "created_at": now,
                        "updated_at": now,
                        "created_by": actor,
                        "updated_by": actor,
                    }
                )
                key_rows.append({"customer_id": customer_id, "wrapped_key": wrapped, "created_at": now})
                ids.append(customer_id)
            async with keys.database.transaction(write=True) as connection:
                await connection.execute(insert(customer_keys), key_rows)
            async with database.transaction(write=True) as connection:
                position = await feed_position(connection)
                await connection.execute(insert(customers), [{**row, "position": position} for row in rows])
    finally:
        await keys.close()
        await database.dispose()
    return ids
