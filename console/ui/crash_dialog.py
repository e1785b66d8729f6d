"""One dialog for all unexpected errors: the first opens it, later ones are added to it
and counted, so a failure that repeats cannot bury the desk in dialogs."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QPlainTextEdit, QVBoxLayout, QWidget

from console.crash import CrashReport
from console.ui.format import utc_clock
from console.ui.style import fixed_font


class CrashDialog(QDialog):
    def __init__(self, log_path: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("crash_dialog")
        self.setWindowTitle("Kluis Console: unexpected error")
        self.resize(640, 360)
        self.count = 0
        self._headline = QLabel()
        self._headline.setObjectName("crash_headline")
        self._headline.setWordWrap(True)
        self._headline.setStyleSheet("QLabel { font-weight: bold; }")
        explanation = QLabel(
            "The console hit a problem it did not expect. You can keep working, or finish what you "
            f"are doing and restart the console. The details were written to {log_path}; give that file to "
            "support if the problem repeats."
        )
        explanation.setWordWrap(True)
        self._entries = QPlainTextEdit()
        self._entries.setObjectName("crash_entries")
        self._entries.setReadOnly(True)
        self._entries.setFont(fixed_font())
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self._headline)
        layout.addWidget(explanation)
        layout.addWidget(self._entries, 1)
        layout.addWidget(buttons)

    def add(self, report: CrashReport) -> None:
        self.count += 1
        self._headline.setText(
            "An unexpected error occurred."
            if self.count == 1
            else f"{self.count} unexpected errors occurred."
        )
        lines = [f"{utc_clock(report.time)}  {report.summary()}"]
        lines.extend(f"    {frame}" for frame in report.frames[-8:])
        self._entries.appendPlainText("\n".join(lines))


class CrashPresenter(QObject):
    """Shows reports in a single :class:`CrashDialog`; a new one after the last is closed."""

    def __init__(self, log_path: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._log_path = log_path
        self._parent = parent
        self.dialog: CrashDialog | None = None

    def present(self, report: CrashReport) -> None:
        if self.dialog is None:
            self.dialog = CrashDialog(self._log_path, self._parent)
            self.dialog.finished.connect(self._closed)
            self.dialog.show()
        self.dialog.add(report)
        self.dialog.raise_()

    def _closed(self) -> None:
        if self.dialog is not None:
            self.dialog.deleteLater()
            self.dialog = None
