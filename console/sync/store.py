"""The local store: the sync tables in the vault, read and written in whole transactions.

Every method blocks (SQLCipher): call it on a worker thread (``Operations.in_thread``),
never on the GUI thread.  Writes use ``BEGIN IMMEDIATE`` so that a read-then-write never
meets a concurrent writer half way."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import Engine, delete, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError

from console.errors import ConsoleError
from console.sync.derive import Deriver
from console.sync.mutators import MUTATORS, business_day, record_type_of
from console.sync.rebase import effective_reader, rebase
from console.vault.database import IMMEDIATE, UNREADABLE, autocheckpoint_off, fold_wal
from console.vault.records import OutboxEvent, add_audit_event, pending_audit_events
from console.vault.schema import audit_outbox
from shared.audit.event import SignedEvent
from shared.sync.client import ClientState, PullOutcome, PushOutcome, SyncClient, SyncProtocolError
from shared.sync.mutators import Rejection
from shared.sync.protocol import Change, Mutation, MutationResult


class StoreClosed(ConsoleError):
    def __init__(self) -> None:
        super().__init__("The local vault is closed; nothing was read or written.")


class StoreBusy(ConsoleError):
    """SQLite could not get the database in time (a long pull is being applied).  The
    driver's own message quotes the statement and its parameters, so it is never shown."""

    def __init__(self) -> None:
        super().__init__(
            "The local vault is busy applying changes from the server; nothing was changed. "
            "Try again in a moment."
        )


class StoreFailed(ConsoleError):
    def __init__(self) -> None:
        super().__init__("The local vault could not be read or written; nothing was changed.")


def _locked(error: OperationalError) -> bool:
    return "locked" in str(error.orig).lower() or "busy" in str(error.orig).lower()


def _json_text(data: Any) -> str:
    try:
        return orjson.dumps(data).decode()
    except orjson.JSONEncodeError:
        # Only what JSON cannot hold in 64 bits gets here (the data was parsed from JSON).
        raise SyncProtocolError("a record from the server cannot be stored") from None


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class Staging:
    """A pull whose pages are still arriving: the client state after its last staged page,
    whether it started over (reset), and the results it has reported so far."""

    cursor: str
    last_mutation_id: int
    confirmed_mutation_id: int
    results_after: int
    reset: bool
    results: tuple[MutationResult, ...] = ()
    deletes: int = 0

    def to_json(self) -> str:
        return json.dumps(
            {
                "cursor": self.cursor,
                "last_mutation_id": self.last_mutation_id,
                "confirmed_mutation_id": self.confirmed_mutation_id,
                "results_after": self.results_after,
                "reset": self.reset,
                "results": [result.model_dump(mode="json") for result in self.results],
                "deletes": self.deletes,
            }
        )

    @classmethod
    def from_json(cls, value: str) -> Staging:
        data = json.loads(value)
        return cls(
            cursor=data["cursor"],
            last_mutation_id=data["last_mutation_id"],
            confirmed_mutation_id=data["confirmed_mutation_id"],
            results_after=data["results_after"],
            reset=data["reset"],
            results=tuple(MutationResult.model_validate(result) for result in data["results"]),
            deletes=data.get("deletes", 0),
        )


@dataclass(frozen=True)
class Applied:
    """What applying a complete pull changed."""

    changes: int
    reset: bool
    rejected: tuple[MutationResult, ...]
    confirmed: int
    at: dt.datetime


@dataclass(frozen=True)
class Counts:
    mutations: int
    events: int
    attention: int

    @property
    def outbox(self) -> int:
        return self.mutations + self.events


@dataclass(frozen=True)
class AttentionItem:
    kind: str  # "mutation" or "audit_event"
    ref: str
    name: str
    record_type: str | None
    record_id: str | None
    args: dict[str, Any] | None = field(repr=False)
    code: str
    message: str
    occurred_at: dt.datetime
    reported_at: dt.datetime


@dataclass(frozen=True)
class EventResult:
    event_id: uuid.UUID
    accepted: bool
    reason: str | None = None
    message: str | None = None


StagedRow = tuple[str, str, str, int | None, str | None, str, str | None, bytes | None, bytes | None]

DERIVED_COLUMNS = ("sort_key", "branch_id", "id_hash", "phone_hash")

