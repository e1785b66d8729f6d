"""Unexpected exceptions are logged without their message and shown in one dialog."""

from __future__ import annotations

import json
import sys
import threading

import pytest

from console.crash import CrashReporter
from console.logs import LogSession
from console.ui.crash_dialog import CrashDialog, CrashPresenter

SECRET = "ID 8001015009087 belongs to Thandi"


@pytest.fixture
def log_session(tmp_path):
    session = LogSession(tmp_path)
    yield session
    session.close()


@pytest.fixture
def reporter(qapp):
    reporter = CrashReporter()
    reports: list[object] = []
    reporter.reported.connect(reports.append)
    reporter.install()
    yield reporter, reports
    reporter.uninstall()
    reporter.deleteLater()


def _raised(error: BaseException) -> BaseException:
    try:
        raise error
    except BaseException as caught:
        return caught


def log_lines(session: LogSession) -> list[dict]:
    return [json.loads(line) for line in session.path.read_text().splitlines()]


def test_sys_excepthook_logs_type_and_frames_but_not_the_message(reporter, log_session):
    _, reports = reporter
    error = _raised(ValueError(SECRET))
    sys.excepthook(type(error), error, error.__traceback__)
    log_session.close()
    [line] = [line for line in log_lines(log_session) if line["event"] == "unexpected exception"]
    assert line["exception"] == "ValueError"
    assert line["where"] == "the user interface"
    assert any("test_crash.py" in frame and "_raised" in frame for frame in line["frames"])
    assert SECRET not in log_session.path.read_text()
    [report] = reports
    assert report.kind == "ValueError"
    assert SECRET not in report.summary()
    assert report.time.tzinfo is not None


def test_worker_thread_exceptions_are_reported_on_the_gui_thread(qtbot, reporter):
    _, reports = reporter
    delivered: list[int] = []
    reporter[0].reported.connect(lambda report: delivered.append(threading.get_ident()))

    def fail():
        raise RuntimeError(SECRET)

    worker = threading.Thread(target=fail, name="kluis-test-worker")
    with qtbot.waitSignal(reporter[0].reported, timeout=5000):
        worker.start()
        worker.join()
    assert reports[0].where == "thread kluis-test-worker"
    assert delivered == [threading.get_ident()]


def test_event_loop_exceptions_are_reported(qloop, reporter):
    reporter_object, reports = reporter
    reporter_object.install_loop(qloop)
    qloop.call_exception_handler(
        {"message": "Task exception was never retrieved", "exception": _raised(OSError(SECRET))}
    )
    qloop.call_exception_handler({"message": f"Unclosed thing\n{SECRET}"})
    assert [report.kind for report in reports] == ["OSError", "EventLoopProblem"]
    assert reports[1].where == "Unclosed thing"
    assert all(SECRET not in report.summary() for report in reports)


def test_uninstall_restores_the_previous_hooks(qapp):
    before = (sys.excepthook, threading.excepthook)
    reporter = CrashReporter()
    reporter.install()
    assert sys.excepthook != before[0]
    reporter.uninstall()
    assert (sys.excepthook, threading.excepthook) == before


def test_many_errors_share_one_dialog_that_counts_them(qtbot, reporter, tmp_path):
    reporter_object, _ = reporter
    presenter = CrashPresenter(tmp_path / "console.jsonl")
    reporter_object.reported.connect(presenter.present)
    for number in range(3):
        reporter_object.report(_raised(LookupError(f"{SECRET} {number}")))
    dialog = presenter.dialog
    assert isinstance(dialog, CrashDialog)
    qtbot.addWidget(dialog)
    assert dialog.isVisible()
    assert dialog.count == 3
    assert [widget for widget in qtbot_top_levels() if isinstance(widget, CrashDialog)] == [dialog]
    assert (
        dialog.findChild(type(dialog._headline), "crash_headline").text() == "3 unexpected errors occurred."
    )
    entries = dialog._entries.toPlainText()
    assert entries.count("LookupError in the console") == 3
    assert SECRET not in entries
    assert str(tmp_path / "console.jsonl") in " ".join(
        label.text() for label in dialog.findChildren(type(dialog._headline))
    )

    dialog.reject()
    assert presenter.dialog is None
    reporter_object.report(_raised(LookupError("again")))
    assert presenter.dialog is not None
    qtbot.addWidget(presenter.dialog)
    assert presenter.dialog.count == 1


def qtbot_top_levels():
    from PySide6.QtWidgets import QApplication

    return [widget for widget in QApplication.topLevelWidgets() if widget.isVisible()]
