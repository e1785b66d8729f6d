"""Dialogs without nested event loops: they are opened with ``open()`` and awaited
through their ``finished`` signal, never run with ``exec()`` under qasync."""

from __future__ import annotations

import asyncio

from PySide6.QtWidgets import QDialog, QMessageBox, QWidget

from console.faults import PreviousCrash


async def dialog_result(dialog: QDialog) -> int:
    """Open ``dialog`` (window-modal) and wait for it to finish; returns its result code."""
    finished: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    def on_finished(result: int) -> None:
        if not finished.done():
            finished.set_result(result)

    dialog.finished.connect(on_finished)
    dialog.open()
    try:
        return await finished
    finally:
        dialog.finished.disconnect(on_finished)


async def show_startup_error(message: str) -> None:
    box = QMessageBox(QMessageBox.Icon.Critical, "Kluis Console cannot start", message)
    box.setObjectName("startup_error")
    await dialog_result(box)


def show_previous_crash(parent: QWidget, crash: PreviousCrash) -> QMessageBox:
    """Tell the user, without blocking, that the last run crashed."""
    box = QMessageBox(
        QMessageBox.Icon.Warning,
        "Kluis Console stopped unexpectedly",
        "The console stopped unexpectedly the last time it ran. "
        f"The crash report was kept in {crash.archived_to}; give it to support if this happens again.",
        QMessageBox.StandardButton.Ok,
        parent,
    )
    box.setObjectName("previous_crash")
    box.setDetailedText(crash.text)
    box.open()
    return box
