"""The audit log: its single state row, tree nodes, entries, checkpoints and pending server
events.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _time(name: str, *, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    state = op.create_table(
        "audit_log_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("frontier", sa.LargeBinary(), nullable=False),
        sa.Column("min_index", sa.BigInteger(), nullable=False),
        _time("last_received_at", nullable=True),
        _time("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log_state"),
    )
    op.create_table(
        "audit_nodes",
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("idx", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("level", "idx", name="pk_audit_nodes"),
    )
    op.create_table(
        "audit_entries",
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("entry", sa.LargeBinary(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        _time("received_at"),
        sa.Column("event_class", sa.String(16), nullable=False),
        sa.Column("signer", sa.String(64), nullable=False),
        sa.Column("event", sa.LargeBinary(), nullable=True),
        sa.Column("salt", sa.LargeBinary(), nullable=True),
        sa.Column("signature", sa.LargeBinary(), nullable=True),
        _time("erased_at", nullable=True),
        sa.Column("erased_reason", sa.String(16), nullable=True),
        _time("occurred_at", nullable=True),
        sa.Column("actor", sa.Uuid(), nullable=True),
        sa.Column("device", sa.Uuid(), nullable=True),
        sa.Column("action", sa.String(32), nullable=True),
        sa.Column("object_type", sa.String(32), nullable=True),
        sa.Column("object_id", sa.String(128), nullable=True),
        sa.Column("purpose", sa.String(64), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.PrimaryKeyConstraint("idx", name="pk_audit_entries"),
        sa.UniqueConstraint("event_id", name="uq_audit_entries_event_id"),
    )
    op.create_index("ix_audit_entries_actor", "audit_entries", ["actor"])
    op.create_index("ix_audit_entries_device", "audit_entries", ["device"])
    op.create_index("ix_audit_entries_object", "audit_entries", ["object_type", "object_id"])
    op.create_table(
        "audit_checkpoints",
        sa.Column("size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("root", sa.LargeBinary(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("key_id", sa.String(16), nullable=False),
        _time("signed_at"),
        sa.PrimaryKeyConstraint("size", name="pk_audit_checkpoints"),
    )
    op.create_table(
        "audit_pending",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        _time("occurred_at"),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("actor", sa.Uuid(), nullable=True),
        sa.Column("device", sa.Uuid(), nullable=True),
        sa.Column("role", sa.String(32), nullable=True),
        sa.Column("object_type", sa.String(32), nullable=True),
        sa.Column("object_id", sa.String(128), nullable=True),
        sa.Column("purpose", sa.String(64), nullable=True),
        sa.Column("reason", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_audit_pending"),
        sa.UniqueConstraint("event_id", name="uq_audit_pending_event_id"),
    )
    # The empty log: size 0, an empty compact range (eight zero bytes of size, no hashes).
    op.execute(
        state.insert().values(
            id=1, size=0, frontier=bytes(8), min_index=0, last_received_at=None, updated_at=sa.func.now()
        )
    )


def downgrade() -> None:
    for index in ("ix_audit_entries_object", "ix_audit_entries_device", "ix_audit_entries_actor"):
        op.drop_index(index, table_name="audit_entries")
    for table in ("audit_pending", "audit_checkpoints", "audit_entries", "audit_nodes", "audit_log_state"):
        op.drop_table(table)
