"""The vault's SQLCipher 4 database through SQLAlchemy's ``sqlite+pysqlcipher`` dialect.

The key is a random 256-bit raw key, given as ``x'<64 hex digits>'`` so SQLCipher uses it
as it is instead of deriving one from a passphrase on every open.  The dialect takes the key
from the URL object's password, which SQLAlchemy never renders (``str(url)`` and the engine's
``repr`` leave it out); the URL is never turned into text here.

Each new connection states the SQLCipher 4 settings explicitly before the first page is
read, keeps temporary data in memory (temporary files would not be encrypted), and uses
SQLAlchemy's recipe for real SQLite transactions: the driver's implicit transactions are
off and ``BEGIN`` is emitted when a transaction begins (``BEGIN IMMEDIATE`` with the
``sqlite_immediate`` execution option, for read-then-write transactions).  Do not use the
``AUTOCOMMIT`` isolation level on this engine: resetting it would turn the driver's
implicit transactions back on.  Statements that must run outside a transaction use a raw
connection here."""

from __future__ import annotations

import enum
import functools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlcipher3
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import DatabaseError
from sqlalchemy.pool import QueuePool

from console.vault.errors import VaultCorrupt

DATABASE_FILE = "vault.db"
SIDE_FILES = ("-wal", "-shm", "-journal")
RAW_KEY_SIZE = 32
# Errors raised while a connection is being set up arrive from the driver unwrapped.
UNREADABLE = (DatabaseError, sqlcipher3.DatabaseError)
IMMEDIATE = "sqlite_immediate"


class PageFormat(enum.Enum):
    """How the vault's pages are authenticated, as recorded in its key file.  Every format
    is SQLCipher 4 (AES-256-CBC, 4096-byte pages, a random IV and an HMAC on each page)."""

    # The first vaults: SQLCipher 4's default HMAC.
    HMAC_SHA512 = "sqlcipher4-hmac-sha512"
    # Vaults made since: HMAC-SHA256 is as sound as a page MAC and, on processors with
    # SHA extensions, about twice as fast, which a pull writing thousands of pages feels.
    HMAC_SHA256 = "sqlcipher4-hmac-sha256"


FIRST_VAULT_FORMAT = PageFormat.HMAC_SHA512
NEW_VAULT_FORMAT = PageFormat.HMAC_SHA256

_HMAC_ALGORITHM = {PageFormat.HMAC_SHA512: "HMAC_SHA512", PageFormat.HMAC_SHA256: "HMAC_SHA256"}


def cipher_settings(page_format: PageFormat) -> tuple[str, ...]:
    """SQLCipher 4's settings for ``page_format``, every one stated so that a build with
    other defaults cannot silently write another format.  With a raw key the KDF only
    derives the HMAC key (SQLCipher's two fast iterations), so it stays SQLCipher 4's."""
    return (
        "PRAGMA cipher_compatibility = 4",
        "PRAGMA cipher_page_size = 4096",
        "PRAGMA kdf_iter = 256000",
        f"PRAGMA cipher_hmac_algorithm = {_HMAC_ALGORITHM[page_format]}",
        "PRAGMA cipher_kdf_algorithm = PBKDF2_HMAC_SHA512",
        "PRAGMA cipher_plaintext_header_size = 0",
        "PRAGMA cipher_use_hmac = ON",
    )


CONNECTION_SETTINGS = (
    "PRAGMA temp_store = MEMORY",
    "PRAGMA foreign_keys = ON",
    "PRAGMA busy_timeout = 10000",
    "PRAGMA secure_delete = ON",
    "PRAGMA synchronous = FULL",
)


