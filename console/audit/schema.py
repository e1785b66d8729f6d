"""The auditor's copy of the audit log in the vault (local schema versions 300 to 399).

* ``audit_copy_state``: one row.  The log's origin and note verifier key, pinned at the
  first download; the signed checkpoint the copy is complete up to (``size``), the log's
  minimum index then (entries below it were pruned past retention) and the hashes of the
  subtrees covering ``[0, min_index)``; the keys server events are signed with; and what
  this console last verified: the checkpoint it trusts (kept so that every later one must
  extend it), the consistency proof from it to the copy's checkpoint, and the outcome.
* ``audit_copy_entries``: every entry held, with its event, salt and signature (NULL once
  erased) and the event's fields as columns to filter on.  Events carry no personal
  information; the whole file is encrypted anyway.
* ``audit_copy_devices``: every enrolled device's public key, to check signatures offline.
* ``audit_copy_findings``: what the last verification found, entry by entry."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection

from console.vault.migrations import Migration


def _state(connection: Connection) -> None:
    connection.execute(
        text(
            """
            CREATE TABLE audit_copy_state (
                singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
                origin TEXT,
                log_key TEXT,
                checkpoint BLOB,
                size INTEGER NOT NULL DEFAULT 0,
                min_index INTEGER NOT NULL DEFAULT 0,
                prefix BLOB NOT NULL DEFAULT x'',
                server_keys TEXT NOT NULL DEFAULT '{}',
                downloaded_at TEXT,
                trusted_checkpoint BLOB,
                trusted_size INTEGER,
                consistency_proof BLOB,
                verified_at TEXT,
                verified_size INTEGER,
                verified_ok INTEGER,
                verified_summary TEXT
            )
            """
        )
    )
    connection.execute(text("INSERT INTO audit_copy_state (singleton) VALUES (1)"))


def _entries(connection: Connection) -> None:
    connection.execute(
        text(
            """
            CREATE TABLE audit_copy_entries (
                idx INTEGER PRIMARY KEY,
                entry BLOB NOT NULL,
                leaf_hash BLOB NOT NULL CHECK (length(leaf_hash) = 32),
                received_at TEXT NOT NULL,
                event TEXT,
                salt BLOB,
                signature BLOB,
                erased TEXT CHECK (erased IN ('retention', 'erasure')),
                occurred_at TEXT,
                signer TEXT,
                actor TEXT,
                device TEXT,
                role TEXT,
                action TEXT,
                object_type TEXT,
                object_id TEXT,
                purpose TEXT,
                outcome TEXT,
                reason TEXT
            )
            """
        )
    )
    for name, columns in (
        ("actor", "actor, idx"),
        ("device", "device, idx"),
        ("action", "action, idx"),
        ("object", "object_type, object_id, idx"),
        ("purpose", "purpose, idx"),
        ("occurred", "occurred_at"),
    ):
        connection.execute(text(f"CREATE INDEX audit_copy_entries_{name} ON audit_copy_entries ({columns})"))


def _devices(connection: Connection) -> None:
    connection.execute(
        text(
            """
            CREATE TABLE audit_copy_devices (
                device_id TEXT PRIMARY KEY,
                user_id TEXT NOT NULL,
                public_key BLOB NOT NULL CHECK (length(public_key) = 32),
                enrolled_at TEXT NOT NULL,
                revoked_at TEXT
            )
            """
        )
    )


def _findings(connection: Connection) -> None:
    connection.execute(
        text(
            """
            CREATE TABLE audit_copy_findings (
                position INTEGER PRIMARY KEY,
                idx INTEGER,
                code TEXT NOT NULL,
                message TEXT NOT NULL
            )
            """
        )
    )
    connection.execute(text("CREATE INDEX audit_copy_findings_idx ON audit_copy_findings (idx)"))


MIGRATIONS = (
    Migration(300, "audit log copy state", _state),
    Migration(301, "audit log copy entries", _entries),
    Migration(302, "audit log copy device keys", _devices),
    Migration(303, "audit log copy findings", _findings),
)
