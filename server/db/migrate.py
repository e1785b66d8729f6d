"""Schema versions: migrate to head, and check that a database is at head."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Column, MetaData, String, Table, inspect, select
from sqlalchemy.engine import Connection

from server.db.engine import Database
from server.db.urls import redacted, sync_database_url

MIGRATIONS = Path(__file__).with_name("migrations")
VERSION_TABLE = Table("alembic_version", MetaData(), Column("version_num", String(32)))


class SchemaNotAtHead(Exception):
    """The database schema is older or newer than this server's code."""


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", sync_database_url(url).replace("%", "%%"))
    return config


def head_revision() -> str:
    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert head is not None
    return head


def upgrade_to_head(url: str) -> None:
    """Apply every migration not yet applied (blocking; run from the command line)."""
    command.upgrade(alembic_config(url), "head")


def _current_revision(connection: Connection) -> str | None:
    # Alembic's MigrationContext would do, but it logs at INFO on every call, and the
    # readiness probe calls this every few seconds.
    if not inspect(connection).has_table(VERSION_TABLE.name):
        return None
    revisions = connection.execute(select(VERSION_TABLE.c.version_num)).scalars().all()
    if len(revisions) > 1:
        raise SchemaNotAtHead(f"the database has several schema heads {sorted(revisions)}")
    return revisions[0] if revisions else None


async def current_revision(database: Database) -> str | None:
    async with database.engine.connect() as connection:
        return await connection.run_sync(_current_revision)


async def require_head(database: Database) -> None:
    current = await current_revision(database)
    head = head_revision()
    if current == head:
        return
    where = redacted(database.url)
    if current is None:
        state = "has no Kluis schema"
    elif current in {script.revision for script in ScriptDirectory(str(MIGRATIONS)).walk_revisions()}:
        state = f"is at revision {current}, older than this server's {head}"
    else:
        state = f"is at revision {current}, which this server does not know (written by a newer version?)"
    raise SchemaNotAtHead(
        f"the database {where} {state}; run `kluis-server migrate` with the same settings first"
    )