def _configure(settings: tuple[str, ...], dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        for statement in settings:
            cursor.execute(statement)
        for statement in CONNECTION_SETTINGS:
            cursor.execute(statement)
    finally:
        cursor.close()
    dbapi_connection.isolation_level = None


def _begin(connection: Connection) -> None:
    immediate = connection.get_execution_options().get(IMMEDIATE, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def open_engine(path: Path, key: bytes, page_format: PageFormat) -> Engine:
    """An engine on the database at ``path`` keyed with ``key``, its pages in
    ``page_format``.  Nothing is read yet."""
    if len(key) != RAW_KEY_SIZE:
        raise ValueError("a vault key is 32 bytes")
    url = URL.create("sqlite+pysqlcipher", password=f"x'{key.hex()}'", database=str(path))
    engine = create_engine(
        url,
        poolclass=QueuePool,
        pool_size=4,
        max_overflow=4,
        connect_args={"check_same_thread": False},
    )
    event.listen(engine, "connect", functools.partial(_configure, cipher_settings(page_format)))
    event.listen(engine, "begin", _begin)
    return engine


def _run_outside_transaction(engine: Engine, statements: tuple[str, ...]) -> list[list[tuple[Any, ...]]]:
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        try:
            results = []
            for statement in statements:
                cursor.execute(statement)
                results.append([tuple(row) for row in cursor.fetchall()])
            return results
        finally:
            cursor.close()
    finally:
        connection.close()


def initialise(engine: Engine, path: Path) -> None:
    """A new database: write-ahead logging (kept in the file, so set once)."""
    try:
        _run_outside_transaction(engine, ("PRAGMA journal_mode = WAL",))
    except UNREADABLE:
        raise VaultCorrupt(path) from None


def check_integrity(engine: Engine, path: Path) -> None:
    """Every page must authenticate (SQLCipher's HMAC) and the b-trees must be sound."""
    try:
        failures, structure = _run_outside_transaction(
            engine, ("PRAGMA cipher_integrity_check", "PRAGMA quick_check")
        )
    except UNREADABLE:
        raise VaultCorrupt(path) from None
    if failures or structure != [("ok",)]:
        raise VaultCorrupt(path)


def checkpoint(engine: Engine) -> None:
    """Fold the write-ahead log into the database so that the file is complete at rest."""
    _run_outside_transaction(engine, ("PRAGMA wal_checkpoint(TRUNCATE)",))


def fold_wal(engine: Engine) -> tuple[int, int]:
    """Copy what the write-ahead log holds into the database file without waiting for any
    reader or writer (a passive checkpoint); (frames in the log, frames folded)."""
    [[(_busy, logged, folded)]] = _run_outside_transaction(engine, ("PRAGMA wal_checkpoint(PASSIVE)",))
    return int(logged), int(folded)


def _pragma(connection: Connection, statement: str) -> int:
    cursor = connection.connection.cursor()
    try:
        cursor.execute(statement)
        row = cursor.fetchone()
        return int(row[0]) if row else 0
    finally:
        cursor.close()


@contextmanager
def commit_without_flush(connection: Connection) -> Iterator[None]:
    """Commits on this connection, until the block ends, do not wait for the disk
    (``synchronous = NORMAL``; the write-ahead log is flushed at the next checkpoint or
    by the next commit elsewhere).  Still atomic; only a power cut can undo such a
    commit, never an application crash.  For transactions that can be redone from what
    is durable, such as applying a pull whose cursor commits with it."""
    level = _pragma(connection, "PRAGMA synchronous")
    _pragma(connection, "PRAGMA synchronous = NORMAL")
    try:
        yield
    finally:
        _pragma(connection, f"PRAGMA synchronous = {level}")


@contextmanager
def autocheckpoint_off(connection: Connection) -> Iterator[None]:
    """No automatic checkpoint when this connection commits, until the block ends: a
    large commit then costs only its own pages, and :func:`fold_wal` copies them into the
    file later, off the path the user is waiting on.  The next commit elsewhere still
    checkpoints as usual if nobody has folded the log by then."""
    pages = _pragma(connection, "PRAGMA wal_autocheckpoint")
    _pragma(connection, "PRAGMA wal_autocheckpoint = 0")
    try:
        yield
    finally:
        _pragma(connection, f"PRAGMA wal_autocheckpoint = {pages}")
