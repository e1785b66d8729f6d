"""A one-time enrollment code, shown once.

The code lives only in this dialog's widgets and the answer that brought it: it is never
logged or written anywhere.  Closing the dialog clears it, and clears the clipboard too if
it still holds the code that was copied from here."""

from __future__ import annotations

from html import escape

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from console.admin.api import EnrollmentCode
from console.ui.format import utc_timestamp
from console.ui.style import WARNING_BANNER, fixed_font


class EnrollmentCodeDialog(QDialog):
    def __init__(self, answer: EnrollmentCode, heading: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("enrollment_code_dialog")
        self.setWindowTitle("Enrollment code")
        self.setMinimumWidth(520)
        user = answer.user
        title = QLabel(heading)
        font = title.font()
        font.setPointSize(font.pointSize() + 2)
        font.setBold(True)
        title.setFont(font)
        title.setWordWrap(True)
        self.code = QLineEdit(answer.enrollment_code.get_secret_value())
        self.code.setObjectName("enrollment_code")
        self.code.setReadOnly(True)
        self.code.setAlignment(Qt.AlignmentFlag.AlignCenter)
        code_font = fixed_font()
        code_font.setPointSize(code_font.pointSize() + 6)
        code_font.setBold(True)
        self.code.setFont(code_font)
        self.code.setMinimumHeight(self.code.fontMetrics().height() + 16)
        self.copy = QPushButton("Copy")
        self.copy.setObjectName("copy_code")
        self.copy.setToolTip("Copy the code; closing this window clears it from the clipboard.")
        self.copied = False
        for_whom = QLabel(
            f"Give this code in person to <b>{escape(user.display_name)}</b> (username "
            f"<b>{escape(user.username)}</b>). At first sign-in they choose “First sign-in with an "
            "enrollment code…”, enter it, choose a password and set up their authenticator."
        )
        for_whom.setObjectName("code_for_whom")
        for_whom.setWordWrap(True)
        once = QLabel(
            f"It works once, until {utc_timestamp(answer.enrollment_code_expires_at)}. "
            "It is shown only now and Kluis keeps no copy: if it is lost, reset the account's MFA "
            "to issue a new one."
        )
        once.setObjectName("code_once")
        once.setWordWrap(True)
        once.setStyleSheet(WARNING_BANNER)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.buttons.rejected.connect(self.reject)
        row = QHBoxLayout()
        row.addWidget(self.code, 1)
        row.addWidget(self.copy)
        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(for_whom)
        layout.addLayout(row)
        layout.addWidget(once)
        layout.addWidget(self.buttons)
        self.copy.clicked.connect(self._copy)
        self.finished.connect(self._forget)

    def _copy(self) -> None:
        QGuiApplication.clipboard().setText(self.code.text())
        self.copied = True
        self.copy.setText("Copied")

    def _forget(self) -> None:
        clipboard = QGuiApplication.clipboard()
        if self.copied and self.code.text() and clipboard.text() == self.code.text():
            clipboard.clear()
        self.code.clear()
