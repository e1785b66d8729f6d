"""Background work for the console, in one place.

Network work is a coroutine on the qasync event loop; blocking work (disk, the encrypted
store) runs on a thread pool.  Either way the success and failure handlers run on the GUI
thread, after which :attr:`Operations.changed` tells the screens what changed.

A failure reaches ``on_failure`` when one is given.  Without one, and for exceptions
raised by the handlers themselves, it is unexpected and goes to the crash handler.
Nothing here blocks the GUI thread."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from PySide6.QtCore import QObject, QThread, Signal

from console.changes import Changes

T = TypeVar("T")


Unexpected = Callable[[BaseException], None]
FailureHandler = Callable[[Exception], None]


class Operations(QObject):
    """Starts operations and announces their changes.  Create on the GUI thread."""

    changed = Signal(object)  # Changes

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        unexpected: Unexpected,
        *,
        threads: int = 4,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._loop = loop
        self._unexpected = unexpected
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="kluis-blocking")
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    @property
    def running(self) -> int:
        return len(self._tasks)

    def run(
        self,
        work: Callable[[], Awaitable[T]],
        *,
        on_success: Callable[[T], None] | None = None,
        on_failure: FailureHandler | None = None,
        changes: Changes | None = None,
    ) -> asyncio.Task[None]:
        """Await ``work()`` on the event loop."""
        return self._start(work, on_success, on_failure, changes)

    def run_blocking(
        self,
        work: Callable[[], T],
        *,
        on_success: Callable[[T], None] | None = None,
        on_failure: FailureHandler | None = None,
        changes: Changes | None = None,
    ) -> asyncio.Task[None]:
        """Call ``work()`` on a pool thread.  It must not touch widgets."""
        return self._start(lambda: self.in_thread(work), on_success, on_failure, changes)

    async def in_thread(self, work: Callable[[], T]) -> T:
        """For coroutines with a blocking step: await ``work()`` run on the pool."""
        return await self._loop.run_in_executor(self._pool, work)

    def notify(self, changes: Changes) -> None:
        """Announce changes made directly on the GUI thread (models call this)."""
        self._require_gui_thread()
        self.changed.emit(changes)

    async def aclose(self) -> None:
        """Cancel what is still running, wait for it, and stop the thread pool."""
        self._closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.to_thread(self._pool.shutdown, wait=True, cancel_futures=True)

    def _start(
        self,
        work: Callable[[], Awaitable[T]],
        on_success: Callable[[T], None] | None,
        on_failure: FailureHandler | None,
        changes: Changes | None,
    ) -> asyncio.Task[None]:
        self._require_gui_thread()
        if self._closed:
            raise RuntimeError("operations are closed")
        task = self._loop.create_task(self._drive(work, on_success, on_failure, changes))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _drive(
        self,
        work: Callable[[], Awaitable[T]],
        on_success: Callable[[T], None] | None,
        on_failure: FailureHandler | None,
        changes: Changes | None,
    ) -> None:
        try:
            result = await work()
        except Exception as exc:  # noqa: BLE001 - every failure goes to a handler, none is lost
            self._fail(exc, on_failure)
            return
        try:
            if on_success is not None:
                on_success(result)
            if changes is not None:
                self.changed.emit(changes)
        except Exception as exc:  # noqa: BLE001 - a failing handler is a bug for the crash handler
            self._unexpected(exc)

    def _fail(self, error: Exception, on_failure: FailureHandler | None) -> None:
        if on_failure is None:
            self._unexpected(error)
            return
        try:
            on_failure(error)
        except Exception as exc:  # noqa: BLE001 - a failing handler is a bug for the crash handler
            self._unexpected(exc)

    def _require_gui_thread(self) -> None:
        if QThread.currentThread() is not self.thread():
            raise RuntimeError("operations are started and announced from the GUI thread only")
