"""The audit log as the server uses it: submitting device events, appending server events,
signing checkpoints, pruning and erasing.  Each operation is one transaction; everything
that decides lives in the sans-IO modules beside this one."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import ColumnElement, Update

from server.audit import ingest
from server.audit.appender import Accepted, plan_append
from server.audit.keys import AuditKeys
from server.audit.retention import RetentionPolicy
from server.audit.store import (
    LogCorrupted,
    StoredCheckpoint,
    build_proof,
    known_entries,
    latest_checkpoint,
    load_state,
    stored_root,
    write_append,
)
from server.audit.tables import STATE_ROW, audit_checkpoints, audit_entries, audit_log_state, audit_pending
from server.audit.verifier import SignatureVerifier
from server.auth.tables import devices
from server.config import Settings
from server.db.engine import Database
from server.logs import fields
from shared.audit.codec import FormatError
from shared.audit.entry import new_salt, new_salts
from shared.audit.event import AuditEvent, server_signer, sign_event
from shared.checkpoint import Checkpoint, CheckpointError, open_checkpoint, sign_checkpoint
from shared.merkle import ProofError, consistency_proof_plan, verify_consistency
from shared.note import NoteError

logger = logging.getLogger("kluis.audit")

Clock = Callable[[], dt.datetime]
MAX_SEQUENCE_BATCH = 1000


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class PruneResult:
    min_index: int
    pruned: int
    erased: int


@dataclass
class _Waiting:
    """One caller's verified events, waiting for the next group append."""

    caller: ingest.Caller
    good: list[tuple[int, Accepted]]
    done: asyncio.Future[list[tuple[int, ingest.Result]]] | None = None


class CheckpointRefused(Exception):
    """The log's stored state does not extend its last checkpoint: nothing is signed."""


