"""The local store: the sync tables in the vault, read and written in whole transactions.

Every method blocks (SQLCipher): call it on a worker thread (``Operations.in_thread``),
never on the GUI thread.  Writes use ``BEGIN IMMEDIATE`` so that a read-then-write never
meets a concurrent writer half way."""

from __future__ import annotations

import datetime as dt
import json
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import Engine, delete, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError

from console.errors import ConsoleError
from console.sync import rebuild
from console.sync.derive import Deriver
from console.sync.mutators import MUTATORS, business_day, record_type_of
from console.sync.rebase import effective_reader, rebase
from console.vault.database import IMMEDIATE, UNREADABLE, autocheckpoint_off, commit_without_flush, fold_wal
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

STAGING_TABLE = "sync_staging"
BATCH_TABLE = "temp.sync_batch"
"""Where a :class:`PullBatch` gathers its pages: a temporary table, which
``temp_store = MEMORY`` keeps off the disk, with ``sync_staging``'s columns."""
STAGED_COLUMNS = "type, id, op, version, data, sort_key, branch_id, id_hash, phone_hash"


BULK_CACHE_KIB = 131072
"""Page cache of a pull's connection (:class:`PullBatch`).  Records arrive in UUID order,
so every index takes them at random places; with SQLite's 2 MiB default most of those
pages are read and decrypted again and again (applying 100,000 customers took twice as
long)."""


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

    @property
    def closed(self) -> bool:
        return self._is_closed()

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
    def writing(self) -> Iterator[Connection]:
        """A write transaction (a pull's are :class:`PullBatch`'s own)."""
        if self._is_closed():
            raise StoreClosed()
        try:
            with self._engine.connect() as connection:
                connection.execution_options(**{IMMEDIATE: True})
                with connection.begin():
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
            rebuild.discard(connection)
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
        with self.open_pull() as batch:
            for page in pages:
                batch.add(page)
            batch.keep()

    def apply_staged(self, last_pages: Sequence[StagedPage] = ()) -> Applied:
        """Stage ``last_pages``, then apply the whole staged pull with its cursor, results and
        confirmations, and rebase, in one transaction: the screens see the state before it
        or after it, nothing between."""
        with self.open_pull() as batch:
            for page in last_pages:
                batch.add(page)
            return batch.apply()

    def open_pull(self) -> PullBatch:
        """A batch of a pull's pages on a vault connection of its own, until it is closed
        (it is a context manager).  Blocks: call it on a worker thread."""
        if self._is_closed():
            raise StoreClosed()
        try:
            return PullBatch(self, self._engine.connect())
        except OperationalError as error:
            raise StoreBusy() if _locked(error) else StoreFailed() from None

    def _fold_staging(
        self, connection: Connection, outcomes: Sequence[tuple[PullOutcome, int]]
    ) -> Staging | None:
        """The pull's bookkeeping after ``outcomes`` (each page's outcome and how many
        deletions it carried), written to ``sync_state``."""
        current = connection.execute(text("SELECT staging FROM sync_state")).scalar_one()
        staging = Staging.from_json(current) if current else None
        for outcome, deletes in outcomes:
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
                deletes=(0 if outcome.reset or staging is None else staging.deletes) + deletes,
            )
        if staging is not None:
            connection.execute(text("UPDATE sync_state SET staging = :s"), {"s": staging.to_json()})
        return staging

    @staticmethod
    def _update_derived(connection: Connection, table: str) -> None:
        """Bring the derived columns of records already held (and not edited here, where
        rebasing keeps them) up to date, each only where it changed: every derived column is
        indexed, and SQLite rewrites an index entry that a statement sets, changed or not,
        which costs a page written at commit.  One join finds what changed; each column is
        then set by rowid on just those records."""
        compared = ", ".join(f"s.{column}, r.{column} IS NOT s.{column}" for column in DERIVED_COLUMNS)
        differs = " OR ".join(f"r.{column} IS NOT s.{column}" for column in DERIVED_COLUMNS)
        changed = connection.execute(
            text(
                f"""
                SELECT r.rowid, {compared}
                FROM {table} AS s CROSS JOIN sync_records AS r ON r.type = s.type AND r.id = s.id
                WHERE s.op = 'put' AND r.local_data IS NULL AND ({differs})
                ORDER BY r.rowid
                """
            )
        ).all()
        for index, column in enumerate(DERIVED_COLUMNS):
            values = [(row[1 + 2 * index], row[0]) for row in changed if row[2 + 2 * index]]
            if values:
                connection.exec_driver_sql(
                    f"UPDATE sync_records SET {column} = ? WHERE rowid = ?",
                    values,
                )

    def _apply(self, connection: Connection, table: str, staging: Staging) -> Applied:
        """Apply the pull staged in ``table`` onto the records held (in the caller's write
        transaction).  A pull that started over goes through :meth:`_apply_rebuilt`."""
        if staging.reset:
            raise RuntimeError("a pull that starts over is applied by swapping in its rebuilt table")
        changes = connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
        # Only records held from the server before this pull can have stale derived
        # columns; with none held, the per-column pass is skipped entirely.
        held = connection.execute(
            text("SELECT EXISTS (SELECT 1 FROM sync_records WHERE local_data IS NULL)")
        ).scalar_one()
        connection.execute(
            text(
                f"""
                INSERT INTO sync_records (type, id, version, server_data, sort_key, branch_id,
                    id_hash, phone_hash)
                SELECT type, id, version, data, sort_key, branch_id, id_hash, phone_hash
                FROM {table} WHERE op = 'put' ORDER BY type, id
                ON CONFLICT (type, id) DO UPDATE SET
                    version = excluded.version, server_data = excluded.server_data
                """
            )
        )
        if held:
            self._update_derived(connection, table)
        if staging.deletes:
            deleted = f"(SELECT type, id FROM {table} WHERE op = 'delete')"
            connection.execute(
                text(f"DELETE FROM sync_records WHERE local_data IS NULL AND (type, id) IN {deleted}")
            )
            connection.execute(
                text(
                    f"UPDATE sync_records SET server_data = NULL, version = NULL "
                    f"WHERE (type, id) IN {deleted}"
                )
            )
        connection.execute(text(f"DELETE FROM {table}"))
        return self._finish_pull(connection, staging, int(changes))

    def _apply_rebuilt(self, connection: Connection, staging: Staging) -> Applied:
        """Apply a pull that started over, gathered in the rebuilt table (in the caller's
        write transaction): it becomes the records table, and rebasing brings back the
        work still pending here."""
        changes = rebuild.swap_in(connection)
        return self._finish_pull(connection, staging, changes)

    def _finish_pull(self, connection: Connection, staging: Staging, changes: int) -> Applied:
        """What every applied pull does after its records: results, confirmations, the
        cursor, and the rebase."""
        now = self._clock()
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
        rebase(connection, self.deriver)
        rejected = tuple(result for result in staging.results if result.outcome == "rejected")
        return Applied(changes, staging.reset, rejected, int(confirmed or 0), now)

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


