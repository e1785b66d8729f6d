"""An index of the erased audit entries, so that auditors' copies of the log can learn of
every erasure without scanning the whole log.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_ERASED = sa.text("erased_at IS NOT NULL")


def upgrade() -> None:
    op.create_index(
        "ix_audit_entries_erased",
        "audit_entries",
        ["idx"],
        postgresql_where=_ERASED,
        sqlite_where=_ERASED,
    )


def downgrade() -> None:
    op.drop_index("ix_audit_entries_erased", table_name="audit_entries")
