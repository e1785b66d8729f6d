"""Sync bookkeeping (clients, the mutation ledger, tombstones, the SQLite position counter) and the
customer register with encrypted personal fields.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

AUTO_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _time(name: str, *, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "sync_clients",
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("device_id", sa.Uuid(), nullable=False),
        sa.Column("last_mutation_id", sa.BigInteger(), nullable=False),
        _time("created_at"),
        _time("last_seen_at"),
        sa.PrimaryKeyConstraint("client_id", name="pk_sync_clients"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_sync_clients_user_id_users"),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"], name="fk_sync_clients_device_id_devices"),
    )
    op.create_index("ix_sync_clients_user_id", "sync_clients", ["user_id"])
    op.create_index("ix_sync_clients_device_id", "sync_clients", ["device_id"])
    op.create_table(
        "sync_mutations",
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("mutation_id", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("code", sa.String(64), nullable=True),
        sa.Column("message", sa.String(500), nullable=True),
        _time("processed_at"),
        sa.PrimaryKeyConstraint("client_id", "mutation_id", name="pk_sync_mutations"),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["sync_clients.client_id"],
            name="fk_sync_mutations_client_id_sync_clients",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_sync_mutations_client_position", "sync_mutations", ["client_id", "position"])
    op.create_table(
        "sync_tombstones",
        sa.Column("id", AUTO_ID, nullable=False, autoincrement=True),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("bucket", sa.String(64), nullable=False),
        sa.Column("record_type", sa.Integer(), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        _time("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_sync_tombstones"),
    )
    op.create_index(
        "ix_sync_tombstones_position", "sync_tombstones", ["position", "record_type", "record_id"]
    )
    op.create_table(
        "sync_counter",
        sa.Column("id", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sync_counter"),
    )
    op.execute("INSERT INTO sync_counter (id, value) VALUES (1, 0)")
    op.create_table(
        "customers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("branch_id", sa.Uuid(), nullable=False),
        sa.Column("bucket", sa.String(64), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("personal", sa.LargeBinary(), nullable=True),
        sa.Column("id_number_hash", sa.LargeBinary(), nullable=True),
        sa.Column("passport_hash", sa.LargeBinary(), nullable=True),
        sa.Column("phone_hash", sa.LargeBinary(), nullable=True),
        _time("created_at"),
        _time("updated_at"),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.Column("updated_by", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_customers"),
        sa.ForeignKeyConstraint(["branch_id"], ["branches.id"], name="fk_customers_branch_id_branches"),
        sa.UniqueConstraint("id_number_hash", name="uq_customers_id_number_hash"),
        sa.UniqueConstraint("passport_hash", name="uq_customers_passport_hash"),
    )
    op.create_index("ix_customers_position", "customers", ["position", "id"])
    op.create_index("ix_customers_bucket_position", "customers", ["bucket", "position", "id"])
    op.create_index("ix_customers_phone_hash", "customers", ["phone_hash"])


def downgrade() -> None:
    op.drop_table("customers")
    op.drop_table("sync_counter")
    op.drop_table("sync_tombstones")
    op.drop_table("sync_mutations")
    op.drop_table("sync_clients")
