"""The audit log's tables.  Migration 0004 creates them.

``audit_log_state`` has exactly one row: the tree's size and compact range, locked by every
append, so appends from any number of server instances are strictly ordered."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
    Uuid,
    text,
)

from server.auth.columns import EventId, UTCDateTime
from server.db.schema import metadata

STATE_ROW = 1

audit_log_state = Table(
    "audit_log_state",
    metadata,
    Column("id", Integer(), primary_key=True, autoincrement=False),
    Column("size", BigInteger(), nullable=False),
    # shared.merkle.CompactRange.to_bytes(): the size, then the frontier's subtree hashes.
    Column("frontier", LargeBinary(), nullable=False),
    # Entries below this index were pruned past retention; their hashes stay in audit_nodes.
    Column("min_index", BigInteger(), nullable=False),
    # received_at never goes backwards, whatever the clocks of several instances say.
    Column("last_received_at", UTCDateTime(), nullable=True),
    Column("updated_at", UTCDateTime(), nullable=False),
)

# Every complete node of the tree, leaves (level 0) included, written once when completed.
audit_nodes = Table(
    "audit_nodes",
    metadata,
    Column("level", SmallInteger(), nullable=False),
    Column("idx", BigInteger(), nullable=False),
    Column("hash", LargeBinary(), nullable=False),
    PrimaryKeyConstraint("level", "idx"),
)

# One row per log entry.  The event's body (event, salt, signature and the columns read from
# it for searching) is nulled when erased; the entry itself stays until pruned.
audit_entries = Table(
    "audit_entries",
    metadata,
    Column("idx", BigInteger(), primary_key=True, autoincrement=False),
    Column("entry", LargeBinary(), nullable=False),
    Column("event_id", Uuid(), nullable=False, unique=True),
    Column("received_at", UTCDateTime(), nullable=False),
    Column("event_class", String(16), nullable=False),
    Column("signer", String(64), nullable=False),
    Column("event", LargeBinary(), nullable=True),
    Column("salt", LargeBinary(), nullable=True),
    Column("signature", LargeBinary(), nullable=True),
    Column("erased_at", UTCDateTime(), nullable=True),
    Column("erased_reason", String(16), nullable=True),
    Column("occurred_at", UTCDateTime(), nullable=True),
    Column("actor", Uuid(), nullable=True, index=True),
    Column("device", Uuid(), nullable=True, index=True),
    Column("action", String(32), nullable=True),
    Column("object_type", String(32), nullable=True),
    Column("object_id", String(128), nullable=True),
    Column("purpose", String(64), nullable=True),
    Column("outcome", String(16), nullable=True),
    Index("ix_audit_entries_object", "object_type", "object_id"),
    Index(
        "ix_audit_entries_erased",
        "idx",
        postgresql_where=text("erased_at IS NOT NULL"),
        sqlite_where=text("erased_at IS NOT NULL"),
    ),
)

audit_checkpoints = Table(
    "audit_checkpoints",
    metadata,
    Column("size", BigInteger(), primary_key=True, autoincrement=False),
    Column("root", LargeBinary(), nullable=False),
    Column("note", Text(), nullable=False),
    Column("key_id", String(16), nullable=False),
    Column("signed_at", UTCDateTime(), nullable=False),
)

# Server events recorded in their callers' transactions, waiting to be signed and appended.
audit_pending = Table(
    "audit_pending",
    metadata,
    Column("id", EventId, primary_key=True, autoincrement=True),
    Column("event_id", Uuid(), nullable=False, unique=True),
    Column("occurred_at", UTCDateTime(), nullable=False),
    Column("action", String(32), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("actor", Uuid(), nullable=True),
    Column("device", Uuid(), nullable=True),
    Column("role", String(32), nullable=True),
    Column("object_type", String(32), nullable=True),
    Column("object_id", String(128), nullable=True),
    Column("purpose", String(64), nullable=True),
    Column("reason", String(64), nullable=True),
)
