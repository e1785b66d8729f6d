"""Migrations and the schema check, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, text

from server.db.engine import Database
from server.db.migrate import SchemaNotAtHead, head_revision, require_head, upgrade_to_head
from server.db.schema import metadata
from server.db.urls import sync_database_url


def test_migrations_create_exactly_the_declared_schema(empty_database_url):
    upgrade_to_head(empty_database_url)
    engine = create_engine(sync_database_url(empty_database_url))
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, metadata) == []
    finally:
        engine.dispose()


def test_upgrade_is_idempotent(empty_database_url):
    upgrade_to_head(empty_database_url)
    upgrade_to_head(empty_database_url)


async def test_require_head_accepts_a_migrated_database(database_url):
    database = Database(database_url)
    try:
        await require_head(database)
    finally:
        await database.dispose()


async def test_require_head_refuses_an_empty_database(empty_database_url):
    database = Database(empty_database_url)
    try:
        with pytest.raises(SchemaNotAtHead, match=r"has no Kluis schema.*kluis-server migrate"):
            await require_head(database)
    finally:
        await database.dispose()


async def test_require_head_names_a_newer_schema(database_url):
    database = Database(database_url)
    try:
        async with database.transaction(write=True) as connection:
            await connection.execute(text("UPDATE alembic_version SET version_num = 'fff9'"))
        with pytest.raises(SchemaNotAtHead, match="newer version"):
            await require_head(database)
    finally:
        await database.dispose()


async def test_require_head_names_an_older_schema(database_url):
    assert head_revision() != "0001"  # an older schema exists to be named
    database = Database(database_url)
    try:
        async with database.transaction(write=True) as connection:
            await connection.execute(text("UPDATE alembic_version SET version_num = '0001'"))
        with pytest.raises(SchemaNotAtHead, match="older than"):
            await require_head(database)
    finally:
        await database.dispose()


async def test_sqlite_connections_are_configured(tmp_path):
    url = f"sqlite:///{tmp_path / 'k.db'}"
    upgrade_to_head(url)
    database = Database(url)
    try:
        async with database.transaction() as connection:
            assert (await connection.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
            assert (await connection.execute(text("PRAGMA foreign_keys"))).scalar() == 1
            assert (await connection.execute(text("PRAGMA busy_timeout"))).scalar() == 10_000
    finally:
        await database.dispose()


async def test_transactions_commit_and_roll_back(database_url):
    import datetime as dt

    from server.db.schema import server_meta

    database = Database(database_url)
    now = dt.datetime.now(dt.UTC)
    try:
        async with database.transaction(write=True) as connection:
            await connection.execute(server_meta.insert().values(key="a", value="1", updated_at=now))

        async def insert_then_fail() -> None:
            async with database.transaction(write=True) as connection:
                await connection.execute(server_meta.insert().values(key="b", value="2", updated_at=now))
                raise RuntimeError("roll back")

        with pytest.raises(RuntimeError):
            await insert_then_fail()
        async with database.transaction() as connection:
            keys = (await connection.execute(server_meta.select())).all()
        assert [row.key for row in keys] == ["a"]
        assert keys[0].updated_at.replace(tzinfo=dt.UTC) == now.replace(microsecond=now.microsecond)
    finally:
        await database.dispose()
