"""The vault's own tables (local schema versions 1-99) and their SQLAlchemy descriptions.

Each migration states its DDL as it was on the day it was written; the ``Table`` objects
below describe the current shape for queries."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, Column, Integer, LargeBinary, MetaData, String, Table, text
from sqlalchemy.engine import Connection

from console.vault.migrations import Migration
from console.vault.types import TextUUID, UTCDateTime


def _identity_and_device(connection: Connection) -> None:
    connection.execute(
        text(
            """
            CREATE TABLE vault_identity (
                singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
                user_id TEXT NOT NULL,
                username TEXT NOT NULL,
                display_name TEXT NOT NULL,
                roles TEXT NOT NULL,
                branch_id TEXT NOT NULL,
                branch_code TEXT NOT NULL,
                updated_at TEXT NOT NULL
            )
            """
        )
    )
    connection.execute(
        text(
            """
            CREATE TABLE device_key (
                singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
                device_id TEXT NOT NULL,
                name TEXT NOT NULL,
                private_key BLOB NOT NULL CHECK (length(private_key) = 32),
                public_key BLOB NOT NULL CHECK (length(public_key) = 32),
                enrolled_at TEXT NOT NULL
            )
            """
        )
    )


def _online_sign_in(connection: Connection) -> None:
    connection.execute(
        text(
            """
            CREATE TABLE online_sign_in (
                singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
                signed_in_at TEXT NOT NULL,
                offline_unlock_hours INTEGER NOT NULL CHECK (offline_unlock_hours >= 0),
                server_offline_until TEXT NOT NULL,
                last_used_at TEXT NOT NULL
            )
            """
        )
    )


def _audit_outbox(connection: Connection) -> None:
    connection.execute(
        text(
            """
            CREATE TABLE audit_outbox (
                event_id TEXT PRIMARY KEY,
                action TEXT NOT NULL,
                outcome TEXT NOT NULL,
                occurred_at TEXT NOT NULL,
                event BLOB NOT NULL,
                signature BLOB NOT NULL CHECK (length(signature) = 64),
                state TEXT NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'accepted', 'rejected')),
                log_index INTEGER,
                reason TEXT,
                sent_at TEXT
            )
            """
        )
    )
    connection.execute(text("CREATE INDEX audit_outbox_state ON audit_outbox (state, occurred_at)"))


MIGRATIONS = (
    Migration(1, "identity and device key", _identity_and_device),
    Migration(2, "last online sign-in", _online_sign_in),
    Migration(3, "audit outbox", _audit_outbox),
)

metadata = MetaData()

vault_identity = Table(
    "vault_identity",
    metadata,
    Column("singleton", Integer, CheckConstraint("singleton = 1"), primary_key=True, default=1),
    Column("user_id", TextUUID, nullable=False),
    Column("username", String, nullable=False),
    Column("display_name", String, nullable=False),
    Column("roles", String, nullable=False),
    Column("branch_id", TextUUID, nullable=False),
    Column("branch_code", String, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

device_key = Table(
    "device_key",
    metadata,
    Column("singleton", Integer, primary_key=True, default=1),
    Column("device_id", TextUUID, nullable=False),
    Column("name", String, nullable=False),
    Column("private_key", LargeBinary, nullable=False),
    Column("public_key", LargeBinary, nullable=False),
    Column("enrolled_at", UTCDateTime, nullable=False),
)

online_sign_in = Table(
    "online_sign_in",
    metadata,
    Column("singleton", Integer, primary_key=True, default=1),
    Column("signed_in_at", UTCDateTime, nullable=False),
    Column("offline_unlock_hours", Integer, nullable=False),
    Column("server_offline_until", UTCDateTime, nullable=False),
    Column("last_used_at", UTCDateTime, nullable=False),
)

audit_outbox = Table(
    "audit_outbox",
    metadata,
    Column("event_id", TextUUID, primary_key=True),
    Column("action", String, nullable=False),
    Column("outcome", String, nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("event", LargeBinary, nullable=False),
    Column("signature", LargeBinary, nullable=False),
    Column("state", String, nullable=False, default="pending"),
    Column("log_index", Integer),
    Column("reason", String),
    Column("sent_at", UTCDateTime),
)
