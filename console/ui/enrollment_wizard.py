"""First sign-in with an enrollment code: check the code, choose a password under the
server's policy, enroll an authenticator app (QR code or typed secret) and name this
computer, then see the ten recovery codes once."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from console.auth.api import EnrollmentAnswer
from console.auth.signin import EnrollmentForm, default_device_name
from console.ui.enrollment_qr import qr_image
from console.ui.signin_widgets import MessageLabel, centred_card, code_edit, heading, hint, line_edit
from console.ui.style import fixed_font

CODE_PAGE, PASSWORD_PAGE, TOTP_PAGE, CODES_PAGE = range(4)

# The server's rules are worded as the refusal a broken rule gets; as a policy they read so.
LENGTH_RULES = frozenset({"too_short", "too_long"})
POLICY_WORDING = {
    "common": "not be one of the commonly used passwords the server knows",
    "contains_username": "not contain your username",
}


def policy_text(min_length: int, max_length: int, rules: dict[str, str]) -> str:
    items = [f"have {min_length} to {max_length} characters"]
    items += [
        POLICY_WORDING.get(code, html.escape(text))
        for code, text in rules.items()
        if code not in LENGTH_RULES
    ]
    listed = "".join(f"<li>{item}</li>" for item in items)
    return (
        f"Your new password must:<ul>{listed}</ul>"
        "A few unrelated words make a long password that is easy to type and hard to guess."
    )


def grouped(secret: str, size: int = 4) -> str:
    """A base32 secret in groups of four, easier to type into an authenticator app."""
    return " ".join(secret[start : start + size] for start in range(0, len(secret), size))


def _page(name: str, *widgets: QWidget) -> QWidget:
    content = QWidget()
    layout = QVBoxLayout(content)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setSpacing(10)
    for widget in widgets:
        layout.addWidget(widget)
    page = centred_card(content)
    page.setObjectName(name)
    return page


def _buttons(*buttons: QPushButton) -> QWidget:
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addStretch(1)
    for button in buttons:
        layout.addWidget(button)
    return row


def _button(text: str, name: str, *, default: bool = False) -> QPushButton:
    button = QPushButton(text)
    button.setObjectName(name)
    button.setAutoDefault(default)
    button.setDefault(default)
    return button


def _form(rows: list[tuple[str, QWidget]]) -> QWidget:
    holder = QWidget()
    form = QFormLayout(holder)
    form.setContentsMargins(0, 0, 0, 0)
    for text, widget in rows:
        form.addRow(text, widget)
    return holder


class EnrollmentWizard(QStackedWidget):
    code_submitted = Signal(str, str)  # username, enrollment code
    finish_submitted = Signal(object)  # EnrollmentForm
    cancelled = Signal()
    codes_saved = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("enrollment")
        self._started: EnrollmentAnswer | None = None

        # 1. The code from the administrator.
        self.username = line_edit("enroll_username")
        self.enrollment_code = line_edit("enrollment_code", secret=True)
        self.code_message = MessageLabel("enroll_code_message")
        self.code_continue = _button("Continue", "enroll_code_continue", default=True)
        self.code_cancel = _button("Back to sign-in", "enroll_cancel")
        self.addWidget(
            _page(
                "enroll_code_page",
                heading("First sign-in"),
                hint(
                    "Your administrator gave you a one-time enrollment code. With it you choose your "
                    "password, set up an authenticator app and enroll this computer."
                ),
                self.code_message,
                _form([("Username", self.username), ("Enrollment code", self.enrollment_code)]),
                _buttons(self.code_cancel, self.code_continue),
            )
        )

        # 2. The password, under the server's policy.
        self.policy = QLabel()
        self.policy.setObjectName("password_policy")
        self.policy.setWordWrap(True)
        self.new_password = line_edit("new_password", secret=True)
        self.confirm_password = line_edit("confirm_password", secret=True)
        self.password_message = MessageLabel("enroll_password_message")
        self.password_back = _button("Back", "enroll_password_back")
        self.password_continue = _button("Continue", "enroll_password_continue", default=True)
        self.addWidget(
            _page(
                "enroll_password_page",
                heading("Choose your password"),
                self.policy,
                self.password_message,
                _form([("New password", self.new_password), ("Repeat it", self.confirm_password)]),
                _buttons(self.password_back, self.password_continue),
            )
        )

        # 3. The authenticator app and this computer's name.
        self.qr = QLabel()
        self.qr.setObjectName("totp_qr")
        self.qr.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.secret = QLabel()
        self.secret.setObjectName("totp_secret")
        self.secret.setFont(fixed_font())
        self.secret.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.secret.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.parameters = hint("", "totp_parameters")
        self.totp_code = code_edit("enrollment_totp_code")
        self.device_name = line_edit("enrollment_device_name")
        self.device_name.setMaxLength(100)
        self.totp_message = MessageLabel("enroll_totp_message")
        self.totp_back = _button("Back", "enroll_totp_back")
        self.finish = _button("Finish enrollment", "enroll_finish", default=True)
        self.addWidget(
            _page(
                "enroll_totp_page",
                heading("Set up your authenticator app"),
                hint("Scan this QR code with your authenticator app, or type the key below into it."),
                self.qr,
                self.secret,
                self.parameters,
                self.totp_message,
                _form([("Code from the app", self.totp_code), ("Computer name", self.device_name)]),
                hint("This computer is enrolled as one of your devices under this name."),
                _buttons(self.totp_back, self.finish),
            )
        )

        # 4. The recovery codes, shown once.
        self.codes = QLabel()
        self.codes.setObjectName("recovery_codes")
        self.codes.setFont(fixed_font())
        self.codes.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.codes.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.saved = QCheckBox("I have saved these recovery codes somewhere safe")
        self.saved.setObjectName("codes_saved")
        self.codes_continue = _button("Continue to Kluis", "codes_continue", default=True)
        self.codes_continue.setEnabled(False)
        self.saved.toggled.connect(self.codes_continue.setEnabled)
        self.addWidget(
            _page(
                "enroll_codes_page",
                heading("Your recovery codes"),
                hint(
                    "Each code works once instead of an authenticator code, for example when your phone "
                    "is lost. They are shown only now: write them down or print them, and keep them "
                    "apart from this computer."
                ),
                self.codes,
                self.saved,
                _buttons(self.codes_continue),
            )
        )

        self.code_continue.clicked.connect(self._submit_code)
        self.enrollment_code.returnPressed.connect(self._submit_code)
        self.code_cancel.clicked.connect(self._cancel)
        self.password_back.clicked.connect(lambda: self._go(CODE_PAGE))
        self.password_continue.clicked.connect(self._check_password)
        self.confirm_password.returnPressed.connect(self._check_password)
        self.totp_back.clicked.connect(lambda: self._go(PASSWORD_PAGE))
        self.finish.clicked.connect(self._submit_finish)
        self.totp_code.returnPressed.connect(self._submit_finish)
        self.device_name.returnPressed.connect(self._submit_finish)
        self.username.returnPressed.connect(self._submit_code)
        self.new_password.returnPressed.connect(self.confirm_password.setFocus)
        self.codes_continue.clicked.connect(self._codes_saved)
        self.clear()

    # --- for the flow ------------------------------------------------------------------

    def begin(self, username: str = "") -> None:
        self.clear()
        self.username.setText(username)
        (self.enrollment_code if username else self.username).setFocus()

    def started(self, answer: EnrollmentAnswer) -> None:
        """The server accepted the code: show the policy, then ask for the password."""
        self._started = answer
        policy = answer.password_policy
        self.policy.setText(policy_text(policy.min_length, policy.max_length, policy.rules))
        self.qr.setPixmap(QPixmap.fromImage(qr_image(answer.otpauth_uri.get_secret_value())))
        self.secret.setText(grouped(answer.totp_secret.get_secret_value()))
        self.parameters.setText(
            f"Time-based, {answer.totp.digits} digits, every {answer.totp.period} seconds "
            f"({answer.totp.algorithm.replace('SHA', 'SHA-')})."
        )
        self.set_busy(False)
        self._go(PASSWORD_PAGE)
        self.new_password.setFocus()

    def enrolled(self, recovery_codes: tuple[str, ...]) -> None:
        """Enrollment is complete: the recovery codes, once."""
        self._forget_secrets()
        self.enrollment_code.clear()  # spent
        rows = [recovery_codes[start : start + 2] for start in range(0, len(recovery_codes), 2)]
        self.codes.setText("\n".join("   ".join(row) for row in rows))
        self.saved.setChecked(False)
        self._go(CODES_PAGE)

    def failed(self, message: str, *, password: bool = False) -> None:
        self.set_busy(False)
        page = self.currentIndex()
        if password:
            self._go(PASSWORD_PAGE)
            self.password_message.error(message)
            self.new_password.setFocus()
        elif page == CODE_PAGE:
            self.code_message.error(message)
        else:
            self.totp_code.clear()
            self.totp_message.error(message)
            self.totp_code.setFocus()

    def set_busy(self, busy: bool) -> None:
        for button in (self.code_continue, self.finish, self.totp_back, self.password_back, self.code_cancel):
            button.setEnabled(not busy)
        self.code_continue.setText("Checking…" if busy else "Continue")
        self.finish.setText("Enrolling…" if busy else "Finish enrollment")

    def clear(self) -> None:
        """Forget everything typed and shown, recovery codes included."""
        self._forget_secrets()
        for edit in (self.username, self.enrollment_code):
            edit.clear()
        self.codes.clear()
        self.saved.setChecked(False)
        for message in (self.code_message, self.password_message, self.totp_message):
            message.clear_message()
        self.device_name.setText(default_device_name())
        self.set_busy(False)
        self._go(CODE_PAGE)

    # --- inside ------------------------------------------------------------------------

    def _forget_secrets(self) -> None:
        self._started = None
        for edit in (self.new_password, self.confirm_password, self.totp_code):
            edit.clear()
        self.qr.clear()
        self.secret.clear()

    def _go(self, page: int) -> None:
        self.setCurrentIndex(page)

    def _cancel(self) -> None:
        self.clear()
        self.cancelled.emit()

    def _submit_code(self) -> None:
        username, code = self.username.text().strip(), self.enrollment_code.text().strip()
        if not username or not code:
            self.code_message.error("Enter your username and the enrollment code.")
            return
        self.code_message.clear_message()
        self.set_busy(True)
        self.code_submitted.emit(username, code)

    def _check_password(self) -> None:
        assert self._started is not None
        policy = self._started.password_policy
        password = self.new_password.text()
        username = self.username.text().strip().casefold()
        problem = None
        if len(password) < policy.min_length:
            problem = f"Use at least {policy.min_length} characters."
        elif len(password) > policy.max_length:
            problem = f"Use at most {policy.max_length} characters."
        elif username and username in password.casefold():
            problem = "The password must not contain your username."
        elif password != self.confirm_password.text():
            problem = "The two passwords are not the same."
        if problem:
            self.password_message.error(problem)
            return
        self.password_message.clear_message()
        self._go(TOTP_PAGE)
        self.totp_code.setFocus()

    def _submit_finish(self) -> None:
        if not self.finish.isEnabled():
            return
        code = self.totp_code.text().strip()
        if len(code) != 6:
            self.totp_message.error("Enter the 6-digit code your authenticator app shows now.")
            return
        self.totp_message.clear_message()
        self.set_busy(True)
        self.finish_submitted.emit(
            EnrollmentForm(
                username=self.username.text().strip(),
                enrollment_code=self.enrollment_code.text().strip(),
                new_password=self.new_password.text(),
                totp_code=code,
                device_name=self.device_name.text().strip() or default_device_name(),
            )
        )

    def _codes_saved(self) -> None:
        self.codes.clear()
        self.clear()
        self.codes_saved.emit()
