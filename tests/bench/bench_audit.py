"""The audit log's speed, each figure beside its limit measured in the same run:

* appending device-signed events through the real append path (screening, Ed25519
  checks in worker processes on every core, started before the clock starts, batches of
  1000 grouped into one transaction while one is being written) from four concurrent clients,
  on SQLite, and on PostgreSQL when reachable, beside raw Ed25519 verification on one core;
  once calling ``AuditLog.submit`` directly, and once posting the batches to
  ``POST /api/v1/audit/events`` of a real server in its own process (TLS 1.3, h11, the
  request and answer bodies, the audit worker signing checkpoints); the clients run on
  the same two cores, and what they cost is printed;
* recomputing the root of a 1,000,000-event log from its entries offline the way the
  verifier does (a leaf hash per entry, folded into a compact range chunk by chunk), beside a
  bare SHA-256 loop over the same entries;
* checking every device signature of that log offline with kluis-verify's all-core checker,
  beside raw Ed25519 verification on every core.

Appending and the offline signature check run three rounds each, alternating with their
baselines; each figure and each baseline is its best round, and every round is printed.

KLUIS_BENCH_AUDIT_EVENTS sets the size of the offline log (default 1,000,000) and
KLUIS_BENCH_AUDIT_APPEND the number of events appended (default 20,000)."""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import hashlib
import multiprocessing
import os
import sys
import tempfile
import time
import types
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from nacl.bindings import crypto_sign_open
from nacl.exceptions import BadSignatureError

from console.verify_cli import check_signatures
from server.audit.ingest import Caller
from server.audit.keys import AuditKeys
from server.audit.log import AuditLog
from server.audit.retention import RetentionPolicy
from server.auth.tables import branches, devices, users
from server.db.engine import Database
from server.db.migrate import upgrade_to_head
from shared.audit.entry import entry_for
from shared.audit.event import AuditEvent, sign_event
from shared.audit.verify import SignatureJob
from shared.crypto import public_key_to_raw
from shared.merkle import CompactRange, leaf_hash, root_from_leaf_hashes

_T = TypeVar("_T")
OFFLINE_EVENTS = int(os.environ.get("KLUIS_BENCH_AUDIT_EVENTS", "1000000"))
ROUNDS = 3
APPEND_EVENTS = int(os.environ.get("KLUIS_BENCH_AUDIT_APPEND", "20000"))
BATCH = 1000
VERIFY_CHUNK = 4096  # the entries shared.audit.verify.Report.check feeds at a time
SUBMITTERS = 4
DEVICES = 50
CORES = os.cpu_count() or 1
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=1)


def device_key(number: int) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"bench device %d" % number).digest())


def make_event(number: int, device: uuid.UUID, actor: uuid.UUID) -> AuditEvent:
    return AuditEvent(
        event_id=uuid.UUID(int=number + 1, version=4),
        occurred_at=NOW + dt.timedelta(microseconds=number),
        signer=f"device:{device}",
        action="open",
        actor=actor,
        device=device,
        role="teller",
        object_type="customer",
        object_id=f"cust-{number % 100000:06x}",
    )


# --- Offline log generation (in worker processes) ---------------------------------------------


def _generate(bounds: tuple[int, int]) -> tuple[list[bytes], list[bytes], list[bytes], list[int]]:
    start, end = bounds
    keys = [device_key(n) for n in range(DEVICES)]
    ids = [uuid.UUID(int=n + 1, version=4) for n in range(DEVICES)]
    entries, data, signatures, owners = [], [], [], []
    salt = bytes(32)
    for number in range(start, end):
        owner = number % DEVICES
        signed = sign_event(make_event(number, ids[owner], ids[owner]), keys[owner])
        entries.append(entry_for(signed, salt, number, NOW).to_bytes())
        data.append(signed.data)
        signatures.append(signed.signature)
        owners.append(owner)
    return entries, data, signatures, owners


def generate_log(count: int) -> tuple[list[bytes], list[SignatureJob]]:
    step = 20000
    bounds = [(start, min(start + step, count)) for start in range(0, count, step)]
    with multiprocessing.get_context("fork").Pool(CORES) as pool:
        parts = pool.map(_generate, bounds)
    publics = [public_key_to_raw(device_key(n)) for n in range(DEVICES)]
    entries: list[bytes] = []
    jobs: list[SignatureJob] = []
    for part_entries, data, signatures, owners in parts:
        entries += part_entries
        jobs += [
            SignatureJob(len(jobs) + n, "device", publics[owner], message, signature)
            for n, (message, signature, owner) in enumerate(zip(data, signatures, owners, strict=True))
        ]
    return entries, jobs


