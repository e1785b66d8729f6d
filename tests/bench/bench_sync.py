"""Initial sync of many customers over TLS into a fresh console vault, with the console's own
engine, on a SQLite server and (when reachable) a PostgreSQL one.

Three processes, so that the figures are not mixed: this one seeds the server's database
with real sealed customers (the server's CustomerVault and key database) and orchestrates;
a server process runs KluisServer; a console process signs in, creates a SQLCipher vault
and runs ``SyncEngine.sync_once`` while a ticker coroutine measures how late the event loop
runs.  Figures, each beside a baseline measured in the same run:

* records per second end to end, beside a plain ``sqlite3`` ``executemany`` of the same
  rows (the same JSON) into a fresh file, and that same executemany into SQLCipher with the
  vault's settings (the ceiling of any encrypted store here);
* the console process's peak resident memory, beside its size before the sync;
* the longest event-loop stall during the sync, beside the longest while idle;
* a re-sync after 1% of the customers changed, beside a re-sync with nothing changed.

Afterwards the server's half of a pull (the feed query and materialising pages) runs
in-process under cProfile; its top functions are printed, to show where server time goes.

``KLUIS_BENCH_SYNC_RECORDS`` (default 600000) sets the number of customers;
``KLUIS_BENCH_SYNC_BACKENDS`` (default ``sqlite,postgresql``) which servers to run.
Run with ``python tests/bench/run.py sync`` or alone: ``python tests/bench/bench_sync.py``."""

from __future__ import annotations

import asyncio
import cProfile
import datetime as dt
import gc
import io
import json
import multiprocessing
import os
import pstats
import random
import resource
import sqlite3
import sys
import tempfile
import threading
import time
import types
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
for extra in (ROOT, ROOT / "tests" / "lib"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

import psycopg  # noqa: E402
from sqlalchemy import select, text, update  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from server.auth.keystore import load_sealing_key  # noqa: E402
from server.config import Settings  # noqa: E402
from server.customers.keys import CustomerKeyStore, key_database_url  # noqa: E402
from server.customers.service import CUSTOMER_MASTER_KEY  # noqa: E402
from server.customers.tables import customers  # noqa: E402
from server.customers.vault import CustomerVault  # noqa: E402
from server.db.engine import Database  # noqa: E402
from server.db.migrate import upgrade_to_head  # noqa: E402
from shared.canonical import dumps_canonical  # noqa: E402
from testkit.console_sync import feed_position, seed_customers  # noqa: E402

RECORDS = int(os.environ.get("KLUIS_BENCH_SYNC_RECORDS", "600000"))
BACKENDS = os.environ.get("KLUIS_BENCH_SYNC_BACKENDS", "sqlite,postgresql").lower().split(",")
CHANGED_SHARE = 0.01
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
TICK = 0.005

Report = Callable[..., None]


# --- seeding ------------------------------------------------------------------------------


async def change(settings: Settings, ids: list[uuid.UUID], actor: uuid.UUID) -> None:
    """Re-seal a new phone number into each customer of ``ids`` (a new version and position)."""
    vault = CustomerVault(
        load_sealing_key(CUSTOMER_MASTER_KEY, keys_dir=settings.data_dir / "keys", key_file=None).key
    )
    keys = CustomerKeyStore(key_database_url(settings))
    database = Database(settings.effective_database_url())
    now = dt.datetime.now(dt.UTC)
    try:
        wrapped = await keys.wrapped_keys(ids)
        async with database.transaction(write=True) as connection:
            position = await feed_position(connection)
            rows = (await connection.execute(select(customers).where(customers.c.id.in_(ids)))).all()
            for row in rows:
                key = vault.unwrap(row.id, wrapped[row.id])
                fields = json.loads(vault.open(row.id, key, row.personal))
                fields["phone"] = "+27839999999"
                await connection.execute(
                    update(customers)
                    .where(customers.c.id == row.id)
                    .values(
                        personal=vault.seal(row.id, key, dumps_canonical(fields)),
                        phone_hash=vault.search_hash("phone", fields["phone"]),
                        version=row.version + 1,
                        position=position,
                        updated_at=now,
                        updated_by=actor,
                    )
                )
    finally:
        await keys.close()
        await database.dispose()


# --- the server process --------------------------------------------------------------------


def serve(settings_json: str, pipe: Any) -> None:
    from testkit.servers import RunningServer

    server = RunningServer(Settings.model_validate_json(settings_json))
    pipe.send((server.base_url, str(server.ca_file)))
    pipe.recv()  # until told to stop
    server.stop()


# --- the console process -------------------------------------------------------------------


class Ticker:
    """How late a coroutine that wants to run every TICK seconds actually runs."""

    def __init__(self) -> None:
        self.worst = 0.0
        self.worst_span = (0.0, 0.0)
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(TICK)
            late = loop.time() - before - TICK
            if late > self.worst:
                self.worst, self.worst_span = late, (before + TICK, loop.time())

    def start(self) -> None:
        self.worst = 0.0
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> float:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        return self.worst


def _status_mib(field: str) -> float:
    """A memory figure of this process from /proc/self/status.  (``ru_maxrss`` would not do:
    Linux carries the parent's peak over into a spawned child.)"""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rss_mib() -> float:
    return _status_mib("VmRSS")


def _peak_rss_mib() -> float:
    return _status_mib("VmHWM")


def _cpu_seconds(pid: int) -> float:
    """User and system CPU time a process has used so far, from /proc/PID/stat."""
    after_name = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(after_name[11]) + int(after_name[12])) / os.sysconf("SC_CLK_TCK")