READ_AHEAD_INDEXES = (
    ("sync_records_sorted", "p.type = r.type AND p.sort_key = {side}.sort_key AND p.id = r.id", "sort_key"),
    ("sync_records_id_hash", "p.id_hash = {side}.id_hash AND p.rowid = r.rowid", "id_hash"),
    ("sync_records_phone_hash", "p.phone_hash = {side}.phone_hash AND p.rowid = r.rowid", "phone_hash"),
)
"""Each index on a derived column, with the search that finds a record's entry in it
(``{side}`` is ``r`` for the entry as it is, ``s`` for where the staged value goes)."""


def _read_ahead(connection: Connection, after: int) -> None:
    """Read the pages that applying the batch's rows staged after rowid ``after`` will
    change: each record held (its table row), and, where a derived column changes, its
    index entry now and the place of the new one.  One pass; the answer is ignored."""
    moved = ", ".join(
        f"sum(CASE WHEN r.local_data IS NULL AND r.{column} IS NOT s.{column} THEN "
        + " + ".join(
            f"EXISTS (SELECT 1 FROM sync_records AS p INDEXED BY {index} WHERE {search.format(side=side)})"
            for side in ("r", "s")
        )
        + " END)"
        for index, search, column in READ_AHEAD_INDEXES
    )
    connection.execute(
        text(
            f"SELECT sum(r.version), {moved} FROM {BATCH_TABLE} AS s CROSS JOIN sync_records AS r "
            "ON r.type = s.type AND r.id = s.id WHERE s.rowid > :after AND s.op = 'put'"
        ),
        {"after": after},
    ).all()


