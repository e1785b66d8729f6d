"""The server's tables.  Alembic migrations under ``server/db/migrations`` create them;
a test checks that the migrations and these definitions agree."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, MetaData, String, Table, Text

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

server_meta = Table(
    "server_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
import server.audit.tables  # noqa: E402  (registers the audit log tables on metadata)
import server.auth.tables  # noqa: E402  (registers the identity tables on metadata)
import server.customers.tables  # noqa: E402  (registers the customer tables on metadata)
import server.sync.tables  # noqa: E402, F401  (registers the sync tables on metadata)
