"""The way into the console and back out: the sign-in gate (sign-in screen and enrollment
wizard) before the workspaces, signing in again when the server session ends, signing out,
and what the user is told when a session ends for them.

All work is started through the operations API; handlers run on the GUI thread."""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QStackedWidget

from console.auth.api import EnrollmentAnswer
from console.auth.session import Session, SessionEnded
from console.auth.sessions import Sessions
from console.auth.signin import (
    EnrollmentForm,
    PasswordDoesNotOpenVault,
    SignedIn,
    SignInForm,
    SignInService,
)
from console.errors import ConsoleError
from console.logs import fields
from console.net.errors import ServerHTTPError
from console.operations import Operations
from console.ui.enrollment_wizard import EnrollmentWizard
from console.ui.shell import MainWindow
from console.ui.signin_reauth import ReauthDialog
from console.ui.signin_screen import SignInScreen

logger = logging.getLogger("kluis.console.signin")

PASSWORD_CODES = frozenset({"weak_password"})


def message_for(error: ConsoleError) -> str:
    """What to show for a failure: the server's own sentence for its refusals."""
    if isinstance(error, ServerHTTPError) and error.status < 500:
        return error.server_message
    return str(error)


class SignInFlow(QObject):
    def __init__(
        self,
        window: MainWindow,
        sessions: Sessions,
        service: SignInService,
        operations: Operations,
    ) -> None:
        super().__init__(window)
        self._window = window
        self._sessions = sessions
        self._service = service
        self._operations = operations
        self._reauth: ReauthDialog | None = None

        self.screen = SignInScreen(service.vaults.exists)
        self.wizard = EnrollmentWizard()
        self.gate = QStackedWidget()
        self.gate.setObjectName("sign_in_gate")
        self.gate.addWidget(self.screen)
        self.gate.addWidget(self.wizard)
        window.set_gate(self.gate)

        self.screen.submitted.connect(self._sign_in)
        self.screen.enroll_requested.connect(self._show_enrollment)
        self.wizard.cancelled.connect(self._show_sign_in)
        self.wizard.code_submitted.connect(self._start_enrollment)
        self.wizard.finish_submitted.connect(self._complete_enrollment)
        self.wizard.codes_saved.connect(self._enter)
        window.sign_out_action.triggered.connect(self.sign_out)
        window.sign_in_again_action.triggered.connect(lambda: self._ask_to_sign_in_again())
        sessions.ended.connect(self._ended)

    def start(self) -> None:
        self._window.show_gate()
        self._show_sign_in()
        self._operations.run_blocking(
            self._service.vaults.keyring_usable,
            on_success=self._keyring_known,
            on_failure=self._keyring_unknown,
        )

    # --- signing in --------------------------------------------------------------------

    def _sign_in(self, form: SignInForm) -> None:
        self._operations.run(
            lambda: self._service.sign_in(form), on_success=self._signed_in, on_failure=self._sign_in_failed
        )

    def _signed_in(self, signed: SignedIn) -> None:
        self._sessions.start(signed.session)
        self._window.show_notice("\n".join(signed.notices) or None)
        self._enter()

    def _enter(self) -> None:
        self.screen.reset()
        self._window.show_shell()
        self._window.account.refresh()

    def _sign_in_failed(self, error: Exception) -> None:
        if not isinstance(error, ConsoleError):
            self.screen.set_busy(False)
            raise error
        self.screen.failed(
            message_for(error), ask_previous_password=isinstance(error, PasswordDoesNotOpenVault)
        )

    # --- enrollment --------------------------------------------------------------------

    def _show_enrollment(self) -> None:
        self.wizard.begin(self.screen.username.text().strip())
        self.gate.setCurrentWidget(self.wizard)

    def _show_sign_in(self) -> None:
        self.gate.setCurrentWidget(self.screen)
        self.screen.reset()

    def _start_enrollment(self, username: str, code: str) -> None:
        self._operations.run(
            lambda: self._service.start_enrollment(username, code),
            on_success=self._enrollment_started,
            on_failure=self._enrollment_failed,
        )

    def _enrollment_started(self, answer: EnrollmentAnswer) -> None:
        self.wizard.started(answer)

    def _complete_enrollment(self, form: EnrollmentForm) -> None:
        self._operations.run(
            lambda: self._service.complete_enrollment(form),
            on_success=self._enrolled,
            on_failure=self._enrollment_failed,
        )

    def _enrolled(self, signed: SignedIn) -> None:
        self._sessions.start(signed.session)
        self._window.show_notice("\n".join(signed.notices) or None)
        self.wizard.enrolled(signed.recovery_codes)

    def _enrollment_failed(self, error: Exception) -> None:
        if not isinstance(error, ConsoleError):
            self.wizard.set_busy(False)
            raise error
        password = isinstance(error, ServerHTTPError) and error.code in PASSWORD_CODES
        self.wizard.failed(message_for(error), password=password)

    # --- signing in again, signing out -------------------------------------------------

    def _ask_to_sign_in_again(self, reason: str | None = None) -> None:
        session = self._sessions.current
        if session is None or session.online:
            return
        if self._reauth is not None:
            self._reauth.raise_()
            return
        identity = session.identity
        if not reason:
            reason = (
                "This console was unlocked without the server."
                if session.offline_until is not None
                else "Your session with the server has ended."
            )
        dialog = ReauthDialog(identity.display_name, identity.username, reason, self._window)
        dialog.submitted.connect(
            lambda password, code, recovery: self._reauthenticate(session, password, code, recovery)
        )
        dialog.sign_out_requested.connect(self.sign_out)
        dialog.finished.connect(self._reauth_closed)
        self._reauth = dialog
        dialog.open()

    def _reauthenticate(
        self, session: Session, password: str, code: str | None, recovery: str | None
    ) -> None:
        self._operations.run(
            lambda: self._service.reauthenticate(session, password, totp_code=code, recovery_code=recovery),
            on_success=self._reauthenticated,
            on_failure=self._reauth_failed,
        )

    def _reauthenticated(self, _: None) -> None:
        if self._reauth is not None:
            self._reauth.accept()
        self._window.show_notice(None)

    def _reauth_failed(self, error: Exception) -> None:
        if isinstance(error, SessionEnded):
            return  # _ended shows why and closes the dialog
        if self._reauth is None:
            return
        if not isinstance(error, ConsoleError):
            self._reauth.set_busy(False)
            raise error
        self._reauth.failed(message_for(error))

    def _reauth_closed(self, _result: int) -> None:
        dialog, self._reauth = self._reauth, None
        if dialog is not None:
            dialog.deleteLater()

    def sign_out(self) -> None:
        session = self._sessions.current
        if session is not None:
            self._operations.run(session.sign_out)

    def _ended(self, ended: SessionEnded) -> None:
        if ended.reason == "expired":
            self._ask_to_sign_in_again(str(ended))
            return
        if self._reauth is not None:
            self._reauth.reject()
        self._window.show_notice(None)
        self.wizard.clear()  # recovery codes not yet confirmed must not stay behind
        self._window.show_gate()
        self._show_sign_in()
        error = ended.reason in ("revoked_device", "disabled")
        self.screen.reset(str(ended), error=error)

    # --- the keyring -------------------------------------------------------------------

    def _keyring_known(self, usable: bool) -> None:
        self.screen.set_keyring_usable(usable)

    def _keyring_unknown(self, error: Exception) -> None:
        logger.warning("keyring check failed", extra=fields(reason=type(error).__name__))
        self.screen.set_keyring_usable(False)
