"""Runs the sync engine for whoever is signed in, and keeps the shell's models current.

One controller per console (:meth:`SyncController.of`).  When a session starts, it opens the
local store in the session's vault; while the session is online the engine runs as one
background operation; when the session goes offline, ends or is revoked, the engine stops
(its outbox stays in the vault).  Screens use :attr:`store` (through ``run_blocking``), queue
edits and access records through the controller so that the engine is woken at once, and
refresh on the ``RECORDS`` / ``ATTENTION`` / ``OUTBOX`` change notifications."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

from PySide6.QtCore import QObject

from console.auth.session import Session, SessionEnded
from console.auth.sessions import Sessions
from console.changes import Changes, Topic
from console.context import ShellContext
from console.customers.access import AccessRecorder
from console.logs import fields
from console.sync.engine import SyncEngine
from console.sync.errors import SyncHeld, UpdateRequired
from console.sync.store import Applied, Counts, LocalStore, StoreClosed
from shared.audit.event import SignedEvent
from shared.customers import RECORD_TYPE
from shared.sync.protocol import Mutation

logger = logging.getLogger("kluis.console.sync")

T = TypeVar("T")

_controllers: weakref.WeakKeyDictionary[Sessions, SyncController] = weakref.WeakKeyDictionary()


class SyncController(QObject):
    def __init__(self, context: ShellContext, *, engine_options: dict[str, Any] | None = None) -> None:
        super().__init__(context.sessions)
        self._context = context
        self._operations = context.operations
        self._engine_options = engine_options or {}
        self._session: Session | None = None
        self.store: LocalStore | None = None
        self.access: AccessRecorder | None = None
        self.engine: SyncEngine | None = None
        self._task: asyncio.Task[None] | None = None
        self.attention = 0
        context.sessions.changed.connect(self._sessions_changed)
        self._sessions_changed()

    @classmethod
    def of(cls, context: ShellContext) -> SyncController:
        """The console's controller, made on first use."""
        controller = _controllers.get(context.sessions)
        if controller is None:
            controller = _controllers[context.sessions] = cls(context)
        return controller

    @property
    def session(self) -> Session | None:
        return self._session

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    # --- following the session --------------------------------------------------------

    def _sessions_changed(self) -> None:
        session = self._context.sessions.current
        if session is not None and session.closed:
            session = None
        if session is not self._session:
            self._stop_engine()
            self._session = session
            self.store = self.access = self.engine = None
            self.attention = 0
            if session is not None:
                vault = session.vault
                self.store = LocalStore(vault.engine, is_closed=lambda: vault.closed)
                self.access = AccessRecorder(session.identity, session.sign, self.store)
                self.refresh_counts()
            else:
                self._context.outbox.set_size(0)
            self._operations.notify(Changes.of(Topic.RECORDS, Topic.ATTENTION))
        if session is not None and session.online and not self.running:
            self._start_engine(session)
        elif (session is None or not session.online) and self.running:
            self._stop_engine()

    def _start_engine(self, session: Session) -> None:
        assert self.store is not None
        blocking = self._operations.in_thread
        self.engine = SyncEngine(session, self.store, blocking, self, **self._engine_options)
        self._task = self._operations.run(self.engine.run, on_failure=self._engine_stopped)

    def _stop_engine(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
        self._context.connection.set_syncing(False)

    def _engine_stopped(self, error: Exception) -> None:
        self._task = None
        self._context.connection.set_syncing(False)
        if isinstance(error, SessionEnded):
            logger.info("sync stopped: the session ended", extra=fields(reason=error.reason))
            return
        if isinstance(error, StoreClosed):
            logger.info("sync stopped: the vault closed")
            return
        raise error

    # --- what screens ask for ----------------------------------------------------------

    def wake(self) -> None:
        if self.engine is not None:
            self.engine.wake()

    def run_blocking(
        self,
        work: Callable[[LocalStore], T],
        *,
        on_success: Callable[[T], None] | None = None,
        on_failure: Callable[[Exception], None] | None = None,
    ) -> None:
        """``work(store)`` on a worker thread, if a session is open.  A vault that closed
        meanwhile (the session ended) is not a failure: that session's screens are going."""
        store = self.store
        if store is None:
            return

        def failed(error: Exception) -> None:
            if isinstance(error, StoreClosed):
                return
            if on_failure is None:
                raise error
            on_failure(error)

        self._operations.run_blocking(lambda: work(store), on_success=on_success, on_failure=failed)

    def enqueue(
        self,
        name: str,
        args: dict[str, Any],
        *,
        on_success: Callable[[Mutation], None] | None = None,
        on_failure: Callable[[Exception], None] | None = None,
        origin: object | None = None,
    ) -> None:
        """Queue a mutation (optimistically applied at once) and wake the engine."""

        def done(mutation: Mutation) -> None:
            self._operations.notify(Changes.of(Topic.RECORDS, origin=origin))
            self.refresh_counts()
            self.wake()
            if on_success is not None:
                on_success(mutation)

        self.run_blocking(lambda store: store.enqueue(name, args), on_success=done, on_failure=on_failure)

    def record_access(
        self,
        action: str,
        customer_id: uuid.UUID | str | None,
        purpose: str | None,
        *,
        object_type: str = RECORD_TYPE,
        on_success: Callable[[SignedEvent], None] | None = None,
        on_failure: Callable[[Exception], None] | None = None,
    ) -> None:
        """Queue an access record (open, reveal, search of a customer, or an export) for upload."""
        access = self.access
        if access is None:
            return

        def done(signed: SignedEvent) -> None:
            self.refresh_counts()
            self.wake()
            if on_success is not None:
                on_success(signed)

        self.run_blocking(
            lambda _store: access.record(action, customer_id, purpose, object_type=object_type),
            on_success=done,
            on_failure=on_failure,
        )

    def refresh_counts(self) -> None:
        self.run_blocking(lambda store: store.counts(), on_success=self.counted, on_failure=self._ignore)

    def dismiss(self, kind: str, ref: str) -> None:
        def done(_: None) -> None:
            self.refresh_counts()
            self._operations.notify(Changes.of(Topic.ATTENTION))

        self.run_blocking(lambda store: store.dismiss(kind, ref), on_success=done)

    @staticmethod
    def _ignore(error: Exception) -> None:
        logger.info("counts not read", extra=fields(reason=type(error).__name__))

    # --- SyncListener: the engine reports here, on the event loop ----------------------

    def syncing(self, active: bool) -> None:
        self._context.connection.set_syncing(active)

    def synced(self, applied: Applied | None, at: dt.datetime) -> None:
        self._context.connection.synced(at)
        if applied is None or applied.changes or applied.reset or applied.confirmed or applied.rejected:
            self._operations.notify(Changes.of(Topic.RECORDS))

    def held(self, error: SyncHeld | None) -> None:
        self._context.connection.sync_held(
            str(error) if error is not None else None, update_required=isinstance(error, UpdateRequired)
        )

    def counted(self, counts: Counts) -> None:
        self._context.outbox.set_size(counts.outbox)
        if counts.attention != self.attention:
            self.attention = counts.attention
            self._operations.notify(Changes.of(Topic.ATTENTION))