class AuditLog:
    def __init__(
        self,
        database: Database,
        keys: AuditKeys,
        retention: RetentionPolicy,
        *,
        clock: Clock = utc_now,
    ) -> None:
        self.database = database
        self.keys = keys
        self.retention = retention
        self.clock = clock
        self.origin = keys.note_signer.name
        self._verifier = SignatureVerifier()
        self._listeners: list[Callable[[], None]] = []
        self._queued: list[_Waiting] = []
        self._group_task: asyncio.Task[None] | None = None

    @classmethod
    def from_settings(cls, settings: Settings, database: Database) -> AuditLog:
        """The log with the configured key (created in DATA_DIR/keys if unset) and retention."""
        return cls(database, AuditKeys.load(settings), RetentionPolicy.from_settings(settings))

    def on_append(self, listener: Callable[[], None]) -> None:
        """Call *listener* after every committed append (the checkpointer wakes on it)."""
        self._listeners.append(listener)

    def _appended(self) -> None:
        for listener in self._listeners:
            listener()

    async def warm_up(self) -> None:
        """Start the signature workers before the first batch needs them."""
        await self._verifier.warm_up()

    def close(self) -> None:
        self._verifier.close()

    # --- device events ------------------------------------------------------------------

    async def submit(
        self, caller: ingest.Caller, items: Sequence[tuple[bytes, bytes]]
    ) -> list[ingest.Result]:
        """Screen, verify and append a batch of device events; one result per item, in order."""
        if not items:
            return []
        now = self.clock()
        async with self.database.transaction() as connection:
            device = await self._device(connection, caller)
        if not isinstance(device, bytes):
            return self._refuse_all(caller, items, now, device)
        checked = await self._verifier.check_events(caller, device, now, items)
        results: list[ingest.Result | None] = [None] * len(items)
        good: list[tuple[int, Accepted]] = []
        salts = iter(new_salts(len(items)))
        for position, (outcome, (data, signature)) in enumerate(zip(checked, items, strict=True)):
            if isinstance(outcome, ingest.Refused):
                results[position] = ingest.Result(outcome.event_id, refused=outcome)
            else:
                good.append((position, Accepted(outcome, data, signature, next(salts))))
        if good:
            for position, result in await self._join_group(_Waiting(caller, good)):
                results[position] = result
        return [result for result in results if result is not None]

    @staticmethod
    def _refuse_all(
        caller: ingest.Caller, items: Sequence[tuple[bytes, bytes]], now: dt.datetime, reason: ingest.Reason
    ) -> list[ingest.Result]:
        """A batch from a device that is unknown or revoked: every event is refused, each
        for what is wrong with it, else for the device."""
        results = []
        for data, signature in items:
            outcome = ingest.screen(caller, data, signature, now)
            if isinstance(outcome, ingest.Refused):
                results.append(ingest.Result(outcome.event_id, refused=outcome))
            else:
                event_id = outcome.event.event_id
                results.append(ingest.Result(event_id, refused=ingest.Refused(reason, event_id=event_id)))
        return results

    async def _device(self, connection: AsyncConnection, caller: ingest.Caller) -> ingest.Reason | bytes:
        row = (
            await connection.execute(
                select(devices.c.public_key, devices.c.revoked_at, devices.c.user_id).where(
                    devices.c.id == caller.device_id
                )
            )
        ).first()
        if row is None or row.user_id != caller.user_id:
            return ingest.Reason.UNKNOWN_DEVICE
        if row.revoked_at is not None:
            return ingest.Reason.REVOKED_DEVICE
        return bytes(row.public_key)

    async def _join_group(self, waiting: _Waiting) -> list[tuple[int, ingest.Result]]:
        """Group commit: batches that arrive while an append is being written go into the
        next one together, one transaction and one sync to disk for all of them."""
        waiting.done = asyncio.get_running_loop().create_future()
        self._queued.append(waiting)
        if self._group_task is None or self._group_task.done():
            self._group_task = asyncio.get_running_loop().create_task(self._drain_groups())
        return await waiting.done

    async def _drain_groups(self) -> None:
        while self._queued:
            group, self._queued = self._queued, []
            try:
                answers = await self._append_group(group)
            except BaseException as exc:
                for waiting in group:
                    if waiting.done is not None and not waiting.done.done():
                        waiting.done.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise
                continue
            for waiting, answer in zip(group, answers, strict=True):
                if waiting.done is not None and not waiting.done.done():
                    waiting.done.set_result(answer)

    async def _append_group(self, group: list[_Waiting]) -> list[list[tuple[int, ingest.Result]]]:
        answers: list[list[tuple[int, ingest.Result]]] = [[] for _ in group]
        placed: list[tuple[int, int, str, int | None]] = []
        batch: list[Accepted] = []
        async with self.database.transaction(write=True) as connection:
            state = await load_state(connection, lock=True)
            known = await known_entries(connection, [item.event_id for w in group for _, item in w.good])
            fresh: dict[str, tuple[int, Accepted]] = {}
            for number, waiting in enumerate(group):
                # Revocation may have happened since the signatures were checked; it wins.
                device_now = await self._device(connection, waiting.caller)
                if not isinstance(device_now, bytes):
                    for position, item in waiting.good:
                        revoked_id = uuid.UUID(item.event_id)
                        refused = ingest.Refused(device_now, event_id=revoked_id)
                        answers[number].append((position, ingest.Result(revoked_id, refused=refused)))
                    continue
                for position, item in waiting.good:
                    event_id = item.event_id
                    stored = known.get(event_id)
                    if stored is not None:
                        same = stored.event is None or (
                            stored.event == item.data and stored.signature == item.signature
                        )
                        placed.append((number, position, event_id, stored.idx if same else -1))
                    elif event_id in fresh:
                        first_offset, first = fresh[event_id]
                        same = first.data == item.data and first.signature == item.signature
                        placed.append((number, position, event_id, state.size + first_offset if same else -1))
                    else:
                        fresh[event_id] = (len(batch), item)
                        placed.append((number, position, event_id, state.size + len(batch)))
                        batch.append(item)
            if batch:
                plan = plan_append(state, batch, self.clock())
                await write_append(connection, plan, self.clock())
        for number, position, event_text, index in placed:
            placed_id = uuid.UUID(event_text)
            if index is None or index < 0:
                refused = ingest.Refused(ingest.Reason.EVENT_ID_CONFLICT, event_id=placed_id)
                answers[number].append((position, ingest.Result(placed_id, refused=refused)))
            else:
                answers[number].append((position, ingest.Result(placed_id, index=index)))
        if batch:
            self._appended()
        return answers

    # --- server events ------------------------------------------------------------------

    def _server_event(self, row: object) -> AuditEvent:
        return AuditEvent(
            event_id=row.event_id,  # type: ignore[attr-defined]
            occurred_at=row.occurred_at,  # type: ignore[attr-defined]
            signer=server_signer(self.keys.key_id),
            action=row.action,  # type: ignore[attr-defined]
            outcome=row.outcome,  # type: ignore[attr-defined]
            actor=row.actor,  # type: ignore[attr-defined]
            device=row.device,  # type: ignore[attr-defined]
            role=row.role,  # type: ignore[attr-defined]
            object_type=row.object_type,  # type: ignore[attr-defined]
            object_id=row.object_id,  # type: ignore[attr-defined]
            purpose=row.purpose,  # type: ignore[attr-defined]
            reason=row.reason,  # type: ignore[attr-defined]
        )

    async def sequence_pending(self, limit: int = MAX_SEQUENCE_BATCH) -> int:
        """Sign the oldest waiting server events and append them; how many were appended."""
        private = self.keys.ring.current.private
        async with self.database.transaction(write=True) as connection:
            state = await load_state(connection, lock=True)
            rows = (
                await connection.execute(select(audit_pending).order_by(audit_pending.c.id).limit(limit))
            ).all()
            if not rows:
                return 0
            batch: list[Accepted] = []
            for row in rows:
                try:
                    batch.append(Accepted.of(sign_event(self._server_event(row), private), new_salt()))
                except FormatError as exc:
                    # Recorded events are checked when recorded; only a tampered row gets here.
                    logger.error(
                        "a pending server event is invalid and was dropped",
                        extra=fields(event_id=str(row.event_id), reason=exc.where),
                    )
            plan = plan_append(state, batch, self.clock())
            await write_append(connection, plan, self.clock())
            await connection.execute(
                delete(audit_pending).where(audit_pending.c.id.in_([row.id for row in rows]))
            )
        if batch:
            self._appended()
        return len(batch)

    # --- checkpoints --------------------------------------------------------------------

    async def sign_checkpoint(self) -> StoredCheckpoint | None:
        """Sign the current tree if it has grown since the last checkpoint.

        Nothing is signed unless the stored nodes give the same root as the state row and a
        consistency proof built from them joins the last checkpoint to the new tree: a log
        that had been rewritten underneath would otherwise get a second, unjoinable history.
        """
        async with self.database.transaction(write=True) as connection:
            state = await load_state(connection, lock=True)
            latest = await latest_checkpoint(connection)
            if latest is not None and latest.size == state.size:
                return None
            root = state.frontier.root()
            if await stored_root(connection, state.size) != root:
                raise CheckpointRefused(f"the stored nodes do not give the state's root at size {state.size}")
            if latest is not None:
                try:
                    previous = open_checkpoint(latest.note, self.keys.verifier, origin=self.origin)
                except (NoteError, CheckpointError) as exc:
                    raise CheckpointRefused(
                        f"the last checkpoint does not verify with this log's key: {exc}"
                    ) from None
                if previous.size > state.size:
                    raise CheckpointRefused(
                        f"the log has shrunk below its checkpoint of size {previous.size}"
                    )
                proof = await build_proof(connection, consistency_proof_plan(previous.size, state.size))
                try:
                    verify_consistency(previous.size, state.size, previous.root_hash, root, proof)
                except ProofError as exc:
                    raise CheckpointRefused(
                        f"the log does not extend its checkpoint of size {previous.size}: {exc}"
                    ) from None
            note = sign_checkpoint(Checkpoint(self.origin, state.size, root), self.keys.note_signer)
            stored = StoredCheckpoint(state.size, root, note, self.keys.key_id, self.clock())
            await connection.execute(
                audit_checkpoints.insert().values(
                    size=stored.size,
                    root=stored.root,
                    note=note.decode(),
                    key_id=stored.key_id,
                    signed_at=stored.signed_at,
                )
            )
        logger.info("audit checkpoint signed", extra=fields(count=stored.size, key_id=stored.key_id))
        return stored

    # --- retention and erasure ----------------------------------------------------------

    async def prune(self, now: dt.datetime | None = None) -> PruneResult:
        """Delete entries below the first one still within retention (the log's new minimum
        index) and erase the bodies of expired events above it.  Tree nodes stay."""
        now = now or self.clock()
        cutoffs = self.retention.cutoffs(now)
        expired = or_(
            *(
                and_(audit_entries.c.event_class == name, audit_entries.c.received_at < cutoff)
                for name, cutoff in cutoffs.items()
            )
        )
        async with self.database.transaction(write=True) as connection:
            state = await load_state(connection, lock=True)
            first_kept = await connection.scalar(
                select(func.min(audit_entries.c.idx)).where(audit_entries.c.idx >= state.min_index, ~expired)
            )
            min_index = state.size if first_kept is None else int(first_kept)
            pruned = await connection.execute(delete(audit_entries).where(audit_entries.c.idx < min_index))
            erased = await connection.execute(
                _erase(audit_entries.c.idx >= min_index, expired, audit_entries.c.event.is_not(None)).values(
                    erased_at=now, erased_reason="retention"
                )
            )
            if min_index != state.min_index:
                await connection.execute(
                    update(audit_log_state)
                    .where(audit_log_state.c.id == STATE_ROW)
                    .values(min_index=min_index, updated_at=now)
                )
        result = PruneResult(min_index, pruned.rowcount, erased.rowcount)
        if result.pruned or result.erased:
            logger.info(
                "audit events past retention pruned",
                extra=fields(count=result.pruned + result.erased, revision=result.min_index),
            )
        return result

    async def erase(self, event_id: uuid.UUID, now: dt.datetime | None = None) -> int | None:
        """Erase one event's body and salt where the law requires it; its entry stays, so
        every proof and checkpoint stays valid.  The entry's index, or None if unknown."""
        async with self.database.transaction(write=True) as connection:
            index = await connection.scalar(
                select(audit_entries.c.idx).where(audit_entries.c.event_id == event_id)
            )
            if index is None:
                return None
            await connection.execute(
                _erase(audit_entries.c.idx == index, audit_entries.c.event.is_not(None)).values(
                    erased_at=now or self.clock(), erased_reason="erasure"
                )
            )
        logger.info("audit event erased", extra=fields(event_id=str(event_id)))
        return int(index)

    async def check_stored_log(self) -> None:
        """Raise :class:`LogCorrupted` unless the stored nodes give the state row's root."""
        async with self.database.transaction() as connection:
            state = await load_state(connection, lock=False)
            if await stored_root(connection, state.size) != state.frontier.root():
                raise LogCorrupted("the stored nodes do not give the state's root")


def _erase(*conditions: ColumnElement[bool]) -> Update:
    return (
        update(audit_entries)
        .where(*conditions)
        .values(
            event=None,
            salt=None,
            signature=None,
            occurred_at=None,
            actor=None,
            device=None,
            action=None,
            object_type=None,
            object_id=None,
            purpose=None,
            outcome=None,
        )
    )
