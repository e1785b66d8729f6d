"""Dialogs are awaited through their signals, never run in a nested event loop."""

from __future__ import annotations

import asyncio
from pathlib import Path

from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from console.faults import PreviousCrash
from console.ui.dialogs import dialog_result, show_previous_crash, show_startup_error


def test_a_dialog_is_awaited_while_the_loop_keeps_running(run):
    box = QMessageBox(QMessageBox.Icon.Question, "Question", "Go on?")
    box.setStandardButtons(QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
    ticks: list[int] = []

    async def scenario():
        async def meanwhile():
            for tick in range(5):
                ticks.append(tick)
                await asyncio.sleep(0.01)
            box.done(QMessageBox.StandardButton.Yes.value)

        helper = asyncio.ensure_future(meanwhile())
        result = await dialog_result(box)
        await helper
        return result

    assert run(scenario()) == QMessageBox.StandardButton.Yes.value
    assert ticks == [0, 1, 2, 3, 4]
    assert not box.isVisible()
    box.deleteLater()


def test_the_startup_error_is_shown_until_dismissed(run):
    async def scenario():
        shown = asyncio.ensure_future(show_startup_error("The CA file /x/ca.pem does not exist."))
        while not (boxes := [w for w in QApplication.topLevelWidgets() if w.objectName() == "startup_error"]):
            await asyncio.sleep(0.01)
        [box] = boxes
        assert box.isVisible()
        assert box.text() == "The CA file /x/ca.pem does not exist."
        assert not shown.done()
        box.accept()
        await shown
        box.deleteLater()

    run(scenario())


def test_the_previous_crash_is_reported_without_blocking(qtbot):
    parent = QWidget()
    qtbot.addWidget(parent)
    crash = PreviousCrash("Fatal Python error: Aborted\n", Path("/p/crash/archive/faults-1.log"))
    box = show_previous_crash(parent, crash)
    assert box.isVisible()
    assert "/p/crash/archive/faults-1.log" in box.text()
    assert box.detailedText() == "Fatal Python error: Aborted\n"
    box.accept()
