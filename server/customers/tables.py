"""Customers at rest.  Personal fields are one AES-256-GCM blob under the customer's own
data key, which lives wrapped by the master key in a separate key database
(server/customers/keys.py): destroying it makes the customer's personal information
unreadable everywhere, backups included.  Exact-match search uses keyed hashes, never
plaintext columns."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, LargeBinary, String, Table, Uuid

from server.auth.columns import UTCDateTime
from server.db.schema import metadata

customers = Table(
    "customers",
    metadata,
    Column("id", Uuid(), primary_key=True),
    Column("branch_id", Uuid(), ForeignKey("branches.id"), nullable=False),
    Column("bucket", String(64), nullable=False),
    Column("position", BigInteger(), nullable=False),
    Column("version", Integer(), nullable=False),
    Column("status", String(16), nullable=False),
    Column("personal", LargeBinary(), nullable=True),
    Column("id_number_hash", LargeBinary(), nullable=True, unique=True),
    Column("passport_hash", LargeBinary(), nullable=True, unique=True),
    Column("phone_hash", LargeBinary(), nullable=True, index=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("created_by", Uuid(), nullable=False),
    Column("updated_by", Uuid(), nullable=False),
    Index("ix_customers_position", "position", "id"),
    Index("ix_customers_bucket_position", "bucket", "position", "id"),
)
