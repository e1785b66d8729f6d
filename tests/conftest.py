"""Fixtures every test directory may use.

Storage fixtures are parametrized over SQLite and PostgreSQL.  With CI=true an
unreachable PostgreSQL fails the test; elsewhere its leg is skipped with the reason."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS / "lib"))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from testkit.ci import unavailable  # noqa: E402
from testkit.databases import PostgresCluster, PostgresUnavailable, postgres_cluster  # noqa: E402

VECTORS = TESTS.parent.parent / "shared" / "vectors"


@pytest.fixture(scope="session")
def vectors_dir() -> Path:
    """The team's published test vectors, beside the checkout."""
    assert VECTORS.is_dir(), f"test vectors not found at {VECTORS}"
    return VECTORS


@pytest.fixture(scope="session")
def _postgres() -> Iterator[PostgresCluster | PostgresUnavailable]:
    with postgres_cluster() as cluster:
        yield cluster


def _require_postgres(cluster: PostgresCluster | PostgresUnavailable) -> PostgresCluster:
    if isinstance(cluster, PostgresUnavailable):
        unavailable(f"PostgreSQL is not available, so its leg was not run: {cluster}")
    return cluster


@pytest.fixture
def postgres(_postgres: PostgresCluster | PostgresUnavailable) -> PostgresCluster:
    return _require_postgres(_postgres)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def empty_database_url(
    backend: str, tmp_path: Path, _postgres: PostgresCluster | PostgresUnavailable
) -> Iterator[str]:
    """A database with no tables, on each backend."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'kluis.db'}"
        return
    cluster = _require_postgres(_postgres)
    url = cluster.create(migrated=False)
    yield url
    cluster.drop(url)


@pytest.fixture
def database_url(
    backend: str, tmp_path: Path, _postgres: PostgresCluster | PostgresUnavailable
) -> Iterator[str]:
    """A database migrated to head, on each backend."""
    if backend == "sqlite":
        from server.db.migrate import upgrade_to_head

        url = f"sqlite:///{tmp_path / 'kluis.db'}"
        upgrade_to_head(url)
        yield url
        return
    cluster = _require_postgres(_postgres)
    url = cluster.create(migrated=True)
    yield url
    cluster.drop(url)
