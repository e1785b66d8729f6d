"""Database URLs: what an operator writes, and what each SQLAlchemy engine needs."""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url


class UnsupportedDatabase(ValueError):
    """The URL names a database Kluis does not run on."""


def _normalise(url: str) -> URL:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend not in {"sqlite", "postgresql"}:
        raise UnsupportedDatabase(f"Kluis runs on SQLite or PostgreSQL, not {backend!r}")
    return parsed


def async_database_url(url: str) -> str:
    """The URL with the asyncio driver: aiosqlite for SQLite, psycopg 3 for PostgreSQL."""
    parsed = _normalise(url)
    driver = "aiosqlite" if parsed.get_backend_name() == "sqlite" else "psycopg"
    return parsed.set(drivername=f"{parsed.get_backend_name()}+{driver}").render_as_string(
        hide_password=False
    )


def sync_database_url(url: str) -> str:
    """The URL with the blocking driver, for Alembic and command-line tools."""
    parsed = _normalise(url)
    driver = "pysqlite" if parsed.get_backend_name() == "sqlite" else "psycopg"
    return parsed.set(drivername=f"{parsed.get_backend_name()}+{driver}").render_as_string(
        hide_password=False
    )


def redacted(url: str) -> str:
    """The URL safe to print: the password replaced by ***."""
    return make_url(url).render_as_string(hide_password=True)
