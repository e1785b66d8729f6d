"""When the server session ends while someone works, a dialog asks them to sign in again and
nothing local is lost; a revoked computer is wiped and returned to the sign-in screen."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from keyring.backends import fail
from PySide6.QtCore import Qt

from console.auth.session import SessionEnded
from console.ui.signin_reauth import ReauthDialog
from testkit.auth import provision
from testkit.console import console_for, installed_keyring, revoke_device, set_active, start_auth_server


@pytest.fixture(autouse=True)
def no_keyring():
    with installed_keyring(fail.Keyring()):
        yield


@pytest.fixture
def server(tmp_path):
    running = start_auth_server(tmp_path / "server")
    yield running
    running.stop()


@pytest.fixture
def signed_in(qloop, server, tmp_path):
    """A console, the staff member, and a coroutine that signs them in through the screen."""
    staff = provision(server.settings, "thandi", ("teller",))
    unexpected: list[BaseException] = []
    console = console_for(qloop, server, tmp_path / "profile", unexpected)
    yield console, staff
    assert unexpected == []


@contextlib.asynccontextmanager
async def running(console):
    console.start()
    try:
        yield console
    finally:
        await console.aclose()


def type_into(qtbot, edit, text: str) -> None:
    edit.clear()
    qtbot.keyClicks(edit, text)


async def sign_in(qtbot, console, staff, wait_for) -> None:
    screen = console.signin.screen
    type_into(qtbot, screen.username, staff.username)
    type_into(qtbot, screen.password, staff.password)
    type_into(qtbot, screen.totp_code, staff.next_code())
    qtbot.mouseClick(screen.sign_in_button, Qt.MouseButton.LeftButton)
    await wait_for(lambda: not console.window.showing_gate())


def reauth_dialog(console) -> ReauthDialog | None:
    return console.window.findChild(ReauthDialog, "reauth_dialog")


def test_an_ended_server_session_asks_to_sign_in_again_and_keeps_the_work(
    run, qtbot, signed_in, server, wait_for
):
    console, staff = signed_in

    async def scenario():
        async with running(console):
            await sign_in(qtbot, console, staff, wait_for)
            session = console.sessions.current
            await asyncio.to_thread(set_active, server.settings, staff.user_id, False)
            with pytest.raises(SessionEnded):
                await session.request("GET", "/api/v1/auth/me")
            await wait_for(lambda: reauth_dialog(console) is not None and reauth_dialog(console).isVisible())
            dialog = reauth_dialog(console)
            assert "session with the server has ended" in dialog.reason.text()
            assert not console.window.showing_gate()  # the workspaces stay behind the dialog
            assert "Sign-in needed" in console.window.account.text()
            assert not session.vault.closed

            # A wrong password is said in the dialog, which stays.
            await asyncio.to_thread(set_active, server.settings, staff.user_id, True)
            type_into(qtbot, dialog.password, "not the password")
            type_into(qtbot, dialog.totp_code, staff.next_code())
            qtbot.mouseClick(dialog.sign_in_button, Qt.MouseButton.LeftButton)
            await wait_for(lambda: dialog.message.isVisibleTo(dialog))
            assert dialog.message.text() == "The username, password or authentication code is wrong."
            assert dialog.isVisible()

            type_into(qtbot, dialog.password, staff.password)
            type_into(qtbot, dialog.totp_code, staff.next_code())
            qtbot.mouseClick(dialog.sign_in_button, Qt.MouseButton.LeftButton)
            await wait_for(lambda: session.online)
            await wait_for(lambda: reauth_dialog(console) is None or not reauth_dialog(console).isVisible())
            assert console.sessions.current is session
            assert "Online session" in console.window.account.text()
            assert (await session.request("GET", "/api/v1/auth/me")).status_code == 200

    run(scenario())


def test_keeping_working_offline_and_signing_out_from_the_dialog(run, qtbot, signed_in, server, wait_for):
    console, staff = signed_in

    async def scenario():
        async with running(console):
            await sign_in(qtbot, console, staff, wait_for)
            session = console.sessions.current
            await asyncio.to_thread(set_active, server.settings, staff.user_id, False)
            with pytest.raises(SessionEnded):
                await session.request("GET", "/api/v1/auth/me")
            await wait_for(lambda: reauth_dialog(console) is not None)
            qtbot.mouseClick(reauth_dialog(console).later_button, Qt.MouseButton.LeftButton)
            await wait_for(lambda: reauth_dialog(console) is None)
            assert not console.window.showing_gate()
            assert console.window.sign_in_again_action.isEnabled()

            console.window.sign_in_again_action.trigger()
            dialog = reauth_dialog(console)
            assert dialog is not None
            qtbot.mouseClick(dialog.sign_out_button, Qt.MouseButton.LeftButton)
            await wait_for(lambda: console.window.showing_gate())
            assert console.signin.screen.message.text() == "You have signed out."
            assert session.vault.closed
            assert session.vault.directory.exists()

    run(scenario())


def test_a_revoked_computer_is_wiped_and_returns_to_sign_in_with_the_reason(
    run, qtbot, signed_in, server, wait_for
):
    console, staff = signed_in

    async def scenario():
        async with running(console):
            open_to_everyone = console.window.workspace_titles()
            await sign_in(qtbot, console, staff, wait_for)
            session = console.sessions.current
            directory = session.vault.directory
            await asyncio.to_thread(revoke_device, server.settings, session.identity.device_id)
            with pytest.raises(SessionEnded):
                await session.request("GET", "/api/v1/auth/me")
            await wait_for(lambda: console.window.showing_gate())
            message = console.signin.screen.message.text()
            assert "revoked this computer" in message
            assert "removed" in message
            assert not directory.exists()
            assert console.sessions.current is None
            assert console.window.workspace_titles() == open_to_everyone

    run(scenario())
