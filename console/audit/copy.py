"""The auditor's copy of the audit log: its tables in the vault (console/audit/schema.py),
read and written in whole transactions.

Every method blocks (SQLCipher): call it on a worker thread.  Transactions and their errors
are the sync store's (:class:`console.sync.store.LocalStore`), so a busy or closed vault
reads the same everywhere."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final

from sqlalchemy import text
from sqlalchemy.engine import Connection

from console.errors import ConsoleError
from console.sync.store import LocalStore
from shared.audit.bundle import DeviceKey
from shared.audit.codec import b64url_encode
from shared.audit.verify import Report
from shared.merkle import HASH_SIZE

ENTRY_COLUMNS: Final = (
    "occurred_at",
    "signer",
    "actor",
    "device",
    "role",
    "action",
    "object_type",
    "object_id",
    "purpose",
    "outcome",
    "reason",
)
FILTER_COLUMNS: Final = ("actor", "device", "action", "object_type", "object_id", "purpose", "outcome")
VERIFY_CHUNK: Final = 20_000


class CopyChanged(ConsoleError):
    def __init__(self) -> None:
        super().__init__("The copy was updated while it was being verified; verify it again.")


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds")


def _time(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value is not None else None


def split_hashes(data: bytes | None) -> tuple[bytes, ...]:
    data = bytes(data or b"")
    return tuple(data[n : n + HASH_SIZE] for n in range(0, len(data), HASH_SIZE))


@dataclass(frozen=True)
class CopyState:
    origin: str | None
    log_key: str | None
    checkpoint: bytes | None
    size: int
    min_index: int
    prefix: tuple[bytes, ...]
    server_keys: dict[str, bytes]
    downloaded_at: dt.datetime | None
    trusted_checkpoint: bytes | None
    trusted_size: int | None
    consistency_proof: tuple[bytes, ...] | None
    verified_at: dt.datetime | None
    verified_size: int | None
    verified_ok: bool | None
    verified_summary: str | None

    @property
    def empty(self) -> bool:
        return self.checkpoint is None

    @property
    def held(self) -> int:
        """Entries the copy holds: ``[min_index, size)``."""
        return self.size - self.min_index

    @property
    def verified_current(self) -> bool:
        """The last verification covered the copy as it is now."""
        return self.verified_size is not None and self.verified_size == self.size


@dataclass(frozen=True)
class EntryFilter:
    """What the auditor narrows the copy down to; every field left None matches anything."""

    since: dt.datetime | None = None
    until: dt.datetime | None = None
    actor: str | None = None
    device: str | None = None
    action: str | None = None
    object_type: str | None = None
    object_id: str | None = None
    purpose: str | None = None
    outcome: str | None = None

    @property
    def is_empty(self) -> bool:
        return self == EntryFilter()

    def where(self) -> tuple[str, dict[str, Any]]:
        clauses: list[str] = []
        params: dict[str, Any] = {}
        for name in FILTER_COLUMNS:
            value = getattr(self, name)
            if value is not None:
                clauses.append(f"{name} = :{name}")
                params[name] = value
        if self.since is not None:
            clauses.append("occurred_at >= :since")
            params["since"] = _iso(self.since)
        if self.until is not None:
            clauses.append("occurred_at < :until")
            params["until"] = _iso(self.until)
        return " AND ".join(clauses) or "1 = 1", params


@dataclass(frozen=True)
class EntryRow:
    """One entry as the list shows it."""

    index: int
    received_at: dt.datetime
    occurred_at: dt.datetime | None
    actor: str | None
    role: str | None
    action: str | None
    object_type: str | None
    object_id: str | None
    purpose: str | None
    outcome: str | None
    erased: str | None
    problems: int


@dataclass(frozen=True)
class EntryDetail:
    index: int
    received_at: dt.datetime
    entry: bytes
    leaf_hash: bytes
    event: dict[str, Any] | None
    salt: bytes | None
    signature: bytes | None
    erased: str | None
    findings: tuple[tuple[str, str], ...] = field(default=())


@dataclass(frozen=True)
class StoredFinding:
    index: int | None
    code: str
    message: str


@dataclass(frozen=True)
class Download:
    """A complete download, committed in one transaction: the copy then holds every entry up
    to the checkpoint's size."""

    origin: str
    log_key: str
    checkpoint: bytes
    size: int
    min_index: int
    prefix: tuple[bytes, ...]
    server_keys: Mapping[str, bytes]
    devices: Sequence[DeviceKey]
    consistency_proof: tuple[bytes, ...] | None
    at: dt.datetime


def _event_columns(event: Mapping[str, Any] | None) -> dict[str, Any]:
    return {name: (event or {}).get(name) for name in ENTRY_COLUMNS}


