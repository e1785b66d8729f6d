"""The sync engine's tables in the vault (local schema versions 200 to 299; versions 100 and up
belong to modules outside the vault, and this one keeps to its own hundred).

* ``sync_state``: one row, the client's protocol state (client id, cursor, mutation ids),
  the time of the last complete sync, the key of the local search hashes, and the
  bookkeeping of a pull whose pages are still arriving (``staging``, JSON).
* ``sync_records``: every record the device holds, one row each.  ``server_data`` is the
  server's state as last pulled; ``local_data`` is the optimistic state while pending
  mutations touch the record (NULL otherwise).  The derived columns describe whichever of
  the two is in effect (``COALESCE(local_data, server_data)``) and are only what the
  customer list sorts and searches on: a folded name, the branch, and keyed hashes for
  exact ID and phone look-ups (never an ID number or phone number itself).
* ``sync_staging``: the changes of a multi-page pull, one row per record (a later page
  replaces an earlier page's change), applied together when the last page arrives.
* ``sync_outbox``: mutations made here and not yet confirmed by a pull, with their ids.
* ``sync_attention``: what the server refused (mutations and access records), with its
  code and message, until the person at the desk dismisses it."""

from __future__ import annotations

import secrets
import uuid

from sqlalchemy import text
from sqlalchemy.engine import Connection

from console.vault.migrations import Migration

SEARCH_KEY_BYTES = 32


def _state(connection: Connection) -> None:
    connection.execute(
        text(
            """
            CREATE TABLE sync_state (
                singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
                client_id TEXT NOT NULL,
                cursor TEXT,
                last_mutation_id INTEGER NOT NULL DEFAULT 0,
                confirmed_mutation_id INTEGER NOT NULL DEFAULT 0,
                results_after INTEGER NOT NULL DEFAULT 0,
                next_mutation_id INTEGER NOT NULL DEFAULT 1,
                last_synced_at TEXT,
                search_key BLOB NOT NULL CHECK (length(search_key) = 32),
                staging TEXT
            )
            """
        )
    )
    connection.execute(
        text("INSERT INTO sync_state (singleton, client_id, search_key) VALUES (1, :client, :key)"),
        {"client": str(uuid.uuid4()), "key": secrets.token_bytes(SEARCH_KEY_BYTES)},
    )


def _records(connection: Connection) -> None:
    connection.execute(
        text(
            """
            CREATE TABLE sync_records (
                type TEXT NOT NULL,
                id TEXT NOT NULL,
                version INTEGER,
                server_data TEXT,
                local_data TEXT,
                sort_key TEXT NOT NULL DEFAULT '',
                branch_id TEXT,
                id_hash BLOB,
                phone_hash BLOB,
                PRIMARY KEY (type, id),
                CHECK (server_data IS NOT NULL OR local_data IS NOT NULL)
            )
            """
        )
    )
    connection.execute(text("CREATE INDEX sync_records_sorted ON sync_records (type, sort_key, id)"))
    connection.execute(
        text("CREATE INDEX sync_records_id_hash ON sync_records (id_hash) WHERE id_hash IS NOT NULL")
    )
    connection.execute(
        text("CREATE INDEX sync_records_phone_hash ON sync_records (phone_hash) WHERE phone_hash IS NOT NULL")
    )
    connection.execute(
        text("CREATE INDEX sync_records_pending ON sync_records (type, id) WHERE local_data IS NOT NULL")
    )


def _staging(connection: Connection) -> None:
    connection.execute(
        text(
            """
            CREATE TABLE sync_staging (
                type TEXT NOT NULL,
                id TEXT NOT NULL,
                op TEXT NOT NULL CHECK (op IN ('put', 'delete')),
                version INTEGER,
                data TEXT,
                sort_key TEXT NOT NULL DEFAULT '',
                branch_id TEXT,
                id_hash BLOB,
                phone_hash BLOB,
                PRIMARY KEY (type, id)
            )
            """
        )
    )


def _outbox(connection: Connection) -> None:
    connection.execute(
        text(
            """
            CREATE TABLE sync_outbox (
                mutation_id INTEGER PRIMARY KEY CHECK (mutation_id >= 1),
                name TEXT NOT NULL,
                args TEXT NOT NULL,
                schema_version INTEGER NOT NULL,
                client_time TEXT NOT NULL
            )
            """
        )
    )


def _attention(connection: Connection) -> None:
    connection.execute(
        text(
            """
            CREATE TABLE sync_attention (
                kind TEXT NOT NULL CHECK (kind IN ('mutation', 'audit_event')),
                ref TEXT NOT NULL,
                name TEXT NOT NULL,
                record_type TEXT,
                record_id TEXT,
                args TEXT,
                code TEXT NOT NULL,
                message TEXT NOT NULL,
                occurred_at TEXT NOT NULL,
                reported_at TEXT NOT NULL,
                dismissed_at TEXT,
                PRIMARY KEY (kind, ref)
            )
            """
        )
    )


MIGRATIONS = (
    Migration(200, "sync state", _state),
    Migration(201, "synced records", _records),
    Migration(202, "pull staging", _staging),
    Migration(203, "sync outbox", _outbox),
    Migration(204, "needs attention", _attention),
)
