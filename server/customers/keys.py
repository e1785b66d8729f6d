"""Customers' data keys, kept in a database of their own.

A customer's personal fields are sealed under a key that exists only here, wrapped by the
master key.  Erasing a customer deletes that row.  Because this database is separate from
the one holding the sealed fields, its backups can be kept shorter than (or apart from) the
data's: once the key's last backup has expired, every copy of the customer's personal
information, in every data backup, is unreadable.

With SQLite the key database is ``DATA_DIR/keys/customer-keys.db`` unless configured; with
PostgreSQL it must be configured (``KLUIS_CUSTOMER_KEY_DATABASE_URL``) so that every
instance shares it."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path

from sqlalchemy import Column, Integer, LargeBinary, MetaData, Table, Uuid, delete, select
from sqlalchemy.exc import IntegrityError

from server.auth.columns import UTCDateTime
from server.config import Settings
from server.db.engine import Database
from server.db.raw import rows_with_uuid_in, uuid_hex
from server.db.urls import redacted

SCHEMA_VERSION = 1

key_metadata = MetaData()

customer_keys = Table(
    "customer_keys",
    key_metadata,
    Column("customer_id", Uuid(), primary_key=True),
    Column("wrapped_key", LargeBinary(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

key_store_version = Table(
    "key_store_version",
    key_metadata,
    Column("version", Integer(), primary_key=True, autoincrement=False),
)


class KeyStoreError(Exception):
    """The key database is missing, shared with the data, or from a newer version."""


def key_database_url(settings: Settings) -> str:
    if settings.customer_key_database_url:
        configured = settings.customer_key_database_url
        if settings.database_url and redacted(configured) == redacted(settings.database_url):
            raise KeyStoreError(
                "KLUIS_CUSTOMER_KEY_DATABASE_URL names the data database itself; customers' keys must live "
                "apart from their data so that erasure reaches data backups"
            )
        return configured
    if settings.database_url and not settings.database_url.startswith("sqlite"):
        raise KeyStoreError(
            "set KLUIS_CUSTOMER_KEY_DATABASE_URL to the database that holds customers' data keys "
            "(shared by every instance, backed up apart from the data)"
        )
    path: Path = (settings.data_dir / "keys" / "customer-keys.db").resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


class CustomerKeyStore:
    def __init__(self, url: str) -> None:
        self.database = Database(url, pool_size=5)

    async def prepare(self) -> None:
        """Create the tables on first use; refuse a store written by a newer version."""
        async with self.database.engine.begin() as connection:
            await connection.run_sync(key_metadata.create_all)
        async with self.database.transaction(write=True) as connection:
            version = (await connection.execute(select(key_store_version.c.version))).scalar()
            if version is None:
                await connection.execute(key_store_version.insert().values(version=SCHEMA_VERSION))
            elif version > SCHEMA_VERSION:
                raise KeyStoreError(
                    f"the customer key database {redacted(self.database.url)} is at version {version}, "
                    f"newer than this server's {SCHEMA_VERSION}"
                )

    async def wrapped_keys(self, customer_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, bytes]:
        """The wrapped keys of those of ``customer_ids`` that have one."""
        wanted = {customer_id.hex: customer_id for customer_id in customer_ids}
        found = await self.wrapped_keys_by_hex(list(wanted))
        return {wanted[hex_id]: wrapped for hex_id, wrapped in found.items()}

    async def wrapped_keys_by_hex(self, hex_ids: Sequence[str]) -> dict[str, bytes]:
        """The wrapped keys of those of the customers that have one, each customer named by
        the 32 lowercase hex digits of their id.  The ids go to the database as one array
        (PostgreSQL) or one JSON list (SQLite): a pull asks for a thousand at a time, and
        as an expanding IN, SQLAlchemy named and converted each."""
        if not hex_ids:
            return {}
        async with self.database.transaction() as connection:
            rows = await rows_with_uuid_in(
                connection, "customer_id, wrapped_key FROM customer_keys", "customer_id", hex_ids
            )
        return {uuid_hex(customer_id): bytes(wrapped) for customer_id, wrapped in rows}

    async def store(self, customer_id: uuid.UUID, wrapped_key: bytes, now: dt.datetime) -> bytes:
        """Keep a new customer's key (committed at once); if one exists, it wins and is returned."""
        try:
            async with self.database.transaction(write=True) as connection:
                await connection.execute(
                    customer_keys.insert().values(
                        customer_id=customer_id, wrapped_key=wrapped_key, created_at=now
                    )
                )
            return wrapped_key
        except IntegrityError:
            existing = await self.wrapped_keys([customer_id])
            return existing[customer_id]

    async def destroy(self, customer_id: uuid.UUID) -> None:
        async with self.database.transaction(write=True) as connection:
            await connection.execute(delete(customer_keys).where(customer_keys.c.customer_id == customer_id))

    async def close(self) -> None:
        await self.database.dispose()
