"""The operations API: results and failures reach their handlers on the GUI thread,
changes are announced after success, and failures never reach the crash handler unless
nobody handles them."""

from __future__ import annotations

import asyncio
import threading

import pytest

from console.changes import Changes, Topic
from console.crash import CrashReporter
from console.operations import Operations


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, object, int]] = []

    def success(self, value: object) -> None:
        self.events.append(("success", value, threading.get_ident()))

    def failure(self, error: Exception) -> None:
        self.events.append(("failure", error, threading.get_ident()))

    def changed(self, changes: Changes) -> None:
        self.events.append(("changed", changes, threading.get_ident()))


@pytest.fixture
def crashes(qapp):
    reporter = CrashReporter()
    reported: list[object] = []
    reporter.reported.connect(reported.append)
    yield reporter, reported
    reporter.deleteLater()


@pytest.fixture
def operations(qloop, run, crashes):
    reporter, _ = crashes
    operations = Operations(qloop, reporter.report)
    yield operations
    run(operations.aclose())
    operations.deleteLater()


@pytest.fixture
def recorder(operations):
    recorder = Recorder()
    operations.changed.connect(recorder.changed)
    return recorder


GUI = threading.get_ident()


def test_a_coroutine_result_reaches_the_success_handler_then_the_change_is_announced(
    run, operations, recorder, crashes
):
    async def work():
        await asyncio.sleep(0.01)
        return 42

    changes = Changes.of(Topic.OUTBOX)
    run(operations.run(work, on_success=recorder.success, on_failure=recorder.failure, changes=changes))
    assert recorder.events == [("success", 42, GUI), ("changed", changes, GUI)]
    assert crashes[1] == []


def test_a_failing_operation_reaches_the_failure_handler_and_not_the_crash_handler(
    run, operations, recorder, crashes
):
    async def work():
        raise ValueError("declined")

    run(
        operations.run(
            work, on_success=recorder.success, on_failure=recorder.failure, changes=Changes.of(Topic.OUTBOX)
        )
    )
    [(kind, error, thread)] = recorder.events
    assert (kind, thread) == ("failure", GUI)
    assert isinstance(error, ValueError)
    assert crashes[1] == []


def test_blocking_work_runs_off_the_gui_thread_and_reports_on_it(run, operations, recorder):
    worker: list[int] = []

    def work():
        worker.append(threading.get_ident())
        return "done"

    run(operations.run_blocking(work, on_success=recorder.success, changes=Changes.of(Topic.CONNECTION)))
    assert len(worker) == 1
    assert worker[0] != GUI
    assert [(kind, value, thread) for kind, value, thread in recorder.events] == [
        ("success", "done", GUI),
        ("changed", Changes.of(Topic.CONNECTION), GUI),
    ]


def test_blocking_failures_reach_the_failure_handler_on_the_gui_thread(run, operations, recorder, crashes):
    def work():
        raise OSError("disk full")

    run(operations.run_blocking(work, on_success=recorder.success, on_failure=recorder.failure))
    [(kind, error, thread)] = recorder.events
    assert (kind, type(error), thread) == ("failure", OSError, GUI)
    assert crashes[1] == []


def test_the_gui_keeps_running_while_blocking_work_waits(run, operations, recorder):
    released = threading.Event()

    def work():
        if not released.wait(10):
            raise TimeoutError("the GUI thread never ran while the work was blocked")
        return "released"

    async def scenario():
        task = operations.run_blocking(work, on_success=recorder.success, on_failure=recorder.failure)
        await asyncio.sleep(0.05)  # the loop, on the GUI thread, keeps turning
        released.set()
        await task

    run(scenario())
    assert [event[:2] for event in recorder.events] == [("success", "released")]


def test_an_unhandled_failure_goes_to_the_crash_handler(run, operations, crashes):
    async def work():
        raise KeyError("nobody handles this")

    run(operations.run(work))
    [report] = crashes[1]
    assert report.kind == "KeyError"


def test_a_failing_success_handler_goes_to_the_crash_handler(run, operations, recorder, crashes):
    async def work():
        return 1

    def broken(value):
        raise RuntimeError("handler bug")

    run(
        operations.run(work, on_success=broken, on_failure=recorder.failure, changes=Changes.of(Topic.OUTBOX))
    )
    assert recorder.events == []
    [report] = crashes[1]
    assert report.kind == "RuntimeError"


def test_models_announce_changes_through_notify_on_the_gui_thread_only(run, operations, recorder):
    operations.notify(Changes.of(Topic.OUTBOX))
    assert recorder.events == [("changed", Changes.of(Topic.OUTBOX), GUI)]

    def from_a_worker():
        operations.notify(Changes.of(Topic.OUTBOX))

    async def scenario():
        await operations.in_thread(from_a_worker)

    with pytest.raises(RuntimeError, match="GUI thread only"):
        run(scenario())


def test_closing_cancels_what_is_running_without_calling_handlers(run, operations, recorder, crashes):
    started = asyncio.Event()

    async def forever():
        started.set()
        await asyncio.sleep(3600)

    async def scenario():
        operations.run(forever, on_success=recorder.success, on_failure=recorder.failure)
        await started.wait()
        assert operations.running == 1
        await operations.aclose()

    run(scenario())
    assert operations.running == 0
    assert recorder.events == []
    assert crashes[1] == []
    with pytest.raises(RuntimeError, match="closed"):
        operations.run(forever)


def test_changes_say_what_they_touch():
    changes = Changes.of(Topic.CONNECTION, Topic.OUTBOX, origin="page")
    assert changes.touches(Topic.OUTBOX)
    assert not changes.touches(Topic.SERVER_IDENTITY)
    assert changes.origin == "page"