StagedPage = tuple[PullOutcome, Sequence[StagedRow]]
"""One page of a pull: what it did to the protocol state, and its rows for ``sync_staging``."""

BULK_CACHE_KIB = 131072
"""Page cache for staging and applying pulls.  Records arrive in UUID order, so every index
takes them at random places; with SQLite's 2 MiB default most of those pages are read and
decrypted again and again (applying 100,000 customers took twice as long)."""


@contextmanager
def bulk_cache(connection: Connection) -> Iterator[None]:
    """A large page cache on this connection for one transaction, given back afterwards."""
    before = connection.exec_driver_sql("PRAGMA cache_size").scalar_one()
    connection.exec_driver_sql(f"PRAGMA cache_size = -{BULK_CACHE_KIB}")
    try:
        yield
    finally:
        connection.exec_driver_sql(f"PRAGMA cache_size = {int(before)}")


class LocalStore:
    def __init__(
        self,
        engine: Engine,
        *,
        is_closed: Callable[[], bool] = lambda: False,
        clock: Callable[[], dt.datetime] = utc_now,
    ) -> None:
        self._engine = engine
        self._is_closed = is_closed
        self._clock = clock
        self._deriver: Deriver | None = None

    # --- transactions ------------------------------------------------------------------

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """One consistent snapshot (a deferred transaction)."""
        if self._is_closed():
            raise StoreClosed()
        try:
            with self._engine.connect() as connection, connection.begin():
                yield connection
        except OperationalError as error:
            raise StoreBusy() if _locked(error) else StoreFailed() from None

    @contextmanager
    def writing(self, *, defer_checkpoint: bool = False) -> Iterator[Connection]:
        """A write transaction.  With ``defer_checkpoint`` its commit leaves the pages it
        wrote in the write-ahead log for :meth:`fold_log` to copy into the file later."""
        if self._is_closed():
            raise StoreClosed()
        try:
            with self._engine.connect() as connection:
                connection.execution_options(**{IMMEDIATE: True})
                deferred = autocheckpoint_off(connection) if defer_checkpoint else nullcontext()
                with deferred, connection.begin():
                    yield connection
        except OperationalError as error:
            raise StoreBusy() if _locked(error) else StoreFailed() from None

    def fold_log(self) -> tuple[int, int]:
        """Copy the write-ahead log into the database file, waiting for nobody (readers and
        writers carry on); (frames in the log, frames copied).  Housekeeping for idle time
        after a pull: a pull's commit leaves its pages in the log so that the user sees the
        changes without also waiting for them to be copied."""
        if self._is_closed():
            raise StoreClosed()
        try:
            return fold_wal(self._engine)
        except UNREADABLE:
            raise StoreFailed() from None

    @property
    def deriver(self) -> Deriver:
        if self._deriver is None:
            with self.reading() as connection:
                key = connection.execute(text("SELECT search_key FROM sync_state")).scalar_one()
            self._deriver = Deriver(bytes(key))
        return self._deriver

    # --- protocol state ----------------------------------------------------------------

    def _state_row(self, connection: Connection) -> Any:
        return connection.execute(
            text(
                "SELECT client_id, cursor, last_mutation_id, confirmed_mutation_id, results_after, "
                "next_mutation_id, last_synced_at, staging FROM sync_state"
            )
        ).one()

    def _pending(self, connection: Connection, client_id: uuid.UUID) -> tuple[Mutation, ...]:
        rows = connection.execute(
            text("SELECT mutation_id, name, args, schema_version, client_time FROM sync_outbox ORDER BY 1")
        ).all()
        return tuple(
            Mutation(
                client_id=client_id,
                mutation_id=row[0],
                name=row[1],
                args=json.loads(row[2]),
                schema_version=row[3],
                client_time=dt.datetime.fromisoformat(row[4]),
            )
            for row in rows
        )

    def sync_client(self) -> tuple[SyncClient, Staging | None]:
        """The protocol state machine as stored, continuing a staged pull if there is one."""
        with self.reading() as connection:
            row = self._state_row(connection)
            client_id = uuid.UUID(row.client_id)
            pending = self._pending(connection, client_id)
        staging = Staging.from_json(row.staging) if row.staging else None
        state = ClientState(
            client_id=client_id,
            cursor=staging.cursor if staging else row.cursor,
            last_mutation_id=max(row.last_mutation_id, staging.last_mutation_id if staging else 0),
            confirmed_mutation_id=max(
                row.confirmed_mutation_id, staging.confirmed_mutation_id if staging else 0
            ),
            results_after=max(row.results_after, staging.results_after if staging else 0),
            next_mutation_id=row.next_mutation_id,
            pending=pending,
        )
        return SyncClient(state), staging

    def client_id(self) -> uuid.UUID:
        with self.reading() as connection:
            return uuid.UUID(connection.execute(text("SELECT client_id FROM sync_state")).scalar_one())

    def committed_cursor(self) -> str | None:
        """The cursor of the last complete pull (what the screens show)."""
        with self.reading() as connection:
            value = connection.execute(text("SELECT cursor FROM sync_state")).scalar_one()
            return None if value is None else str(value)

    def last_synced_at(self) -> dt.datetime | None:
        with self.reading() as connection:
            value = connection.execute(text("SELECT last_synced_at FROM sync_state")).scalar_one()
        return None if value is None else dt.datetime.fromisoformat(value)

    # --- local edits -------------------------------------------------------------------

    def enqueue(self, name: str, args: dict[str, Any], now: dt.datetime | None = None) -> Mutation:
        """Run the mutation against what the screens show (raising :class:`Rejection` if it
        cannot apply), queue it with the next mutation id and rebase, in one transaction."""
        mutator = MUTATORS.get(name)
        if mutator is None:
            raise ValueError(f"no mutator named {name}")
        at = now or self._clock()
        with self.writing() as connection:
            mutator(args, effective_reader(connection), business_day(at), at)
            row = self._state_row(connection)
            client = SyncClient(
                ClientState(client_id=uuid.UUID(row.client_id), next_mutation_id=row.next_mutation_id)
            )
            mutation = client.enqueue(name, args, at)
            connection.execute(
                text(
                    "INSERT INTO sync_outbox (mutation_id, name, args, schema_version, client_time) "
                    "VALUES (:id, :name, :args, :version, :at)"
                ),
                {
                    "id": mutation.mutation_id,
                    "name": mutation.name,
                    "args": json.dumps(mutation.args, separators=(",", ":")),
                    "version": mutation.schema_version,
                    "at": _iso(mutation.client_time),
                },
            )
            connection.execute(
                text("UPDATE sync_state SET next_mutation_id = :next"),
                {"next": client.state.next_mutation_id},
            )
            rebase(connection, self.deriver)
        return mutation

    # --- push --------------------------------------------------------------------------

    def record_push(self, outcome: PushOutcome) -> None:
        """Keep what a push answered: how far the server got, and what it refused."""
        with self.writing() as connection:
            connection.execute(
                text("UPDATE sync_state SET last_mutation_id = max(last_mutation_id, :last)"),
                {"last": outcome.state.last_mutation_id},
            )
            self._attention_for_results(connection, outcome.results)

    def _attention_for_results(self, connection: Connection, results: Sequence[MutationResult]) -> None:
        now = _iso(self._clock())
        for result in results:
            if result.outcome != "rejected":
                continue
            row = connection.execute(
                text("SELECT name, args, client_time FROM sync_outbox WHERE mutation_id = :id"),
                {"id": result.mutation_id},
            ).first()
            args = json.loads(row.args) if row is not None else None
            record_id = args.get("id") if isinstance(args, dict) else None
            connection.execute(
                text(
                    """
                    INSERT INTO sync_attention (kind, ref, name, record_type, record_id, args, code,
                        message, occurred_at, reported_at)
                    VALUES ('mutation', :ref, :name, :type, :record, :args, :code, :message, :at, :now)
                    ON CONFLICT (kind, ref) DO NOTHING
                    """
                ),
                {
                    "ref": str(result.mutation_id),
                    "name": row.name if row is not None else "unknown",
                    "type": record_type_of(row.name) if row is not None else None,
                    "record": str(record_id) if record_id is not None else None,
                    "args": row.args if row is not None else None,
                    "code": result.code or "rejected",
                    "message": result.message or "The server refused this change.",
                    "at": row.client_time if row is not None else now,
                    "now": now,
                },
            )

    def rebind(self) -> int:
        """The server says this sync client belongs to another device: this vault was kept
        when its user enrolled the computer again.  Start a new client: the changes the old
        one never had processed are renumbered from 1 and sent again; the ones it had
        processed (their effect comes with the next pull) whose result is unknown go to
        needs attention rather than vanish.  Returns how many changes will be sent again."""
        now = _iso(self._clock())
        with self.writing() as connection:
            row = self._state_row(connection)
            last = {"last": row.last_mutation_id}
            processed = connection.execute(
                text(
                    "SELECT mutation_id, name, args, client_time FROM sync_outbox WHERE mutation_id <= :last"
                ),
                last,
            ).all()
            for mutation_id, name, args, client_time in processed:
                record_id = json.loads(args).get("id")
                connection.execute(
                    text(
                        """
                        INSERT INTO sync_attention (kind, ref, name, record_type, record_id, args, code,
                            message, occurred_at, reported_at)
                        VALUES ('mutation', :ref, :name, :type, :record, :args, 'result_unknown', :message,
                            :at, :now)
                        ON CONFLICT (kind, ref) DO NOTHING
                        """
                    ),
                    {
                        "ref": f"{row.client_id}:{mutation_id}",
                        "name": name,
                        "type": record_type_of(name),
                        "record": str(record_id) if record_id is not None else None,
                        "args": args,
                        "message": "This change reached the server before this computer was enrolled again; "
                        "its outcome was not reported. Check that the record shows it.",
                        "at": client_time,
                        "now": now,
                    },
                )
            connection.execute(text("DELETE FROM sync_outbox WHERE mutation_id <= :last"), last)
            unsent = connection.execute(text("SELECT mutation_id FROM sync_outbox ORDER BY 1")).all()
            # In ascending order the k-th id becomes k, never more than it was and never one
            # still held by a row not yet renumbered.
            for new_id, (old_id,) in enumerate(unsent, start=1):
                connection.execute(
                    text("UPDATE sync_outbox SET mutation_id = :new WHERE mutation_id = :old"),
                    {"new": new_id, "old": old_id},
                )
            connection.execute(text("DELETE FROM sync_staging"))
            connection.execute(
                text(
                    "UPDATE sync_state SET client_id = :client, last_mutation_id = 0, "
                    "confirmed_mutation_id = 0, results_after = 0, next_mutation_id = :next, staging = NULL"
                ),
                {"client": str(uuid.uuid4()), "next": len(unsent) + 1},
            )
            rebase(connection, self.deriver)
        return len(unsent)

    # --- pull --------------------------------------------------------------------------

    def staged_rows(self, changes: Sequence[Change]) -> list[StagedRow]:
        """Rows for ``sync_staging``, with their derived columns (pure computation)."""
        deriver = self.deriver
        rows: list[StagedRow] = []
        for change in changes:
            if change.op == "delete":
                rows.append((change.type, str(change.id), "delete", None, None, "", None, None, None))
                continue
            derived = deriver.derive(change.type, change.data)
            rows.append(
                (
                    change.type,
                    str(change.id),
                    "put",
                    change.version,
                    _json_text(change.data),
                    derived.sort_key,
                    derived.branch_id,
                    derived.id_hash,
                    derived.phone_hash,
                )
            )
        return rows

    def stage(self, pages: Sequence[StagedPage]) -> None:
        """Keep pages of a pull, and where the pull has got to, in one transaction."""
        with self.writing() as connection, bulk_cache(connection):
            self._stage(connection, pages)

    def _stage(self, connection: Connection, pages: Sequence[StagedPage]) -> None:
        current = connection.execute(text("SELECT staging FROM sync_state")).scalar_one()
        staging = Staging.from_json(current) if current else None
        for outcome, rows in pages:
            if outcome.reset:
                connection.execute(text("DELETE FROM sync_staging"))
            state = outcome.state
            staging = Staging(
                cursor=state.cursor or "",
                last_mutation_id=state.last_mutation_id,
                confirmed_mutation_id=state.confirmed_mutation_id,
                results_after=state.results_after,
                reset=outcome.reset or (staging.reset if staging else False),
                results=(*(staging.results if staging else ()), *outcome.results),
                # Counted over-generously (a put may later replace a staged delete): it only
                # says whether applying must look for deletions at all.
                deletes=(0 if outcome.reset or staging is None else staging.deletes)
                + sum(1 for row in rows if row[2] == "delete"),
            )
            if rows:
                connection.exec_driver_sql(
                    "INSERT OR REPLACE INTO sync_staging (type, id, op, version, data, sort_key, branch_id, "
                    "id_hash, phone_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    list(rows),
                )
        if staging is not None:
            connection.execute(text("UPDATE sync_state SET staging = :s"), {"s": staging.to_json()})

    @staticmethod
    def _update_derived(connection: Connection) -> None:
        """Bring the derived columns of records already held (and not edited here, where
        rebasing keeps them) up to date, each only where it changed: every derived column is
        indexed, and rewriting an unchanged index entry costs a page written at commit."""
        for column in DERIVED_COLUMNS:
            connection.execute(
                text(
                    f"""
                    UPDATE sync_records SET {column} = s.{column} FROM sync_staging AS s
                    WHERE s.op = 'put' AND s.type = sync_records.type AND s.id = sync_records.id
                        AND sync_records.local_data IS NULL AND sync_records.{column} IS NOT s.{column}
                    """  # noqa: S608 - column names from DERIVED_COLUMNS, not input
                )
            )

    def apply_staged(self, last_pages: Sequence[StagedPage] = ()) -> Applied:
        """Stage ``last_pages``, then apply the whole staged pull with its cursor, results and
        confirmations, and rebase, in one transaction: the screens see the state before it
        or after it, nothing between."""
        now = self._clock()
        with self.writing(defer_checkpoint=True) as connection, bulk_cache(connection):
            if last_pages:
                self._stage(connection, last_pages)
            current = connection.execute(text("SELECT staging FROM sync_state")).scalar_one()
            if current is None:
                raise RuntimeError("no pull is staged")
            staging = Staging.from_json(current)
            if staging.reset:
                connection.execute(text("DELETE FROM sync_records WHERE local_data IS NULL"))
                connection.execute(text("UPDATE sync_records SET server_data = NULL, version = NULL"))
            changes = connection.execute(text("SELECT count(*) FROM sync_staging")).scalar_one()
            # Only records held from the server before this pull can have stale derived
            # columns; an initial sync (or a reset) skips the per-column pass entirely.
            held = connection.execute(
                text("SELECT EXISTS (SELECT 1 FROM sync_records WHERE local_data IS NULL)")
            ).scalar_one()
            connection.execute(
                text(
                    """
                    INSERT INTO sync_records (type, id, version, server_data, sort_key, branch_id,
                        id_hash, phone_hash)
                    SELECT type, id, version, data, sort_key, branch_id, id_hash, phone_hash
                    FROM sync_staging WHERE op = 'put' ORDER BY type, id
                    ON CONFLICT (type, id) DO UPDATE SET
                        version = excluded.version, server_data = excluded.server_data
                    """
                )
            )
            if held:
                self._update_derived(connection)
            if staging.deletes:
                connection.execute(
                    text(
                        "DELETE FROM sync_records WHERE local_data IS NULL AND (type, id) IN "
                        "(SELECT type, id FROM sync_staging WHERE op = 'delete')"
                    )
                )
                connection.execute(
                    text(
                        "UPDATE sync_records SET server_data = NULL, version = NULL WHERE (type, id) IN "
                        "(SELECT type, id FROM sync_staging WHERE op = 'delete')"
                    )
                )
            self._attention_for_results(connection, staging.results)
            confirmed = connection.execute(
                text("DELETE FROM sync_outbox WHERE mutation_id <= :id"),
                {"id": staging.confirmed_mutation_id},
            ).rowcount
            connection.execute(
                text(
                    """
                    UPDATE sync_state SET cursor = :cursor,
                        last_mutation_id = max(last_mutation_id, :last),
                        confirmed_mutation_id = max(confirmed_mutation_id, :confirmed),
                        results_after = max(results_after, :results_after),
                        last_synced_at = :now, staging = NULL
                    """
                ),
                {
                    "cursor": staging.cursor,
                    "last": staging.last_mutation_id,
                    "confirmed": staging.confirmed_mutation_id,
                    "results_after": staging.results_after,
                    "now": _iso(now),
                },
            )
            connection.execute(text("DELETE FROM sync_staging"))
            rebase(connection, self.deriver)
        rejected = tuple(result for result in staging.results if result.outcome == "rejected")
        return Applied(int(changes), staging.reset, rejected, int(confirmed or 0), now)

    # --- access records (the vault's audit outbox) -------------------------------------

    def queue_event(self, signed: SignedEvent) -> None:
        with self.writing() as connection:
            add_audit_event(connection, signed)

    def pending_events(self, limit: int) -> list[OutboxEvent]:
        with self.reading() as connection:
            return pending_audit_events(connection, limit)

    def record_event_results(self, sent: Sequence[OutboxEvent], results: Sequence[EventResult]) -> None:
        """Acknowledged events leave the outbox; refused ones stay, marked, and need attention."""
        by_id = {event.event_id: event for event in sent}
        now = self._clock()
        with self.writing() as connection:
            for result in results:
                if result.accepted:
                    connection.execute(delete(audit_outbox).where(audit_outbox.c.event_id == result.event_id))
                    continue
                connection.execute(
                    update(audit_outbox)
                    .where(audit_outbox.c.event_id == result.event_id)
                    .values(state="rejected", reason=result.reason, sent_at=now)
                )
                event = by_id.get(result.event_id)
                parsed = json.loads(event.event) if event is not None else {}
                connection.execute(
                    text(
                        """
                        INSERT INTO sync_attention (kind, ref, name, record_type, record_id, code, message,
                            occurred_at, reported_at)
                        VALUES ('audit_event', :ref, :name, :type, :record, :code, :message, :at, :now)
                        ON CONFLICT (kind, ref) DO NOTHING
                        """
                    ),
                    {
                        "ref": str(result.event_id),
                        "name": event.action if event is not None else "unknown",
                        "type": parsed.get("object_type"),
                        "record": parsed.get("object_id"),
                        "code": result.reason or "rejected",
                        "message": result.message or "The server refused this access record.",
                        "at": _iso(event.occurred_at) if event is not None else _iso(now),
                        "now": _iso(now),
                    },
                )

    # --- what the shell shows ----------------------------------------------------------

    def counts(self) -> Counts:
        with self.reading() as connection:
            mutations = connection.execute(text("SELECT count(*) FROM sync_outbox")).scalar_one()
            events = connection.execute(
                text("SELECT count(*) FROM audit_outbox WHERE state = 'pending'")
            ).scalar_one()
            attention = connection.execute(
                text("SELECT count(*) FROM sync_attention WHERE dismissed_at IS NULL")
            ).scalar_one()
        return Counts(int(mutations), int(events), int(attention))

    def attention(self) -> list[AttentionItem]:
        with self.reading() as connection:
            rows = connection.execute(
                text(
                    "SELECT kind, ref, name, record_type, record_id, args, code, message, occurred_at, "
                    "reported_at FROM sync_attention WHERE dismissed_at IS NULL ORDER BY reported_at, ref"
                )
            ).all()
        return [
            AttentionItem(
                kind=row.kind,
                ref=row.ref,
                name=row.name,
                record_type=row.record_type,
                record_id=row.record_id,
                args=json.loads(row.args) if row.args else None,
                code=row.code,
                message=row.message,
                occurred_at=dt.datetime.fromisoformat(row.occurred_at),
                reported_at=dt.datetime.fromisoformat(row.reported_at),
            )
            for row in rows
        ]

    def dismiss(self, kind: str, ref: str) -> None:
        """The person at the desk has seen it; it is kept, marked, never deleted."""
        with self.writing() as connection:
            connection.execute(
                text("UPDATE sync_attention SET dismissed_at = :now WHERE kind = :kind AND ref = :ref"),
                {"now": _iso(self._clock()), "kind": kind, "ref": ref},
            )

    def record(self, record_type: str, record_id: uuid.UUID) -> dict[str, Any] | None:
        """A record as the screens show it (pending edits included), or None."""
        with self.reading() as connection:
            return effective_reader(connection)(record_type, record_id)

    def is_pending(self, record_type: str, record_id: uuid.UUID) -> bool:
        with self.reading() as connection:
            row = connection.execute(
                text("SELECT local_data IS NOT NULL FROM sync_records WHERE type = :t AND id = :i"),
                {"t": record_type, "i": str(record_id)},
            ).first()
        return bool(row and row[0])


__all__ = [
    "Applied",
    "AttentionItem",
    "Counts",
    "EventResult",
    "LocalStore",
    "Rejection",
    "Staging",
    "StoreBusy",
    "StoreClosed",
    "StoreFailed",
]