def _staged_reset(connection: Connection) -> bool:
    """Whether the pull kept so far started over."""
    staged = connection.execute(text("SELECT staging FROM sync_state")).scalar_one()
    return staged is not None and Staging.from_json(staged).reset


class PullBatch:
    """The pages of one batch of a pull, gathered on a vault connection held until the
    batch is closed, in a temporary table in memory (``temp_store = MEMORY``: never on
    disk).  Nothing reaches the vault file until :meth:`keep` or :meth:`apply`, each one
    write transaction; adding a page takes no lock on the vault, so the screens and
    their access records carry on meanwhile.

    Each page added is also read ahead (:func:`_read_ahead`) while the engine waits for
    the next one, into this connection's page cache, so that applying finds those pages
    already decrypted and authenticated.  It is only a hint: when another connection
    writes in between, SQLite drops the cache and applying reads what it needs.

    Blocking: call each method on a worker thread, one at a time, except :meth:`close`,
    which any thread may call at any moment (it never waits for a running method; that
    method closes the batch as it finishes)."""

    def __init__(self, store: LocalStore, connection: Connection) -> None:
        self._store = store
        self._connection = connection
        self._outcomes: list[tuple[PullOutcome, int]] = []
        self._reset = False
        self._state = threading.Lock()
        self._busy = False
        self._closing = False
        self._closed = False
        self._cache_pages: int | None = None
        self._rebuilding = False
        try:
            with self._using() as using, using.begin():
                self._rebuilding = _staged_reset(using)
                self._cache_pages = int(using.exec_driver_sql("PRAGMA cache_size").scalar_one())
                using.exec_driver_sql(f"PRAGMA cache_size = -{BULK_CACHE_KIB}")
                using.exec_driver_sql(
                    f"CREATE TABLE IF NOT EXISTS {BATCH_TABLE} ("
                    "type TEXT NOT NULL, id TEXT NOT NULL, op TEXT NOT NULL CHECK (op IN ('put', 'delete')), "
                    "version INTEGER, data TEXT, sort_key TEXT NOT NULL DEFAULT '', branch_id TEXT, "
                    "id_hash BLOB, phone_hash BLOB, PRIMARY KEY (type, id))"
                )
                using.exec_driver_sql(f"DELETE FROM {BATCH_TABLE}")
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> PullBatch:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @contextmanager
    def _using(self) -> Iterator[Connection]:
        with self._state:
            if self._closed or self._closing or self._store.closed:
                raise StoreClosed()
            self._busy = True
        try:
            yield self._connection
        except OperationalError as error:
            raise StoreBusy() if _locked(error) else StoreFailed() from None
        finally:
            with self._state:
                self._busy = False
                finish = self._closing
            if finish:
                self._close_connection()

    @contextmanager
    def _writing(self, *, applying: bool = False) -> Iterator[Connection]:
        """A write transaction on the batch's connection.  ``applying``: its commit leaves
        its pages in the write-ahead log for :meth:`LocalStore.fold_log`, and does not
        wait for the disk.  A power cut may then undo the whole applied pull, cursor and
        confirmations with it; the next pull fetches it again and resent mutations are
        recognised by their ids, so nothing is lost or applied twice."""
        with self._using() as connection:
            connection.execution_options(**{IMMEDIATE: True})
            try:
                relaxed = ExitStack()
                if applying:
                    relaxed.enter_context(autocheckpoint_off(connection))
                    relaxed.enter_context(commit_without_flush(connection))
                with relaxed, connection.begin():
                    yield connection
            finally:
                connection.execution_options(**{IMMEDIATE: False})

    def add(self, page: StagedPage) -> None:
        """Gather one page (a later page's change of a record replaces an earlier one's)."""
        outcome, rows = page
        with self._using() as connection, connection.begin():
            if outcome.reset:
                connection.exec_driver_sql(f"DELETE FROM {BATCH_TABLE}")
                self._rebuilding = True
            if rows:
                after = connection.exec_driver_sql(
                    f"SELECT coalesce(max(rowid), 0) FROM {BATCH_TABLE}"
                ).scalar_one()
                connection.exec_driver_sql(
                    f"INSERT OR REPLACE INTO {BATCH_TABLE} ({STAGED_COLUMNS}) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    list(rows),
                )
                if not self._rebuilding:  # a rebuilt table is written afresh: nothing to read
                    _read_ahead(connection, int(after))
        self._reset = self._reset or outcome.reset
        self._outcomes.append((outcome, sum(1 for row in rows if row[2] == "delete")))

    def _merge_kept(self, connection: Connection) -> bool:
        """Move the batch to where the pull's batches are kept; returns whether the pull
        starts over, and so is kept in the rebuilt table (:mod:`console.sync.rebuild`)
        rather than in ``sync_staging``."""
        if self._reset:
            # Whatever this pull kept before its start-over page is dropped.
            connection.execute(text(f"DELETE FROM {STAGING_TABLE}"))
            rebuild.start(connection)
        elif not _staged_reset(connection):
            connection.execute(
                text(
                    f"INSERT OR REPLACE INTO {STAGING_TABLE} ({STAGED_COLUMNS}) "
                    f"SELECT {STAGED_COLUMNS} FROM {BATCH_TABLE} ORDER BY type, id"
                )
            )
            connection.execute(text(f"DELETE FROM {BATCH_TABLE}"))
            return False
        rebuild.merge(connection, BATCH_TABLE)
        return True

    def keep(self) -> None:
        """Keep the batch with where the pull has got to, in one transaction, and start the
        next batch: a pull cut short resumes after it."""
        with self._writing() as connection:
            self._merge_kept(connection)
            self._store._fold_staging(connection, self._outcomes)
        self._outcomes, self._reset = [], False

    def apply(self) -> Applied:
        """Apply the whole pull, this batch with everything kept before it, with its
        cursor, results and confirmations, and rebase, in one transaction: the screens see
        the state before it or after it, nothing between.  A pull that came in one batch
        (most pulls after the first) is applied straight from memory; one that starts over
        swaps in the table it rebuilt."""
        with self._writing(applying=True) as connection:
            kept = connection.execute(text("SELECT staging IS NOT NULL FROM sync_state")).scalar_one()
            rebuilt = self._merge_kept(connection) if kept or self._reset else False
            staging = self._store._fold_staging(connection, self._outcomes)
            if staging is None:
                raise RuntimeError("no pull is staged")
            if rebuilt:
                applied = self._store._apply_rebuilt(connection, staging)
            else:
                applied = self._store._apply(connection, STAGING_TABLE if kept else BATCH_TABLE, staging)
        self._outcomes, self._reset, self._rebuilding = [], False, False
        return applied

    def close(self) -> None:
        """Give the connection up, with what it gathered; at once, or (if a method is
        running on another thread) as soon as that method returns."""
        with self._state:
            if self._closed:
                return
            self._closing = True
            if self._busy:
                return
        self._close_connection()

    def _close_connection(self) -> None:
        with self._state:
            if self._closed:
                return
            self._closed = True
        # Back into the pool without what this batch gathered or its large page cache.
        # (Closing the connection instead could make it the vault's last one, and SQLite
        # folds the whole write-ahead log into the file when the last connection closes.)
        connection = self._connection
        try:
            connection.rollback()
            connection.exec_driver_sql(f"DROP TABLE IF EXISTS {BATCH_TABLE}")
            if self._cache_pages is not None:
                connection.exec_driver_sql(f"PRAGMA cache_size = {self._cache_pages}")
            connection.commit()
        except Exception:  # noqa: BLE001 - a connection that cannot be cleaned is dropped instead
            connection.invalidate()
        finally:
            connection.close()