class Timed:
    """Where the console's time went: seconds inside worker-thread calls (parse, stage,
    apply) and inside requests (waiting for the server), by kind."""

    def __init__(self, blocking: Callable[[Callable[[], Any]], Any], request: Any) -> None:
        self._blocking = blocking
        self._request = request
        self.seconds: dict[str, float] = {}
        self.spans: list[tuple[str, float, float]] = []
        """(step, start, end) in event-loop time, to say what ran during the worst stall."""

    def _add(self, name: str, started: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started
        loop_now = asyncio.get_running_loop().time()
        self.spans.append((name, loop_now - (time.perf_counter() - started), loop_now))

    def watch_collections(self) -> None:
        """Garbage collections (on any thread) count as steps too, so that a stall can be
        laid at their door when one fell inside it."""
        loop = asyncio.get_running_loop()
        began: dict[int, float] = {}

        def collection(phase: str, info: dict[str, int]) -> None:
            if phase == "start":
                began[threading.get_ident()] = loop.time()
                return
            started = began.pop(threading.get_ident(), None)
            if started is not None:
                ended = loop.time()
                name = f"a generation-{info['generation']} collection of {(ended - started) * 1000:.0f} ms"
                self.spans.append((name, started, ended))
                step = f"garbage collection, generation {info['generation']}"
                self.seconds[step] = self.seconds.get(step, 0.0) + ended - started

        gc.callbacks.append(collection)

    def during(self, span: tuple[float, float]) -> list[str]:
        start, end = span
        return sorted({name for name, begun, ended in self.spans if begun < end and ended > start})

    async def blocking(self, work: Callable[[], Any]) -> Any:
        name = getattr(work, "func", work).__name__
        started = time.perf_counter()
        try:
            return await self._blocking(work)
        finally:
            self._add(f"worker {name}", started)

    async def request(self, method: str, path: str, **options: Any) -> Any:
        started = time.perf_counter()
        try:
            return await self._request(method, path, **options)
        finally:
            self._add(f"request {path.rsplit('/', 1)[-1]}", started)


async def _timed_fold(engine: Any) -> float:
    """What ``SyncEngine.run`` does after a sync that changed records, once its changes are
    on screen: copy the pull's pages from the write-ahead log into the vault file."""
    started = time.perf_counter()
    await engine.fold_log()
    return time.perf_counter() - started


async def _console(
    base_url: str, ca_file: str, login: dict[str, Any], profile: str, server_pid: int, pipe: Any
) -> None:
    from console.auth.api import IdentityAPI
    from console.auth.device import DeviceKey
    from console.auth.local import LocalVaults, OnlineGrant
    from console.auth.session import Session, identity_of
    from console.net.client import ServerClient
    from console.net.trust import load_trust_anchor
    from console.operations import Operations
    from console.sync.engine import SyncEngine
    from console.sync.store import LocalStore
    from testkit.console import FAST_KDF
    from testkit.console_sync import RecordingListener

    loop = asyncio.get_running_loop()
    operations = Operations(loop, lambda error: None)
    client = ServerClient([base_url], load_trust_anchor(Path(ca_file)))
    device = DeviceKey.generate()
    answer = await IdentityAPI(client).sign_in(
        login["username"],
        login["password"],
        totp_code=None,
        recovery_code=login["recovery_code"],
        device=device,
        device_id=None,
        device_name="bench",
    )
    grant = OnlineGrant(identity_of(answer), answer.offline_unlock_hours, answer.offline_unlock_until)
    vaults = LocalVaults(Path(profile), kdf=FAST_KDF)
    unlocked = await operations.in_thread(
        lambda: vaults.create(login["username"], login["password"], grant, device, "bench")
    )
    session = Session(unlocked.identity, unlocked.vault, device, client, operations, answer=answer)
    store = LocalStore(unlocked.vault.engine)
    timed = Timed(operations.in_thread, session.request)

    class TimedSession:
        identity = session.identity
        request = timed.request

    engine = SyncEngine(TimedSession(), store, timed.blocking, RecordingListener())
    timed.watch_collections()
    ticker = Ticker()

    ticker.start()
    await asyncio.sleep(1.0)
    idle_stall = await ticker.stop()
    rss_before = _rss_mib()
    ticker.start()
    cpu_before = (_cpu_seconds(os.getpid()), _cpu_seconds(server_pid))
    started = time.perf_counter()
    applied = await engine.sync_once()
    seconds = time.perf_counter() - started
    cpu_after = (_cpu_seconds(os.getpid()), _cpu_seconds(server_pid))
    stall = await ticker.stop()
    result = {
        "console_cpu": cpu_after[0] - cpu_before[0],
        "server_cpu": cpu_after[1] - cpu_before[1],
        "records": applied.changes,
        "seconds": seconds,
        "stall": stall,
        "idle_stall": idle_stall,
        "rss_before": rss_before,
        "rss_peak": _peak_rss_mib(),
        "breakdown": dict(timed.seconds),
        "stalled_during": timed.during(ticker.worst_span),
    }
    result["fold"] = await _timed_fold(engine)
    started = time.perf_counter()
    await engine.sync_once()
    result["empty_resync"] = time.perf_counter() - started
    pipe.send(result)
    pipe.recv()  # the server changed 1% of the customers
    timed.seconds.clear()
    ticker.start()
    started = time.perf_counter()
    changed = await engine.sync_once()
    result = {
        "resync": time.perf_counter() - started,
        "changed": changed.changes,
        "stall": await ticker.stop(),
        "breakdown": dict(timed.seconds),
    }
    result["fold"] = await _timed_fold(engine)
    pipe.send(result)

    def rows() -> list[tuple[str, str, int, str]]:
        with store.reading() as connection:
            return [
                (row[0], row[1], row[2], row[3])
                for row in connection.execute(text("SELECT type, id, version, server_data FROM sync_records"))
            ]

    pipe.send(await operations.in_thread(rows))
    await session.sign_out()
    await operations.aclose()
    await client.aclose()


def console_main(
    base_url: str, ca_file: str, login: dict[str, Any], profile: str, server_pid: int, pipe: Any
) -> None:
    from PySide6.QtCore import QCoreApplication

    app = QCoreApplication([])
    asyncio.run(_console(base_url, ca_file, login, profile, server_pid, pipe))
    del app


# --- the baseline and the profile ----------------------------------------------------------


def _bulk_insert_rate(connection: Any, rows: list[tuple[str, str, int, str]]) -> float:
    connection.execute(
        "CREATE TABLE records (type TEXT, id TEXT, version INTEGER, data TEXT, PRIMARY KEY (type, id))"
    )
    started = time.perf_counter()
    with connection:
        connection.executemany("INSERT INTO records VALUES (?, ?, ?, ?)", rows)
    seconds = time.perf_counter() - started
    connection.close()
    return len(rows) / seconds


def sqlite_baseline(rows: list[tuple[str, str, int, str]], directory: Path) -> float:
    """Records per second of a plain executemany of the same rows into a fresh sqlite3 file."""
    return _bulk_insert_rate(sqlite3.connect(directory / "baseline.db"), rows)


def sqlcipher_baseline(rows: list[tuple[str, str, int, str]], directory: Path) -> float:
    """The same executemany into a fresh SQLCipher file opened with the vault's settings:
    the most any encrypted store on this machine could take the rows in."""
    import sqlcipher3

    from console.vault.database import CONNECTION_SETTINGS, NEW_VAULT_FORMAT, cipher_settings

    connection = sqlcipher3.connect(directory / "baseline-cipher.db")
    connection.execute(f"PRAGMA key = \"x'{os.urandom(32).hex()}'\"")
    for pragma in (*cipher_settings(NEW_VAULT_FORMAT), *CONNECTION_SETTINGS, "PRAGMA journal_mode = WAL"):
        connection.execute(pragma)
    return _bulk_insert_rate(connection, rows)


async def profile_server_pull(settings: Settings, pages: int = 10, limit: int = 5000) -> str:
    """The server's half of a pull (feed page, opening sealed customers, the answer's bytes),
    in-process under cProfile: the top functions by cumulative time."""
    from server.customers.service import CustomerRegister
    from server.sync.answer import PullAnswer
    from server.sync.cursor import Cursor
    from server.sync.feed import ChangeFeed
    from server.sync.scope import Scope
    from shared.sync.protocol import PullResponse

    register = CustomerRegister.create(settings)
    await register.start()
    feed = ChangeFeed([register.synced])
    database = Database(settings.effective_database_url())
    profiler = cProfile.Profile()
    cursor: Cursor | None = None
    scope = Scope(None)
    try:
        profiler.enable()
        for _ in range(pages):
            async with database.snapshot() as connection:
                page = await feed.page(connection, scope, cursor, limit)
            cursor = page.cursor
            PullAnswer(
                PullResponse(
                    changes=[],
                    cursor=cursor.encode(),
                    last_mutation_id=0,
                    mutation_results=[],
                    reset=page.reset,
                    has_more=page.has_more,
                    server_time=dt.datetime.now(dt.UTC),
                ),
                page.changes,
            ).to_json()
        profiler.disable()
    finally:
        await register.close()
        await database.dispose()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(18)
    return out.getvalue()


# --- one backend ---------------------------------------------------------------------------


def run_backend(name: str, database_url: str, report: Report, work: Path) -> None:
    from testkit.auth import FAST_ARGON2, provision

    data_dir = work / name
    data_dir.mkdir()
    if database_url.startswith("sqlite"):
        upgrade_to_head(database_url)
    settings = Settings(
        data_dir=data_dir,
        database_url=database_url,
        listen="127.0.0.1:0",
        metrics_listen="127.0.0.1:0",
        access_log=False,
        shutdown_grace=5.0,
        **(
            {}
            if database_url.startswith("sqlite")
            else {"customer_key_database_url": f"sqlite:///{data_dir}/keys.db"}
        ),
        **FAST_ARGON2,
    )
    staff = provision(settings, "bench.teller", ("compliance_officer",), branch_code="BENCH")
    branch_id = asyncio.run(_branch_of(settings, staff.user_id))
    started = time.perf_counter()
    ids = asyncio.run(seed_customers(settings, branch_id, staff.user_id, RECORDS))
    print(f"  {name}: seeded {len(ids):,} customers in {time.perf_counter() - started:.0f} s", flush=True)

    spawn = multiprocessing.get_context("spawn")
    server_pipe, server_end = spawn.Pipe()
    server = spawn.Process(target=serve, args=(settings.model_dump_json(), server_end))
    server.start()
    base_url, ca_file = server_pipe.recv()
    console_pipe, console_end = spawn.Pipe()
    login = {"username": staff.username, "password": staff.password, "recovery_code": staff.recovery_codes[0]}
    console = spawn.Process(
        target=console_main,
        args=(base_url, ca_file, login, str(data_dir / "console"), server.pid, console_end),
    )
    console.start()
    try:
        first = console_pipe.recv()
        asyncio.run(
            change(settings, random.Random(3).sample(ids, int(len(ids) * CHANGED_SHARE)), staff.user_id)
        )
        console_pipe.send("changed")
        second = console_pipe.recv()
        rows = console_pipe.recv()
        console.join(120)
    finally:
        server_pipe.send("stop")
        server.join(60)
    print(f"  {name}: console time by step (seconds; requests overlap with staging):")
    for step, seconds in sorted(first["breakdown"].items(), key=lambda item: -item[1]):
        print(f"    {step:<40} {seconds:8.2f}")
    print(
        f"  {name}: CPU time during the initial sync of {first['seconds']:.2f} s: console process "
        f"{first['console_cpu']:.2f} s, server process {first['server_cpu']:.2f} s"
    )
    print(f"  {name}: the longest stall came while these ran: {', '.join(first['stalled_during']) or 'none'}")
    print(f"  {name}: re-sync time by step (seconds):")
    for step, seconds in sorted(second["breakdown"].items(), key=lambda item: -item[1]):
        print(f"    {step:<40} {seconds:8.2f}")
    print(
        f"  {name}: write-ahead log folded into the vault after each sync, as the running engine "
        f"does once the changes are shown (not in the figures above): initial {first['fold']:.2f} s, "
        f"re-sync {second['fold']:.2f} s"
    )
    baseline = sqlite_baseline(rows, data_dir)
    cipher_baseline = sqlcipher_baseline(rows, data_dir)
    rate = first["records"] / first["seconds"]
    report(
        f"initial sync {RECORDS:,}, {name} server",
        rate,
        "records/s",
        baseline,
        "sqlite3 executemany same rows",
    )
    report(
        f"SQLCipher executemany same rows (vault settings), {name} run",
        cipher_baseline,
        "records/s",
        baseline,
        "sqlite3 executemany same rows",
    )
    report(
        f"initial sync {name}: peak console memory",
        first["rss_peak"],
        "MiB",
        first["rss_before"],
        "console before the sync",
        higher_is_better=False,
    )
    report(
        f"initial sync {name}: longest event-loop stall",
        first["stall"] * 1000,
        "ms",
        first["idle_stall"] * 1000,
        "idle loop",
        higher_is_better=False,
    )
    report(
        f"re-sync after 1% changed ({second['changed']:,}), {name}",
        second["resync"],
        "s",
        first["empty_resync"],
        "re-sync with nothing changed",
        higher_is_better=False,
    )
    report(
        f"re-sync after 1% changed, {name}: longest stall",
        second["stall"] * 1000,
        "ms",
        first["idle_stall"] * 1000,
        "idle loop",
        higher_is_better=False,
    )
    print(f"  {name}: server-side pull profile (10 pages of 5000, in-process):")
    print(asyncio.run(profile_server_pull(settings)))


async def _branch_of(settings: Settings, user_id: uuid.UUID) -> uuid.UUID:
    from server.auth.tables import users

    database = Database(settings.effective_database_url())
    try:
        async with database.transaction() as connection:
            value = (
                await connection.execute(select(users.c.branch_id).where(users.c.id == user_id))
            ).scalar_one()
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    finally:
        await database.dispose()


def _postgres_database() -> tuple[str, Callable[[], None]] | None:
    url = os.environ.get("KLUIS_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    admin = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"kluis_bench_sync_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        print(f"  PostgreSQL leg skipped: {exc}")
        return None
    database_url = make_url(url).set(database=name).render_as_string(hide_password=False)
    upgrade_to_head(database_url)

    def drop() -> None:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return database_url, drop


def _importable() -> None:
    """run.py loads this file without registering it as a module; the spawned processes find
    their entry points by module name, so register it."""
    if __name__ not in sys.modules:
        module = types.ModuleType(__name__)
        module.__dict__.update(globals())
        sys.modules[__name__] = module


def run(report: Report) -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    _importable()
    with tempfile.TemporaryDirectory(prefix="kluis-bench-sync-") as work:
        if "sqlite" in BACKENDS:
            run_backend("SQLite", f"sqlite:///{Path(work) / 'kluis.db'}", report, Path(work))
        postgres = _postgres_database() if "postgresql" in BACKENDS else None
        if postgres is not None:
            url, drop = postgres
            try:
                run_backend("PostgreSQL", url, report, Path(work))
            finally:
                drop()


if __name__ == "__main__":

    def show(name: str, figure: float, unit: str, baseline: float, baseline_name: str, **_: Any) -> None:
        print(f"{name}: {figure:,.2f} {unit} (baseline {baseline_name}: {baseline:,.2f})")

    run(show)
