"""Test databases: SQLite files, and PostgreSQL databases cloned from a migrated template.

CI exports KLUIS_TEST_POSTGRES_URL and sets CI=true: there an unreachable PostgreSQL
fails the run.  On a developer's machine without PostgreSQL the PostgreSQL leg is
skipped, saying so."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from sqlalchemy.engine import make_url

from server.db.migrate import upgrade_to_head

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


class PostgresUnavailable(Exception):
    pass


def _libpq(url: str) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    return parsed.render_as_string(hide_password=False)


class PostgresCluster:
    """Creates and drops databases beside the one the run was given."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.prefix = f"kluis_t{secrets.token_hex(3)}"
        self._created: list[str] = []
        self._template: str | None = None
        try:
            with psycopg.connect(_libpq(url), autocommit=True, connect_timeout=5) as connection:
                connection.execute("SELECT 1")
        except psycopg.OperationalError as exc:
            raise PostgresUnavailable(
                f"PostgreSQL at {make_url(url).render_as_string()} is unreachable: {exc}"
            ) from None

    def _admin(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(_libpq(self.url), autocommit=True)

    def url_for(self, name: str) -> str:
        return make_url(self.url).set(database=name).render_as_string(hide_password=False)

    def create(self, *, migrated: bool) -> str:
        name = f"{self.prefix}_{len(self._created)}"
        with self._admin() as connection:
            if migrated:
                template = self._migrated_template()
                connection.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
            else:
                connection.execute(f'CREATE DATABASE "{name}"')
        self._created.append(name)
        return self.url_for(name)

    def _migrated_template(self) -> str:
        if self._template is None:
            name = f"{self.prefix}_template"
            with self._admin() as connection:
                connection.execute(f'CREATE DATABASE "{name}"')
            self._created.append(name)
            upgrade_to_head(self.url_for(name))
            self._template = name
        return self._template

    def drop(self, url: str) -> None:
        name = make_url(url).database
        with self._admin() as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if name in self._created:
            self._created.remove(name)

    def drop_all(self) -> None:
        with self._admin() as connection:
            for name in reversed(self._created):
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._created.clear()


@contextmanager
def postgres_cluster() -> Iterator[PostgresCluster | PostgresUnavailable]:
    url = os.environ.get("KLUIS_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    try:
        cluster = PostgresCluster(url)
    except PostgresUnavailable as exc:
        yield exc
        return
    try:
        yield cluster
    finally:
        cluster.drop_all()
