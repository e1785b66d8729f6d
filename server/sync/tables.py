"""Sync bookkeeping: which client is whose, how far its mutations got and what became of
each, and tombstones for records that left a bucket."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, String, Table, Uuid

from server.auth.columns import EventId, UTCDateTime
from server.db.schema import metadata

sync_clients = Table(
    "sync_clients",
    metadata,
    Column("client_id", Uuid(), primary_key=True),
    Column("user_id", Uuid(), ForeignKey("users.id"), nullable=False, index=True),
    Column("device_id", Uuid(), ForeignKey("devices.id"), nullable=False, index=True),
    Column("last_mutation_id", BigInteger(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("last_seen_at", UTCDateTime(), nullable=False),
)

# One row per processed mutation: its outcome, and the position of the transaction that
# processed it, so a pull can say which mutations its page already reflects.
sync_mutations = Table(
    "sync_mutations",
    metadata,
    Column("client_id", Uuid(), ForeignKey("sync_clients.client_id", ondelete="CASCADE"), primary_key=True),
    Column("mutation_id", BigInteger(), primary_key=True),
    Column("position", BigInteger(), nullable=False),
    Column("name", String(64), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("code", String(64), nullable=True),
    Column("message", String(500), nullable=True),
    Column("processed_at", UTCDateTime(), nullable=False),
    Index("ix_sync_mutations_client_position", "client_id", "position"),
)

sync_tombstones = Table(
    "sync_tombstones",
    metadata,
    Column("id", EventId, primary_key=True, autoincrement=True),
    Column("position", BigInteger(), nullable=False),
    Column("bucket", String(64), nullable=False),
    Column("record_type", Integer(), nullable=False),
    Column("record_id", Uuid(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Index("ix_sync_tombstones_position", "position", "record_type", "record_id"),
)

# SQLite has no transaction ids: one row counts write transactions there instead.
sync_counter = Table(
    "sync_counter",
    metadata,
    Column("id", Integer(), primary_key=True, autoincrement=False),
    Column("value", BigInteger(), nullable=False),
)
