"""The sign-in screen: username, password and an authenticator code (or a recovery code),
the computer's name when it is not yet enrolled for that user, and the way to a first
sign-in with an enrollment code."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFormLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from console.auth.signin import SignInForm, default_device_name
from console.ui.signin_widgets import (
    MessageLabel,
    centred_card,
    code_edit,
    heading,
    hint,
    line_edit,
    link_button,
)

OFFLINE_HINT = (
    "If the server cannot be reached, your password alone opens this computer's copy of your "
    "work, for a period after your last online sign-in that the server sets."
)
NO_KEYRING = (
    "This computer has no OS keyring: your password alone protects the encrypted copy of your work kept here."
)


class SignInScreen(QWidget):
    submitted = Signal(object)  # SignInForm
    enroll_requested = Signal()

    def __init__(self, vault_exists: Callable[[str], bool], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("sign_in_screen")
        self._vault_exists = vault_exists
        self._recovery = False

        self.username = line_edit("username")
        self.password = line_edit("password", secret=True)
        self.totp_code = code_edit("totp_code")
        self.recovery_code = line_edit("recovery_code", secret=True, placeholder="xxxxx-xxxxx")
        self.previous_password = line_edit("previous_password", secret=True)
        self.device_name = line_edit("device_name")
        self.device_name.setText(default_device_name())
        self.device_name.setMaxLength(100)
        self.message = MessageLabel("sign_in_message")
        self.keyring_notice = hint(NO_KEYRING, "keyring_notice")
        self.keyring_notice.hide()

        self.form = QFormLayout()
        self.form.addRow("Username", self.username)
        self.form.addRow("Password", self.password)
        self.form.addRow("Previous password", self.previous_password)
        self._code_label = QLabel("Authenticator code")
        self.form.addRow(self._code_label, self.totp_code)
        self.form.addRow("Recovery code", self.recovery_code)
        self.form.addRow("Computer name", self.device_name)
        self.device_hint = hint(
            "First sign-in for you on this computer: it will be enrolled as a device under this name.",
            "device_hint",
        )
        self.form.addRow(self.device_hint)

        self.toggle_code = link_button("Use a recovery code instead", "toggle_recovery")
        self.toggle_code.clicked.connect(self._toggle_recovery)
        self.sign_in_button = QPushButton("Sign in")
        self.sign_in_button.setObjectName("sign_in_button")
        self.sign_in_button.setDefault(True)
        self.sign_in_button.setAutoDefault(True)
        self.sign_in_button.clicked.connect(self._submit)
        self.enroll_button = link_button("First sign-in with an enrollment code…", "enroll_button")
        self.enroll_button.clicked.connect(self.enroll_requested)
        for edit in (
            self.username,
            self.password,
            self.previous_password,
            self.totp_code,
            self.recovery_code,
            self.device_name,
        ):
            edit.returnPressed.connect(self._submit)
        self.username.textChanged.connect(self._update_device_row)
        self.username.textChanged.connect(self._forget_previous_password)

        content = QWidget()
        layout = QVBoxLayout(content)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(10)
        layout.addWidget(heading("Sign in to Kluis"))
        layout.addWidget(
            hint("Use your staff username, your password and the code from your authenticator app.")
        )
        layout.addWidget(self.message)
        layout.addLayout(self.form)
        layout.addWidget(self.toggle_code)
        layout.addWidget(self.sign_in_button)
        layout.addWidget(self.enroll_button)
        layout.addWidget(hint(OFFLINE_HINT, "offline_hint"))
        layout.addWidget(self.keyring_notice)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(centred_card(content))
        self._show_code_fields()
        self._update_device_row()
        self.form.setRowVisible(self.previous_password, False)

    # --- for the flow ------------------------------------------------------------------

    def set_keyring_usable(self, usable: bool) -> None:
        self.keyring_notice.setVisible(not usable)

    def set_busy(self, busy: bool) -> None:
        for widget in (
            self.username,
            self.password,
            self.previous_password,
            self.totp_code,
            self.recovery_code,
            self.device_name,
            self.sign_in_button,
            self.enroll_button,
            self.toggle_code,
        ):
            widget.setEnabled(not busy)
        self.sign_in_button.setText("Signing in…" if busy else "Sign in")
        if busy:
            self.message.clear_message()

    def failed(self, message: str, *, ask_previous_password: bool = False) -> None:
        """Show why; the code just used is cleared, the rest is kept to correct."""
        self.set_busy(False)
        if ask_previous_password:
            self.form.setRowVisible(self.previous_password, True)
        self.totp_code.clear()
        self.recovery_code.clear()
        self.message.error(message)
        self._update_device_row()
        (self.recovery_code if self._recovery else self.totp_code).setFocus()

    def reset(self, message: str | None = None, *, error: bool = False) -> None:
        """Ready for the next sign-in: secrets cleared, the username kept."""
        self.set_busy(False)
        for edit in (self.password, self.previous_password, self.totp_code, self.recovery_code):
            edit.clear()
        self.form.setRowVisible(self.previous_password, False)
        if message:
            (self.message.error if error else self.message.info)(message)
        else:
            self.message.clear_message()
        self._update_device_row()
        (self.password if self.username.text() else self.username).setFocus()

    # --- inside ------------------------------------------------------------------------

    def _submit(self) -> None:
        if not self.sign_in_button.isEnabled():
            return
        username = self.username.text().strip()
        if not username or not self.password.text():
            self.message.error("Enter your username and password.")
            (self.password if username else self.username).setFocus()
            return
        code = self.recovery_code.text().strip() if self._recovery else self.totp_code.text().strip()
        if not self._recovery and code and len(code) != 6:
            self.message.error("The authenticator code has 6 digits.")
            self.totp_code.setFocus()
            return
        new_device = not self._vault_exists(username)
        if new_device and not code:
            self.message.error(
                "Enter the code from your authenticator app (or a recovery code): the first sign-in on "
                "this computer needs the server."
            )
            return
        form = SignInForm(
            username=username,
            password=self.password.text(),
            totp_code=None if self._recovery or not code else code,
            recovery_code=code if self._recovery and code else None,
            device_name=self.device_name.text().strip() if new_device else None,
            previous_password=self.previous_password.text() or None,
        )
        self.set_busy(True)
        self.submitted.emit(form)

    def _forget_previous_password(self) -> None:
        self.previous_password.clear()
        self.form.setRowVisible(self.previous_password, False)

    def _toggle_recovery(self) -> None:
        self._recovery = not self._recovery
        self._show_code_fields()
        (self.recovery_code if self._recovery else self.totp_code).setFocus()

    def _show_code_fields(self) -> None:
        self.form.setRowVisible(self.totp_code, not self._recovery)
        self.form.setRowVisible(self.recovery_code, self._recovery)
        self.toggle_code.setText(
            "Use the authenticator code instead" if self._recovery else "Use a recovery code instead"
        )

    def _update_device_row(self) -> None:
        username = self.username.text().strip()
        new_device = bool(username) and not self._vault_exists(username)
        self.form.setRowVisible(self.device_name, new_device)
        self.form.setRowVisible(self.device_hint, new_device)