# --- Baselines --------------------------------------------------------------------------------

_RAW: list[SignatureJob] = []


def _raw_verify(bounds: tuple[int, int]) -> int:
    """libsodium's verification called bare: what Kluis checks signatures with."""
    valid = 0
    for job in _RAW[bounds[0] : bounds[1]]:
        try:
            crypto_sign_open(job.signature + job.data, job.public_key)
            valid += 1
        except BadSignatureError:
            pass
    return valid


def _raw_verify_openssl(bounds: tuple[int, int]) -> int:
    """OpenSSL's, through ``cryptography``: printed beside the baseline for reference."""
    keys: dict[bytes, Ed25519PublicKey] = {}
    valid = 0
    for job in _RAW[bounds[0] : bounds[1]]:
        key = keys.get(job.public_key)
        if key is None:
            key = keys[job.public_key] = Ed25519PublicKey.from_public_bytes(job.public_key)
        try:
            key.verify(job.signature, job.data)
            valid += 1
        except InvalidSignature:
            pass
    return valid


def raw_verify_all_cores(jobs: list[SignatureJob]) -> float:
    global _RAW
    _RAW = jobs
    step = -(-len(jobs) // CORES)
    started = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(CORES) as pool:
        assert sum(pool.map(_raw_verify, [(a, a + step) for a in range(0, len(jobs), step)])) == len(jobs)
    elapsed = time.perf_counter() - started
    _RAW = []
    return len(jobs) / elapsed


def raw_verify_one_core(
    jobs: list[SignatureJob], check: Callable[[tuple[int, int]], int] = _raw_verify
) -> float:
    global _RAW
    _RAW = jobs
    started = time.perf_counter()
    assert check((0, len(jobs))) == len(jobs)
    _RAW = []
    return len(jobs) / (time.perf_counter() - started)


# --- Appending through the real path ---------------------------------------------------------


async def _append(url: str, count: int) -> float:
    database = Database(url)
    key = Ed25519PrivateKey.generate()
    user, device, branch = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    try:
        async with database.transaction(write=True) as connection:
            await connection.execute(
                branches.insert().values(
                    id=branch, code="BENCH", name="Bench", region="Bench", created_at=NOW
                )
            )
            await connection.execute(
                users.insert().values(
                    id=user,
                    username="bench",
                    display_name="Bench",
                    branch_id=branch,
                    active=True,
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
            await connection.execute(
                devices.insert().values(
                    id=device, user_id=user, name="bench", public_key=public_key_to_raw(key), created_at=NOW
                )
            )
        signed = []
        for number in range(count):
            event = make_event(number, device, user)
            signed.append(sign_event(event, key))
        log = AuditLog(database, AuditKeys.ephemeral("bench.example/audit"), RetentionPolicy({}))
        # A running server's signature workers start once; the figure is the steady state.
        await log.warm_up()
        caller = Caller(user, device, frozenset({"teller"}))
        batches = [[(s.data, s.signature) for s in signed[a : a + BATCH]] for a in range(0, count, BATCH)]
        del signed
        # As `kluis-server` does once started: what exists now lives for the whole run.
        gc.collect()
        gc.freeze()

        async def submitter(mine: list[list[tuple[bytes, bytes]]]) -> None:
            for batch in mine:
                results = await log.submit(caller, batch)
                assert all(result.index is not None for result in results)

        started = time.perf_counter()
        await asyncio.gather(*(submitter(batches[n::SUBMITTERS]) for n in range(SUBMITTERS)))
        elapsed = time.perf_counter() - started
        log.close()
        await log.check_stored_log()
        return count / elapsed
    finally:
        gc.unfreeze()
        await database.dispose()


def append_rate_sqlite(count: int) -> float:
    with tempfile.TemporaryDirectory(prefix="kluis-bench-audit-") as directory:
        url = f"sqlite:///{Path(directory) / 'bench.db'}"
        upgrade_to_head(url)
        return asyncio.run(_append(url, count))


def on_postgres(run: Callable[[str], _T]) -> _T | None:
    """``run`` on a fresh migrated PostgreSQL database, dropped afterwards; None (and why
    printed) where PostgreSQL cannot be reached."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))
    from testkit.databases import PostgresUnavailable, postgres_cluster

    with postgres_cluster() as cluster:
        if isinstance(cluster, PostgresUnavailable):
            print(f"  PostgreSQL skipped: {cluster}")
            return None
        url = cluster.create(migrated=True)
        try:
            return run(url)
        finally:
            cluster.drop(url)


def append_rate_postgres(count: int) -> float | None:
    return on_postgres(lambda url: asyncio.run(_append(url, count)))


# --- Appending through the API, over TLS, to a server in its own process --------------------


def _serve(settings_json: str, pipe: Any) -> None:
    """A Kluis server in this process until told to stop, frozen as ``kluis-server``
    freezes itself once started."""
    from server.config import Settings
    from testkit.servers import RunningServer

    server = RunningServer(Settings.model_validate_json(settings_json))
    gc.collect()
    gc.freeze()
    pipe.send((server.base_url, str(server.ca_file)))
    pipe.recv()
    server.stop()


async def _post_batches(
    base_url: str, ca_file: str, token: str, warm_up: bytes, bodies: list[bytes], count: int
) -> tuple[float, float]:
    """The ``count`` events of ``bodies`` appended a second, after ``warm_up``, and the CPU
    seconds the clients spent per event."""
    import httpx

    from server.tls import client_context

    headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
    async with httpx.AsyncClient(
        base_url=base_url, verify=client_context(Path(ca_file)), timeout=120, headers=headers
    ) as http:

        async def submitter(mine: list[bytes]) -> None:
            for body in mine:
                response = await http.post("/api/v1/audit/events", content=body)
                assert response.status_code == 200, response.text
                results = orjson.loads(response.content)["results"]
                assert all(result["status"] == "accepted" for result in results)

        # One batch first, so that the connections are open and the workers started.
        await submitter([warm_up])
        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(submitter(bodies[n::SUBMITTERS]) for n in range(SUBMITTERS)))
        return count / (time.perf_counter() - started), (time.process_time() - cpu) / count


def append_rate_api(database_url: str | None, count: int) -> tuple[float, float]:
    """Signed batches posted by four clients to ``POST /api/v1/audit/events`` of a real
    server (TLS 1.3, h11, the audit worker signing checkpoints), as consoles upload them."""
    import httpx

    from server.config import Settings
    from server.tls import client_context
    from testkit.audit import Console, audit_settings, submission
    from testkit.auth import AuthClient, Device, provision

    with tempfile.TemporaryDirectory(prefix="kluis-bench-audit-api-") as directory:
        url = database_url or f"sqlite:///{Path(directory) / 'kluis.db'}"
        if database_url is None:
            upgrade_to_head(url)
        # The server's own checkpoint interval, not the tests' short one.
        interval = Settings.model_fields["audit_checkpoint_interval"].default
        settings = audit_settings(Path(directory), url, audit_checkpoint_interval=interval)
        staff = provision(settings, "bench.teller", ("teller",))
        spawn = multiprocessing.get_context("spawn")
        pipe, child_end = spawn.Pipe()
        server = spawn.Process(target=_serve, args=(settings.model_dump_json(), child_end))
        server.start()
        try:
            base_url, ca_file = pipe.recv()
            device = Device()
            with httpx.Client(base_url=base_url, verify=client_context(Path(ca_file)), timeout=60) as http:
                token = AuthClient(http).session(staff, device)["access_token"]
            console = Console(staff, device, token, "teller")
            signed = console.signed(BATCH + count)
            warm_up, *bodies = [
                orjson.dumps({"events": [submission(item) for item in signed[start : start + BATCH]]})
                for start in range(0, len(signed), BATCH)
            ]
            del signed
            return asyncio.run(_post_batches(base_url, ca_file, token, warm_up, bodies, count))
        finally:
            pipe.send("stop")
            server.join(60)


def _register() -> None:
    """The harness loads this file without putting it in sys.modules; worker processes
    find the functions they run through it."""
    module = types.ModuleType(__name__)
    module.__dict__.update(globals())
    sys.modules.setdefault(__name__, module)


def run(report) -> None:  # type: ignore[no-untyped-def]
    _register()
    sample = [
        SignatureJob(n, "d", public_key_to_raw(k := device_key(n % DEVICES)), m := b"%d" % n * 40, k.sign(m))
        for n in range(5000)
    ]
    # Each figure keeps its best of a few rounds, the baseline too, interleaved: on a shared
    # machine rounds a minute apart differ by a third, and all of them are printed.
    one_core_rounds: list[float] = []
    rounds: dict[str, list[float]] = {
        name: [] for name in ("SQLite", "Postgres", "SQLite API", "Postgres API")
    }
    client_cpu: list[float] = []
    for _ in range(ROUNDS):
        one_core_rounds.append(raw_verify_one_core(sample))
        print(
            f"  raw Ed25519 verify, 1 core: libsodium {one_core_rounds[-1]:,.0f}/s, "
            f"OpenSSL {raw_verify_one_core(sample, _raw_verify_openssl):,.0f}/s"
        )
        rounds["SQLite"].append(append_rate_sqlite(APPEND_EVENTS))
        rate, cpu = append_rate_api(None, APPEND_EVENTS)
        rounds["SQLite API"].append(rate)
        client_cpu.append(cpu)
        postgres_rate = append_rate_postgres(APPEND_EVENTS)
        if postgres_rate is not None:
            rounds["Postgres"].append(postgres_rate)
            api = on_postgres(lambda url: append_rate_api(url, APPEND_EVENTS))
            if api is None:
                raise RuntimeError("PostgreSQL went away between two rounds")
            rounds["Postgres API"].append(api[0])
            client_cpu.append(api[1])
        print(
            "  append round: "
            + ", ".join(f"{name} {values[-1]:,.0f} events/s" for name, values in rounds.items() if values)
        )
    print(
        f"  the API clients' own CPU on the same two cores: {min(client_cpu) * 1e6:.1f}-"
        f"{max(client_cpu) * 1e6:.1f} µs an event"
    )
    one_core = max(one_core_rounds)
    for backend, values in rounds.items():
        if not values:
            continue
        path = "through the API over TLS" if backend.endswith("API") else "AuditLog.submit"
        report(
            f"audit append {APPEND_EVENTS} signed events, {SUBMITTERS} clients, batches of {BATCH}, "
            f"{backend.removesuffix(' API')}, {path}, best of {len(values)}",
            max(values),
            "events/s",
            one_core,
            "raw Ed25519 verify (libsodium), 1 core",
        )

    started = time.perf_counter()
    entries, jobs = generate_log(OFFLINE_EVENTS)
    print(f"  generated a {len(entries):,}-event log in {time.perf_counter() - started:.1f} s")

    started = time.perf_counter()
    sha = hashlib.sha256
    for entry in entries:
        sha(b"\x00" + entry).digest()
    bare = time.perf_counter() - started
    started = time.perf_counter()
    compact = CompactRange()
    for start in range(0, len(entries), VERIFY_CHUNK):
        compact.absorb([leaf_hash(entry) for entry in entries[start : start + VERIFY_CHUNK]])
    root = compact.root()
    recompute = time.perf_counter() - started
    assert root == root_from_leaf_hashes([leaf_hash(entry) for entry in entries])
    report(
        f"audit root of {len(entries):,} entries recomputed offline",
        recompute,
        "s",
        bare,
        "bare SHA-256 loop over the entries",
        higher_is_better=False,
    )

    # Alternating as above: one round of either read anywhere from 0.8 to 1.1 times the other.
    raw_rounds, checked_rounds = [], []
    for _ in range(ROUNDS):
        raw_rounds.append(raw_verify_all_cores(jobs))
        started = time.perf_counter()
        results = check_signatures(jobs)
        checked_rounds.append(len(jobs) / (time.perf_counter() - started))
        assert all(results)
    raw_all, checked = max(raw_rounds), max(checked_rounds)
    print(
        "  offline signature rounds (kluis-verify / raw): "
        + ", ".join(f"{a:,.0f} / {b:,.0f}" for a, b in zip(checked_rounds, raw_rounds, strict=True))
    )
    report(
        f"audit {len(jobs):,} device signatures checked offline, {CORES} cores (kluis-verify), "
        f"best of {ROUNDS}",
        checked,
        "signatures/s",
        raw_all,
        f"raw Ed25519 verify (libsodium), {CORES} cores",
    )
