"""Server storage: SQLAlchemy 2 (async) on SQLite or PostgreSQL, migrated by Alembic."""
