"""Identity and access: branches, staff users and roles, MFA, enrollment and recovery codes,
devices, sessions, refresh tokens, sign-in throttling, spent nonces and security events.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _time(name: str, *, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "branches",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(16), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("region", sa.String(100), nullable=False),
        _time("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_branches"),
        sa.UniqueConstraint("code", name="uq_branches_code"),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("display_name", sa.String(100), nullable=False),
        sa.Column("branch_id", sa.Uuid(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=True),
        _time("password_changed_at", nullable=True),
        sa.Column("totp_secret", sa.LargeBinary(), nullable=True),
        sa.Column("totp_pending_secret", sa.LargeBinary(), nullable=True),
        sa.Column("totp_last_step", sa.BigInteger(), server_default="0", nullable=False),
        _time("mfa_enrolled_at", nullable=True),
        sa.Column("token_epoch", sa.Integer(), server_default="0", nullable=False),
        _time("created_at"),
        _time("updated_at"),
        _time("disabled_at", nullable=True),
        sa.ForeignKeyConstraint(["branch_id"], ["branches.id"], name="fk_users_branch_id_branches"),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("username", name="uq_users_username"),
    )
    op.create_index("ix_users_branch_id", "users", ["branch_id"])
    op.create_table(
        "user_roles",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_user_roles_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "role", name="pk_user_roles"),
    )
    op.create_table(
        "enrollment_codes",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("code_hash", sa.LargeBinary(), nullable=False),
        sa.Column("purpose", sa.String(16), nullable=False),
        _time("created_at"),
        _time("expires_at"),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_enrollment_codes_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name="pk_enrollment_codes"),
    )
    op.create_table(
        "recovery_codes",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("code_hash", sa.LargeBinary(), nullable=False),
        _time("created_at"),
        _time("used_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_recovery_codes_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "code_hash", name="pk_recovery_codes"),
    )
    op.create_table(
        "devices",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        _time("created_at"),
        _time("last_seen_at", nullable=True),
        _time("revoked_at", nullable=True),
        sa.Column("revoked_by", sa.Uuid(), nullable=True),
        sa.Column("token_epoch", sa.Integer(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_devices_user_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_devices"),
        sa.UniqueConstraint("public_key", name="uq_devices_public_key"),
    )
    op.create_index("ix_devices_user_id", "devices", ["user_id"])
    op.create_table(
        "auth_sessions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("device_id", sa.Uuid(), nullable=False),
        _time("created_at"),
        _time("expires_at"),
        _time("last_refreshed_at"),
        _time("revoked_at", nullable=True),
        sa.Column("revoke_reason", sa.String(32), nullable=True),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"], name="fk_auth_sessions_device_id_devices"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_auth_sessions_user_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_auth_sessions"),
    )
    op.create_index("ix_auth_sessions_user_id", "auth_sessions", ["user_id"])
    op.create_index("ix_auth_sessions_device_id", "auth_sessions", ["device_id"])
    op.create_table(
        "refresh_tokens",
        sa.Column("token_hash", sa.LargeBinary(), nullable=False),
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        _time("issued_at"),
        _time("used_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["auth_sessions.id"],
            name="fk_refresh_tokens_session_id_auth_sessions",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name="pk_refresh_tokens"),
    )
    op.create_index("ix_refresh_tokens_session_id", "refresh_tokens", ["session_id"])
    op.create_table(
        "auth_throttle",
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        _time("hour_started_at"),
        sa.Column("hour_failures", sa.Integer(), nullable=False),
        _time("next_attempt_at", nullable=True),
        _time("locked_until", nullable=True),
        _time("updated_at"),
        sa.PrimaryKeyConstraint("scope", "key_hash", name="pk_auth_throttle"),
    )
    op.create_index("ix_auth_throttle_updated_at", "auth_throttle", ["updated_at"])
    op.create_table(
        "used_nonces",
        sa.Column("jti", sa.String(64), nullable=False),
        _time("expires_at"),
        sa.PrimaryKeyConstraint("jti", name="pk_used_nonces"),
    )
    op.create_index("ix_used_nonces_expires_at", "used_nonces", ["expires_at"])
    op.create_table(
        "security_events",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        _time("occurred_at"),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(40), nullable=True),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("device_id", sa.Uuid(), nullable=True),
        sa.Column("session_id", sa.Uuid(), nullable=True),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("source", sa.String(8), nullable=False),
        sa.Column("client_address", sa.String(64), nullable=True),
        sa.Column("subject_hash", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_security_events"),
        sa.UniqueConstraint("event_id", name="uq_security_events_event_id"),
    )
    op.create_index("ix_security_events_occurred_at", "security_events", ["occurred_at"])
    op.create_index("ix_security_events_user_id", "security_events", ["user_id"])


def downgrade() -> None:
    for index, table in (
        ("ix_security_events_user_id", "security_events"),
        ("ix_security_events_occurred_at", "security_events"),
        ("ix_used_nonces_expires_at", "used_nonces"),
        ("ix_auth_throttle_updated_at", "auth_throttle"),
        ("ix_refresh_tokens_session_id", "refresh_tokens"),
        ("ix_auth_sessions_device_id", "auth_sessions"),
        ("ix_auth_sessions_user_id", "auth_sessions"),
        ("ix_devices_user_id", "devices"),
        ("ix_users_branch_id", "users"),
    ):
        op.drop_index(index, table_name=table)
    for table in (
        "security_events",
        "used_nonces",
        "auth_throttle",
        "refresh_tokens",
        "auth_sessions",
        "devices",
        "recovery_codes",
        "enrollment_codes",
        "user_roles",
        "users",
        "branches",
    ):
        op.drop_table(table)
