"""The per-request cost of authentication, in microseconds, beside raw Ed25519 verification
measured in the same run.

* ``ed25519 verify``: ``cryptography`` verifying one signature over a message the size of
  an access token's signing input: the floor any signed-token scheme pays.
* ``access token verification``: what the authorizer does before touching the database
  (JWT parsing, EdDSA signature, header and claim checks).
* ``revocation check``: the one indexed query, per request, that reads session, user and
  device standing (epochs included) -- on SQLite, and on PostgreSQL when it is reachable.
* ``authentication per request``: both together, as the authorizer runs them.

Runs under ``tests/bench/run.py`` (``run(report)``) or alone: ``python tests/bench/bench_auth.py``."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from server.auth.accounts import Actor, create_account, create_branch  # noqa: E402
from server.auth.authorizer import Authenticator  # noqa: E402
from server.auth.clock import utc_now  # noqa: E402
from server.auth.context import AuthContext  # noqa: E402
from server.auth.devices import enroll_device  # noqa: E402
from server.auth.keystore import ServerKeys, SigningKeyRing  # noqa: E402
from server.auth.tokens import TokenCodec  # noqa: E402
from server.config import Settings  # noqa: E402
from server.db.engine import Database  # noqa: E402
from server.db.migrate import upgrade_to_head  # noqa: E402
from shared.crypto import generate_private_key, public_key_to_raw, verify  # noqa: E402

ROUNDS = int(os.environ.get("KLUIS_BENCH_AUTH_ROUNDS", "7"))
CRYPTO_ITERATIONS = int(os.environ.get("KLUIS_BENCH_AUTH_CRYPTO_ITERATIONS", "4000"))
DB_ITERATIONS = int(os.environ.get("KLUIS_BENCH_AUTH_DB_ITERATIONS", "1000"))
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"

Report = Callable[..., None]


def _median_microseconds(samples: list[float]) -> float:
    return statistics.median(samples) * 1e6


def time_sync(operation: Callable[[], Any], iterations: int) -> float:
    """Median over rounds of the mean time of one call, in microseconds."""
    for _ in range(min(200, iterations)):
        operation()
    samples = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for _ in range(iterations):
            operation()
        samples.append((time.perf_counter() - started) / iterations)
    return _median_microseconds(samples)


async def time_async(operation: Callable[[], Awaitable[Any]], iterations: int) -> float:
    for _ in range(min(100, iterations)):
        await operation()
    samples = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for _ in range(iterations):
            await operation()
        samples.append((time.perf_counter() - started) / iterations)
    return _median_microseconds(samples)


async def _signed_in(database: Database, settings: Settings) -> tuple[AuthContext, str]:
    """A user, a device and a session, and an access token for it."""
    context = AuthContext.create(database, settings, ServerKeys.ephemeral())
    now = dt.datetime.now(dt.UTC)
    async with database.transaction(write=True) as connection:
        branch = await create_branch(
            connection, code="BENCH", name="Bench", region="-", actor=Actor.cli(), now=now
        )
        account, _ = await create_account(
            connection,
            username="bench.teller",
            display_name="Bench",
            branch_id=branch.id,
            roles=["teller"],
            enrollment_lifetime=dt.timedelta(hours=1),
            actor=Actor.cli(),
            now=now,
        )
        device = await enroll_device(
            connection,
            user_id=account.id,
            name="bench",
            public_key=public_key_to_raw(generate_private_key()),
            now=now,
        )
        grant = await context.open_session(connection, account, device, now)
    return context, grant.access.token


async def _measure_database(url: str) -> tuple[float, float]:
    """(revocation check alone, token verification + revocation check) in microseconds."""
    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(data_dir=Path(data_dir), database_url=url)
        database = Database(url)
        try:
            context, token = await _signed_in(database, settings)
            authenticator = Authenticator(database, context.codec, context.clock)
            claims = context.codec.verify_access(token)

            async def standing() -> None:
                assert await authenticator._standing(claims.session_id) is not None

            async def authenticate() -> None:
                await authenticator.authenticate(token)

            query = await time_async(standing, DB_ITERATIONS)
            full = await time_async(authenticate, DB_ITERATIONS)
            return query, full
        finally:
            await database.dispose()


def _postgres_database() -> tuple[str, Callable[[], None]] | None:
    base = os.environ.get("KLUIS_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    admin = make_url(base).set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"kluis_bench_{secrets.token_hex(4)}"
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        print(f"  PostgreSQL not reachable, its figures are skipped: {exc}".splitlines()[0])
        return None

    def drop() -> None:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return make_url(base).set(database=name).render_as_string(hide_password=False), drop


def run(report: Report) -> None:
    private = generate_private_key()
    public = public_key_to_raw(private)
    codec = TokenCodec(
        SigningKeyRing.ephemeral("token-signing"),
        issuer="kluis",
        audience="kluis-api",
        access_lifetime=dt.timedelta(minutes=5),
        clock=utc_now,
    )
    token = codec.issue_access(
        user_id=uuid.uuid4(),
        session_id=uuid.uuid4(),
        device_id=uuid.uuid4(),
        branch_id=uuid.uuid4(),
        roles=("teller",),
        user_epoch=0,
        device_epoch=0,
    ).token
    signing_input = token.rsplit(".", 1)[0].encode()
    signature = private.sign(signing_input)
    raw = time_sync(lambda: verify(public, signing_input, signature), CRYPTO_ITERATIONS)
    tokens = time_sync(lambda: codec.verify_access(token), CRYPTO_ITERATIONS)
    baseline = "raw Ed25519 verify (cryptography)"
    report("access token verification", tokens, "µs", raw, baseline, higher_is_better=False)

    with tempfile.TemporaryDirectory() as data_dir:
        sqlite_url = f"sqlite:///{data_dir}/bench.db"
        upgrade_to_head(sqlite_url)
        query, full = asyncio.run(_measure_database(sqlite_url))
    report("revocation check, SQLite", query, "µs", raw, baseline, higher_is_better=False)
    report("authentication per request, SQLite", full, "µs", raw, baseline, higher_is_better=False)

    postgres = _postgres_database()
    if postgres is not None:
        url, drop = postgres
        try:
            upgrade_to_head(url)
            query, full = asyncio.run(_measure_database(url))
        finally:
            drop()
        report("revocation check, PostgreSQL", query, "µs", raw, baseline, higher_is_better=False)
        report("authentication per request, PostgreSQL", full, "µs", raw, baseline, higher_is_better=False)


def _print_report(
    name: str, figure: float, unit: str, baseline: float, baseline_name: str, higher_is_better: bool = True
) -> None:
    ratio = figure / baseline
    print(f"{name}: {figure:,.1f} {unit}  (baseline {baseline_name}: {baseline:,.1f} {unit}, x{ratio:.1f})")


if __name__ == "__main__":
    run(_print_report)
