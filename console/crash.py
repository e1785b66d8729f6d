"""Unexpected exceptions: from Qt slots and plain code (``sys.excepthook``), worker
threads (``threading.excepthook``) and the event loop (its exception handler).

Each is written to the log as its type and stack frames (no message, no values: they may
hold personal information) and announced through :attr:`CrashReporter.reported`, on the
GUI thread, for the crash dialog."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from PySide6.QtCore import QObject, Signal

from console.logs import exception_frames, fields

logger = logging.getLogger("kluis.console.crash")

ExceptHook = Callable[[type[BaseException], BaseException, TracebackType | None], Any]
ThreadHook = Callable[[threading.ExceptHookArgs], Any]


@dataclass(frozen=True)
class CrashReport:
    time: dt.datetime
    kind: str
    where: str
    frames: tuple[str, ...]

    def summary(self) -> str:
        place = f" at {self.frames[-1]}" if self.frames else ""
        return f"{self.kind} in {self.where}{place}"


class CrashReporter(QObject):
    """Create on the GUI thread; :meth:`install` once, :meth:`uninstall` at exit."""

    reported = Signal(object)  # CrashReport

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._previous_excepthook: ExceptHook | None = None
        self._previous_thread_hook: ThreadHook | None = None

    def install(self) -> None:
        self._previous_excepthook = sys.excepthook
        self._previous_thread_hook = threading.excepthook
        sys.excepthook = self._excepthook
        threading.excepthook = self._thread_hook

    def install_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.set_exception_handler(self._loop_handler)

    def uninstall(self) -> None:
        if self._previous_excepthook is not None:
            sys.excepthook = self._previous_excepthook
        if self._previous_thread_hook is not None:
            threading.excepthook = self._previous_thread_hook
        self._previous_excepthook = self._previous_thread_hook = None

    def report(self, error: BaseException, where: str = "the console") -> None:
        """Log ``error`` and announce it.  Safe to call from any thread."""
        try:
            logger.error("unexpected exception", exc_info=error, extra=fields(where=where))
            report = CrashReport(
                time=dt.datetime.now(dt.UTC),
                kind=type(error).__qualname__,
                where=where,
                frames=tuple(exception_frames(error)),
            )
            self.reported.emit(report)
        except Exception:  # noqa: BLE001 - the last line of defence must not raise
            sys.__excepthook__(*sys.exc_info())

    def _excepthook(
        self, kind: type[BaseException], error: BaseException, trace: TracebackType | None
    ) -> None:
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, error, trace)
            return
        self.report(error.with_traceback(trace), "the user interface")

    def _thread_hook(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_value is None:
            return
        name = args.thread.name if args.thread is not None else "a background thread"
        self.report(args.exc_value, f"thread {name}")

    def _loop_handler(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        error = context.get("exception")
        if isinstance(error, BaseException):
            self.report(error, "the event loop")
            return
        # Problems without an exception ("Task was destroyed but it is pending", ...):
        # asyncio's own message names the problem; the rest of the context may carry values.
        message = str(context.get("message", "event loop problem")).splitlines()[0][:200]
        logger.error("event loop problem", extra=fields(reason=message))
        self.reported.emit(
            CrashReport(time=dt.datetime.now(dt.UTC), kind="EventLoopProblem", where=message, frames=())
        )
