"""The identity code driven directly (no HTTP), on SQLite and PostgreSQL, with a clock the
test moves and a password hasher that counts its work."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import pytest

from server.auth.context import AuthContext
from server.auth.keystore import ServerKeys
from server.auth.passwords import Argon2Hasher, Argon2Parameters
from server.config import Settings
from server.db.engine import Database
from testkit.auth import FAST_ARGON2, Staff, enroll_staff

START = dt.datetime(2026, 11, 28, 8, 0, 0, tzinfo=dt.UTC)


class FakeClock:
    def __init__(self, now: dt.datetime = START) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> dt.datetime:
        self.now += dt.timedelta(**delta)
        return self.now


class CountingHasher:
    """A real Argon2 hasher that records which hashes it verified against."""

    def __init__(self, inner: Argon2Hasher) -> None:
        self.inner = inner
        self.verified: list[str] = []
        self.hashed = 0

    @property
    def dummy_hash(self) -> str:
        return self.inner.dummy_hash

    async def hash(self, password: str) -> str:
        self.hashed += 1
        return await self.inner.hash(password)

    async def verify(self, stored_hash: str, password: str) -> bool:
        self.verified.append(stored_hash)
        return await self.inner.verify(stored_hash, password)

    def needs_rehash(self, stored_hash: str) -> bool:
        return self.inner.needs_rehash(stored_hash)


FAST_PARAMETERS = Argon2Parameters(
    memory_kib=FAST_ARGON2["argon2_memory_kib"],
    time_cost=FAST_ARGON2["argon2_time_cost"],
    parallelism=FAST_ARGON2["argon2_parallelism"],
)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def hasher() -> CountingHasher:
    return CountingHasher(Argon2Hasher(FAST_PARAMETERS))


@pytest.fixture
def settings(tmp_path, database_url) -> Settings:
    return Settings(data_dir=tmp_path, database_url=database_url, **FAST_ARGON2)


@pytest.fixture
async def database(database_url) -> AsyncIterator[Database]:
    db = Database(database_url)
    yield db
    await db.dispose()


@pytest.fixture
def context(database, settings, clock, hasher) -> AuthContext:
    return AuthContext.create(database, settings, ServerKeys.ephemeral(), clock=clock, hasher=hasher)


@pytest.fixture
def enroll(context, hasher, clock):
    async def make(username: str, *roles: str, branch_code: str = "JHB01") -> Staff:
        return await enroll_staff(
            context.database,
            context.cipher,
            hasher.inner.hash_now("correct horse battery staple 42"),
            username,
            roles or ("teller",),
            branch_code=branch_code,
            now=clock(),
        )

    return make
