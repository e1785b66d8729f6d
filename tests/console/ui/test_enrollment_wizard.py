"""First sign-in through the enrollment wizard, driven with pytest-qt against a real server:
the password policy from the server, the QR code of the otpauth URI and the typed secret,
then the ten recovery codes, shown once."""

from __future__ import annotations

import contextlib

import pyotp
import pytest
from keyring.backends import fail
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from console.ui.enrollment_qr import QUIET_ZONE_MODULES, qr_image, qr_modules
from console.ui.enrollment_wizard import CODES_PAGE, PASSWORD_PAGE, TOTP_PAGE, grouped
from server.auth.totp import provisioning_uri
from testkit.console import (
    console_for,
    create_pending_account,
    installed_keyring,
    shown_texts,
    start_auth_server,
)

NEW_PASSWORD = "drakensberg fynbos hadeda 42"


@pytest.fixture(autouse=True)
def no_keyring():
    with installed_keyring(fail.Keyring()):
        yield


@pytest.fixture
def server(tmp_path):
    running = start_auth_server(tmp_path / "server")
    yield running
    running.stop()


@contextlib.asynccontextmanager
async def running(console):
    console.start()
    try:
        yield console
    finally:
        await console.aclose()


def click(qtbot, button) -> None:
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def type_into(qtbot, edit, text: str) -> None:
    edit.clear()
    qtbot.keyClicks(edit, text)


def test_enrollment_shows_the_policy_the_qr_code_and_the_recovery_codes_once(
    run, qtbot, qloop, server, tmp_path, wait_for
):
    code = create_pending_account(server.settings, "nomsa")
    unexpected: list[BaseException] = []
    console = console_for(qloop, server, tmp_path / "profile", unexpected)

    async def scenario():
        async with running(console):
            window = console.window
            wizard = console.signin.wizard
            click(qtbot, console.signin.screen.enroll_button)
            assert console.signin.gate.currentWidget() is wizard
            type_into(qtbot, wizard.username, "nomsa")
            type_into(qtbot, wizard.enrollment_code, "WRONG-CODE")
            click(qtbot, wizard.code_continue)
            await wait_for(lambda: wizard.code_message.isVisibleTo(window))
            assert wizard.code_message.text() == "The username or enrollment code is wrong, used or expired."

            type_into(qtbot, wizard.enrollment_code, code)
            click(qtbot, wizard.code_continue)
            await wait_for(lambda: wizard.currentIndex() == PASSWORD_PAGE)
            policy = wizard.policy.text()
            assert "have 12 to 128 characters" in policy
            assert "commonly used passwords" in policy
            assert "not contain your username" in policy

            type_into(qtbot, wizard.new_password, "short")
            type_into(qtbot, wizard.confirm_password, "short")
            click(qtbot, wizard.password_continue)
            assert wizard.password_message.text() == "Use at least 12 characters."
            type_into(qtbot, wizard.new_password, NEW_PASSWORD)
            type_into(qtbot, wizard.confirm_password, NEW_PASSWORD + "x")
            click(qtbot, wizard.password_continue)
            assert wizard.password_message.text() == "The two passwords are not the same."
            type_into(qtbot, wizard.confirm_password, NEW_PASSWORD)
            click(qtbot, wizard.password_continue)
            assert wizard.currentIndex() == TOTP_PAGE

            # The QR code is the otpauth URI for the secret shown beneath it.
            secret = wizard.secret.text().replace(" ", "")
            assert wizard.secret.text() == grouped(secret)
            shown = wizard.qr.pixmap().toImage()
            assert not shown.isNull()
            assert shown == qr_image(provisioning_uri(secret, "nomsa"))
            assert "6 digits, every 30 seconds (SHA-1)" in wizard.parameters.text()
            type_into(qtbot, wizard.device_name, "Nomsa's desk")
            type_into(qtbot, wizard.totp_code, pyotp.TOTP(secret).now())
            click(qtbot, wizard.finish)
            await wait_for(lambda: wizard.currentIndex() == CODES_PAGE)

            codes = wizard.codes.text().split()
            assert len(codes) == 10
            assert len(set(codes)) == 10
            assert wizard.secret.text() == ""  # the TOTP secret is not kept on screen
            assert wizard.qr.pixmap().isNull()
            assert not wizard.codes_continue.isEnabled()
            assert window.showing_gate()
            click(qtbot, wizard.saved)
            assert wizard.codes_continue.isEnabled()
            click(qtbot, wizard.codes_continue)
            assert not window.showing_gate()
            assert "Online session" in window.account.text()

            # Shown once: no screen holds a code any more.
            everything = " ".join(shown_texts(window))
            assert not [code for code in codes if code in everything]
            session = console.sessions.current
            assert (await session.request("GET", "/api/v1/auth/me")).json()["recovery_codes_left"] == 10
            return codes

    codes = run(scenario())
    assert unexpected == []
    assert codes


def test_the_qr_image_paints_every_module():
    text = "otpauth://totp/Kluis:nomsa?secret=JBSWY3DPEHPK3PXP&issuer=Kluis"
    modules = qr_modules(text)
    image = qr_image(text, module_pixels=4)
    assert image.width() == image.height() == len(modules) * 4
    for y, row in enumerate(modules):
        for x, dark in enumerate(row):
            colour = QColor(image.pixel(x * 4 + 2, y * 4 + 2))
            assert colour == (QColor(Qt.GlobalColor.black) if dark else QColor(Qt.GlobalColor.white))
    assert not any(modules[0])  # the quiet zone
    assert any(modules[QUIET_ZONE_MODULES])
