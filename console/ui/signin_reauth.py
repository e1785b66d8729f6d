"""Signing in again while working: the server session ended (or the console was unlocked
offline), the vault and the work in it stay open, and the user proves themselves again to
go back online, signs out, or keeps working offline for now."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QDialog, QFormLayout, QHBoxLayout, QPushButton, QVBoxLayout, QWidget

from console.ui.signin_widgets import MessageLabel, code_edit, heading, hint, line_edit, link_button


class ReauthDialog(QDialog):
    submitted = Signal(str, object, object)  # password, TOTP code or None, recovery code or None
    sign_out_requested = Signal()

    def __init__(self, display_name: str, username: str, reason: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("reauth_dialog")
        self.setWindowTitle("Sign in again")
        self.setModal(True)
        self._recovery = False

        self.reason = hint(reason, "reauth_reason")
        self.password = line_edit("reauth_password", secret=True)
        self.totp_code = code_edit("reauth_totp_code")
        self.recovery_code = line_edit("reauth_recovery_code", secret=True)
        self.message = MessageLabel("reauth_message")
        self.form = QFormLayout()
        self.form.addRow("Username", hint(username, "reauth_username"))
        self.form.addRow("Password", self.password)
        self.form.addRow("Authenticator code", self.totp_code)
        self.form.addRow("Recovery code", self.recovery_code)
        self.form.setRowVisible(self.recovery_code, False)

        self.toggle = link_button("Use a recovery code instead", "reauth_toggle_recovery")
        self.toggle.clicked.connect(self._toggle)
        self.sign_in_button = QPushButton("Sign in")
        self.sign_in_button.setObjectName("reauth_sign_in")
        self.sign_in_button.setDefault(True)
        self.later_button = QPushButton("Keep working offline")
        self.later_button.setObjectName("reauth_later")
        self.sign_out_button = QPushButton("Sign out")
        self.sign_out_button.setObjectName("reauth_sign_out")
        self.sign_in_button.clicked.connect(self._submit)
        self.later_button.clicked.connect(self.reject)
        self.sign_out_button.clicked.connect(self.sign_out_requested)

        buttons = QHBoxLayout()
        buttons.addWidget(self.sign_out_button)
        buttons.addStretch(1)
        buttons.addWidget(self.later_button)
        buttons.addWidget(self.sign_in_button)
        layout = QVBoxLayout(self)
        layout.addWidget(heading(f"Sign in again, {display_name}", 1.2))
        layout.addWidget(self.reason)
        layout.addWidget(
            hint(
                "Nothing you did on this computer is lost: it is kept in its encrypted vault.", "reauth_kept"
            )
        )
        layout.addWidget(self.message)
        layout.addLayout(self.form)
        layout.addWidget(self.toggle)
        layout.addLayout(buttons)
        self.setMinimumWidth(460)
        self.password.setFocus()

    def set_busy(self, busy: bool) -> None:
        for widget in (
            self.password,
            self.totp_code,
            self.recovery_code,
            self.sign_in_button,
            self.sign_out_button,
        ):
            widget.setEnabled(not busy)
        self.sign_in_button.setText("Signing in…" if busy else "Sign in")

    def failed(self, message: str) -> None:
        self.set_busy(False)
        self.totp_code.clear()
        self.recovery_code.clear()
        self.message.error(message)

    def _toggle(self) -> None:
        self._recovery = not self._recovery
        self.form.setRowVisible(self.totp_code, not self._recovery)
        self.form.setRowVisible(self.recovery_code, self._recovery)
        self.toggle.setText(
            "Use the authenticator code instead" if self._recovery else "Use a recovery code instead"
        )

    def _submit(self) -> None:
        code = (self.recovery_code if self._recovery else self.totp_code).text().strip()
        if not self.password.text() or not code:
            self.message.error("Enter your password and the code (or a recovery code).")
            return
        self.message.clear_message()
        self.set_busy(True)
        self.submitted.emit(
            self.password.text(), None if self._recovery else code, code if self._recovery else None
        )