class AuditCopy:
    def __init__(self, store: LocalStore, *, connection: Connection | None = None) -> None:
        self._store = store
        self._connection = connection

    @contextmanager
    def snapshot(self) -> Iterator[AuditCopy]:
        """The copy as one read transaction sees it: everything read through the answer
        comes from the same moment, whatever downloads commit meanwhile."""
        with self._store.reading() as connection:
            yield AuditCopy(self._store, connection=connection)

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        if self._connection is not None:
            yield self._connection
        else:
            with self._store.reading() as connection:
                yield connection

    # --- state --------------------------------------------------------------------------

    @staticmethod
    def _state(connection: Connection) -> CopyState:
        row = connection.execute(text("SELECT * FROM audit_copy_state")).mappings().one()
        proof = row["consistency_proof"]
        return CopyState(
            origin=row["origin"],
            log_key=row["log_key"],
            checkpoint=bytes(row["checkpoint"]) if row["checkpoint"] is not None else None,
            size=row["size"],
            min_index=row["min_index"],
            prefix=split_hashes(row["prefix"]),
            server_keys={kid: bytes.fromhex(key) for kid, key in json.loads(row["server_keys"]).items()},
            downloaded_at=_time(row["downloaded_at"]),
            trusted_checkpoint=bytes(row["trusted_checkpoint"])
            if row["trusted_checkpoint"] is not None
            else None,
            trusted_size=row["trusted_size"],
            consistency_proof=split_hashes(proof) if proof is not None else None,
            verified_at=_time(row["verified_at"]),
            verified_size=row["verified_size"],
            verified_ok=bool(row["verified_ok"]) if row["verified_ok"] is not None else None,
            verified_summary=row["verified_summary"],
        )

    def state(self) -> CopyState:
        with self._reading() as connection:
            return self._state(connection)

    def resume_from(self, min_index: int) -> int:
        """Where a download continues: after the entries already stored past the copy's
        checkpoint by a download that was interrupted, or at the log's minimum index."""
        with self._reading() as connection:
            state = self._state(connection)
            last = connection.execute(
                text("SELECT MAX(idx) FROM audit_copy_entries WHERE idx >= :size"), {"size": state.size}
            ).scalar()
        start = state.size if last is None else int(last) + 1
        return max(start, min_index)

    # --- downloading --------------------------------------------------------------------

    def store_entries(self, entries: Sequence[Mapping[str, Any]]) -> None:
        """Entries as the server's ``GET /entries`` lists them, with their leaf hashes
        (``leaf_hash``, bytes) computed on arrival."""
        if not entries:
            return
        rows = [
            {
                "idx": entry["index"],
                "entry": entry["entry_bytes"],
                "leaf_hash": entry["leaf_hash"],
                "received_at": _iso(entry["received_at"]),
                "event": json.dumps(entry["event"], sort_keys=True) if entry["event"] is not None else None,
                "salt": entry["salt_bytes"],
                "signature": entry["signature_bytes"],
                "erased": entry["erased"],
                **_event_columns(entry["event"]),
            }
            for entry in entries
        ]
        columns = ", ".join(rows[0])
        values = ", ".join(f":{name}" for name in rows[0])
        with self._store.writing() as connection:
            connection.execute(
                text(f"INSERT OR REPLACE INTO audit_copy_entries ({columns}) VALUES ({values})"),  # noqa: S608 - fixed fragments, values bound
                rows,
            )

    def apply_erasures(self, erased: Sequence[tuple[int, str]]) -> int:
        """Erase the bodies of entries the server erased; returns how many changed here."""
        if not erased:
            return 0
        nulls = ", ".join(f"{name} = NULL" for name in ("event", "salt", "signature", *ENTRY_COLUMNS))
        with self._store.writing() as connection:
            result = connection.execute(
                text(
                    f"UPDATE audit_copy_entries SET {nulls}, erased = :reason "  # noqa: S608 - fixed fragments, values bound
                    "WHERE idx = :idx AND (erased IS NULL OR event IS NOT NULL)"
                ),
                [{"idx": index, "reason": reason} for index, reason in erased],
            )
            return int(result.rowcount or 0)

    def commit_download(self, download: Download) -> None:
        with self._store.writing() as connection:
            connection.execute(
                text(
                    """
                    UPDATE audit_copy_state SET origin = :origin, log_key = :log_key,
                        checkpoint = :checkpoint, size = :size, min_index = :min_index,
                        prefix = :prefix, server_keys = :server_keys, downloaded_at = :at,
                        consistency_proof = :proof
                    """
                ),
                {
                    "origin": download.origin,
                    "log_key": download.log_key,
                    "checkpoint": download.checkpoint,
                    "size": download.size,
                    "min_index": download.min_index,
                    "prefix": b"".join(download.prefix),
                    "server_keys": json.dumps({kid: key.hex() for kid, key in download.server_keys.items()}),
                    "at": _iso(download.at),
                    "proof": b"".join(download.consistency_proof)
                    if download.consistency_proof is not None
                    else None,
                },
            )
            # Pruned past retention on the server: the copy keeps no more than the log does.
            connection.execute(
                text("DELETE FROM audit_copy_entries WHERE idx < :min OR idx >= :size"),
                {"min": download.min_index, "size": download.size},
            )
            connection.execute(text("DELETE FROM audit_copy_devices"))
            if download.devices:
                connection.execute(
                    text(
                        "INSERT INTO audit_copy_devices (device_id, user_id, public_key, enrolled_at, "
                        "revoked_at) VALUES (:device_id, :user_id, :public_key, :enrolled_at, :revoked_at)"
                    ),
                    [
                        {
                            "device_id": str(key.device_id),
                            "user_id": str(key.user_id),
                            "public_key": key.public_key,
                            "enrolled_at": _iso(key.enrolled_at),
                            "revoked_at": _iso(key.revoked_at) if key.revoked_at is not None else None,
                        }
                        for key in download.devices
                    ],
                )

    def forget(self) -> None:
        """Drop the copy and what this console trusted: the next download starts afresh."""
        with self._store.writing() as connection:
            for table in ("audit_copy_entries", "audit_copy_devices", "audit_copy_findings"):
                connection.execute(text(f"DELETE FROM {table}"))  # noqa: S608 - fixed fragments, values bound
            connection.execute(text("DELETE FROM audit_copy_state"))
            connection.execute(text("INSERT INTO audit_copy_state (singleton) VALUES (1)"))

    # --- reading for verification and export --------------------------------------------

    def device_keys(self) -> dict[uuid.UUID, DeviceKey]:
        with self._reading() as connection:
            rows = connection.execute(text("SELECT * FROM audit_copy_devices")).mappings()
            keys = [
                DeviceKey(
                    device_id=uuid.UUID(row["device_id"]),
                    user_id=uuid.UUID(row["user_id"]),
                    public_key=bytes(row["public_key"]),
                    enrolled_at=dt.datetime.fromisoformat(row["enrolled_at"]),
                    revoked_at=_time(row["revoked_at"]),
                )
                for row in rows
            ]
        return {key.device_id: key for key in keys}

    def bundle_entries(
        self,
        start: int,
        end: int,
        *,
        where: EntryFilter | None = None,
        chunk: int = VERIFY_CHUNK,
    ) -> Iterator[list[dict[str, Any]]]:
        """The entries in ``[start, end)`` (matching ``where``) in index order, in chunks,
        as evidence bundles hold them, all read in one snapshot."""
        clause, params = (where or EntryFilter()).where()
        with self._reading() as connection:
            after = start - 1
            while True:
                rows = connection.execute(
                    text(
                        "SELECT idx, entry, leaf_hash, event, salt, signature, erased "  # noqa: S608 - fixed fragments, values bound
                        f"FROM audit_copy_entries WHERE idx > :after AND idx < :end AND {clause} "
                        "ORDER BY idx LIMIT :limit"
                    ),
                    {**params, "after": after, "end": end, "limit": chunk},
                ).all()
                if not rows:
                    return
                yield [
                    {
                        "index": row.idx,
                        "entry": b64url_encode(bytes(row.entry)),
                        "leaf_hash": b64url_encode(bytes(row.leaf_hash)),
                        "event": json.loads(row.event) if row.event is not None else None,
                        "salt": b64url_encode(bytes(row.salt)) if row.salt is not None else None,
                        "signature": b64url_encode(bytes(row.signature))
                        if row.signature is not None
                        else None,
                        "erased": row.erased,
                        "inclusion": None,
                    }
                    for row in rows
                ]
                after = rows[-1].idx

    def leaf_hashes(self) -> list[bytes]:
        """The leaf hashes of every entry held, ``[min_index, size)`` in order."""
        with self._reading() as connection:
            state = self._state(connection)
            rows = connection.execute(
                text(
                    "SELECT leaf_hash FROM audit_copy_entries WHERE idx >= :min AND idx < :size ORDER BY idx"
                ),
                {"min": state.min_index, "size": state.size},
            )
            return [bytes(row[0]) for row in rows]

    def record_verification(self, report: Report, state: CopyState, at: dt.datetime) -> None:
        """Keep what a verification of ``state`` found.  A clean one makes the copy's
        checkpoint the one this console trusts: every later checkpoint must extend it.
        Raises :class:`CopyChanged` (recording nothing) if a download moved the copy on."""
        summary = (
            f"{report.entries:,} entries, {report.signatures_checked:,} signatures checked, "
            f"{len(report.erased):,} erased"
            if report.ok
            else f"{len(report.findings):,} problem" + ("s" if len(report.findings) != 1 else "")
        )
        with self._store.writing() as connection:
            connection.execute(text("DELETE FROM audit_copy_findings"))
            if report.findings:
                connection.execute(
                    text(
                        "INSERT INTO audit_copy_findings (position, idx, code, message) "
                        "VALUES (:position, :idx, :code, :message)"
                    ),
                    [
                        {"position": n, "idx": f.index, "code": f.code, "message": f.message}
                        for n, f in enumerate(report.findings)
                    ],
                )
            trusted = (
                ", trusted_checkpoint = :checkpoint, trusted_size = :size, consistency_proof = NULL"
                if report.ok
                else ""
            )
            updated = connection.execute(
                text(
                    "UPDATE audit_copy_state SET verified_at = :at, verified_size = :size, "  # noqa: S608 - fixed fragments, values bound
                    f"verified_ok = :ok, verified_summary = :summary{trusted} "
                    "WHERE size = :size AND checkpoint = :checkpoint"
                ),
                {
                    "at": _iso(at),
                    "size": state.size,
                    "ok": int(report.ok),
                    "summary": summary,
                    "checkpoint": state.checkpoint,
                },
            )
            if updated.rowcount != 1:
                raise CopyChanged()

    # --- browsing -----------------------------------------------------------------------

    def count(self, where: EntryFilter) -> int:
        clause, params = where.where()
        with self._reading() as connection:
            return int(
                connection.execute(
                    text(f"SELECT COUNT(*) FROM audit_copy_entries WHERE {clause}"),  # noqa: S608 - fixed fragments, values bound
                    params,
                ).scalar_one()
            )

    def rows(self, where: EntryFilter, before: int | None, limit: int) -> list[EntryRow]:
        """Newest first: up to ``limit`` entries with an index below ``before``."""
        clause, params = where.where()
        if before is not None:
            clause += " AND idx < :before"
            params["before"] = before
        with self._reading() as connection:
            rows = connection.execute(
                text(
                    "SELECT e.idx, e.received_at, e.occurred_at, e.actor, e.role, e.action, e.object_type, "  # noqa: S608 - fixed fragments, values bound
                    "e.object_id, e.purpose, e.outcome, e.erased, "
                    "(SELECT COUNT(*) FROM audit_copy_findings f WHERE f.idx = e.idx) AS problems "
                    f"FROM audit_copy_entries e WHERE {clause} ORDER BY e.idx DESC LIMIT :limit"
                ),
                {**params, "limit": limit},
            ).all()
        return [
            EntryRow(
                index=row.idx,
                received_at=dt.datetime.fromisoformat(row.received_at),
                occurred_at=_time(row.occurred_at),
                actor=row.actor,
                role=row.role,
                action=row.action,
                object_type=row.object_type,
                object_id=row.object_id,
                purpose=row.purpose,
                outcome=row.outcome,
                erased=row.erased,
                problems=row.problems,
            )
            for row in rows
        ]

    def entry(self, index: int) -> EntryDetail | None:
        with self._reading() as connection:
            row = (
                connection.execute(text("SELECT * FROM audit_copy_entries WHERE idx = :idx"), {"idx": index})
                .mappings()
                .first()
            )
            if row is None:
                return None
            findings = connection.execute(
                text("SELECT code, message FROM audit_copy_findings WHERE idx = :idx ORDER BY position"),
                {"idx": index},
            ).all()
        return EntryDetail(
            index=row["idx"],
            received_at=dt.datetime.fromisoformat(row["received_at"]),
            entry=bytes(row["entry"]),
            leaf_hash=bytes(row["leaf_hash"]),
            event=json.loads(row["event"]) if row["event"] is not None else None,
            salt=bytes(row["salt"]) if row["salt"] is not None else None,
            signature=bytes(row["signature"]) if row["signature"] is not None else None,
            erased=row["erased"],
            findings=tuple((finding.code, finding.message) for finding in findings),
        )

    def findings(self) -> list[StoredFinding]:
        with self._reading() as connection:
            rows = connection.execute(
                text("SELECT idx, code, message FROM audit_copy_findings ORDER BY position")
            ).all()
        return [StoredFinding(row.idx, row.code, row.message) for row in rows]

    def distinct(self, column: str) -> list[str]:
        """The values one filter column takes in the copy, for the filter's choices."""
        if column not in FILTER_COLUMNS:
            raise ValueError(f"not a filter column: {column}")
        with self._reading() as connection:
            rows = connection.execute(
                text(
                    f"SELECT DISTINCT {column} FROM audit_copy_entries "  # noqa: S608 - fixed fragments, values bound
                    f"WHERE {column} IS NOT NULL ORDER BY {column}"
                )
            )
            return [str(row[0]) for row in rows]
