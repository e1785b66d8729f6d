"""The identity and access tables: branches, staff, roles, MFA, devices, sessions, refresh
tokens, throttling, spent nonces and security events.  Migration 0002 creates them."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    Uuid,
)

from server.auth.columns import EventId, UTCDateTime
from server.db.schema import metadata

# Re-exported: other table modules import these from here.
__all__ = ["EventId", "UTCDateTime"]


branches = Table(
    "branches",
    metadata,
    Column("id", Uuid(), primary_key=True),
    Column("code", String(16), nullable=False, unique=True),
    Column("name", String(100), nullable=False),
    Column("region", String(100), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("id", Uuid(), primary_key=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("display_name", String(100), nullable=False),
    Column("branch_id", Uuid(), ForeignKey("branches.id"), nullable=False, index=True),
    Column("active", Boolean(), nullable=False),
    # Argon2id PHC string; NULL until the user sets a password (and again after an MFA reset).
    Column("password_hash", Text(), nullable=True),
    Column("password_changed_at", UTCDateTime(), nullable=True),
    # TOTP secrets sealed with the MFA key (AES-256-GCM, the user id as associated data).
    Column("totp_secret", LargeBinary(), nullable=True),
    Column("totp_pending_secret", LargeBinary(), nullable=True),
    # The last accepted TOTP time step: a code is accepted only for a later step.
    Column("totp_last_step", BigInteger(), nullable=False, server_default="0"),
    Column("mfa_enrolled_at", UTCDateTime(), nullable=True),
    # Raised when the user is disabled or loses MFA: every access token carrying an older
    # epoch is refused on its next request.
    Column("token_epoch", Integer(), nullable=False, server_default="0"),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("disabled_at", UTCDateTime(), nullable=True),
)

user_roles = Table(
    "user_roles",
    metadata,
    Column("user_id", Uuid(), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("role", String(32), nullable=False),
    PrimaryKeyConstraint("user_id", "role"),
)

enrollment_codes = Table(
    "enrollment_codes",
    metadata,
    Column("user_id", Uuid(), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("code_hash", LargeBinary(), nullable=False),
    Column("purpose", String(16), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("created_by", Uuid(), nullable=True),
)

recovery_codes = Table(
    "recovery_codes",
    metadata,
    Column("user_id", Uuid(), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("code_hash", LargeBinary(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("used_at", UTCDateTime(), nullable=True),
    PrimaryKeyConstraint("user_id", "code_hash"),
)

devices = Table(
    "devices",
    metadata,
    Column("id", Uuid(), primary_key=True),
    Column("user_id", Uuid(), ForeignKey("users.id"), nullable=False, index=True),
    Column("name", String(100), nullable=False),
    Column("public_key", LargeBinary(), nullable=False, unique=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("last_seen_at", UTCDateTime(), nullable=True),
    Column("revoked_at", UTCDateTime(), nullable=True),
    Column("revoked_by", Uuid(), nullable=True),
    Column("token_epoch", Integer(), nullable=False, server_default="0"),
)

auth_sessions = Table(
    "auth_sessions",
    metadata,
    Column("id", Uuid(), primary_key=True),
    Column("user_id", Uuid(), ForeignKey("users.id"), nullable=False, index=True),
    Column("device_id", Uuid(), ForeignKey("devices.id"), nullable=False, index=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("last_refreshed_at", UTCDateTime(), nullable=False),
    Column("revoked_at", UTCDateTime(), nullable=True),
    Column("revoke_reason", String(32), nullable=True),
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("token_hash", LargeBinary(), primary_key=True),
    Column(
        "session_id", Uuid(), ForeignKey("auth_sessions.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    Column("generation", Integer(), nullable=False),
    Column("issued_at", UTCDateTime(), nullable=False),
    Column("used_at", UTCDateTime(), nullable=True),
)

auth_throttle = Table(
    "auth_throttle",
    metadata,
    Column("scope", String(16), nullable=False),
    # SHA-256 of the normalised username or the client address: a password typed into the
    # username field must not sit here in clear.
    Column("key_hash", String(64), nullable=False),
    Column("failures", Integer(), nullable=False),
    Column("hour_started_at", UTCDateTime(), nullable=False),
    Column("hour_failures", Integer(), nullable=False),
    Column("next_attempt_at", UTCDateTime(), nullable=True),
    Column("locked_until", UTCDateTime(), nullable=True),
    Column("updated_at", UTCDateTime(), nullable=False, index=True),
    PrimaryKeyConstraint("scope", "key_hash"),
)

used_nonces = Table(
    "used_nonces",
    metadata,
    Column("jti", String(64), primary_key=True),
    Column("expires_at", UTCDateTime(), nullable=False, index=True),
)

security_events = Table(
    "security_events",
    metadata,
    Column("id", EventId, primary_key=True, autoincrement=True),
    Column("event_id", Uuid(), nullable=False, unique=True),
    Column("occurred_at", UTCDateTime(), nullable=False, index=True),
    Column("kind", String(40), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("reason", String(40), nullable=True),
    Column("user_id", Uuid(), nullable=True, index=True),
    Column("device_id", Uuid(), nullable=True),
    Column("session_id", Uuid(), nullable=True),
    Column("actor_id", Uuid(), nullable=True),
    Column("source", String(8), nullable=False),
    Column("client_address", String(64), nullable=True),
    # SHA-256 of the username a failed sign-in named, to correlate attempts without storing it.
    Column("subject_hash", String(64), nullable=True),
)
