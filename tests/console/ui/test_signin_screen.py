"""The sign-in screen driven with pytest-qt against a real server: signing in shows the
workspaces of the user's roles and who is signed in; failures say why and keep what was
typed; without the server the password opens the console offline, and says so."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from keyring.backends import fail
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWidget

from console import app
from console.ui.signin_screen import SignInScreen
from console.ui.workspaces import Role, Workspace
from testkit.auth import provision
from testkit.console import console_for, installed_keyring, start_auth_server


@pytest.fixture(autouse=True)
def no_keyring():
    with installed_keyring(fail.Keyring()):
        yield


@pytest.fixture
def teller_workspace(monkeypatch):
    """A teller workspace beside the server page, to see the navigation follow the roles."""
    teller = Workspace("teller", "Teller", lambda context: QLabel("teller work"), frozenset({Role.TELLER}))
    monkeypatch.setattr(app, "SHELL_WORKSPACES", (*app.SHELL_WORKSPACES, teller))


@pytest.fixture
def server(tmp_path):
    running = start_auth_server(tmp_path / "server")
    holder = {"server": running}
    yield holder
    if holder["server"] is not None:
        holder["server"].stop()


@pytest.fixture
def make_console(qloop, tmp_path):
    unexpected: list[BaseException] = []

    def make(server):
        return console_for(qloop, server, tmp_path / "profile", unexpected)

    yield make
    assert unexpected == []


@contextlib.asynccontextmanager
async def running(console):
    console.start()
    try:
        yield console
    finally:
        await console.aclose()


def widget(console, kind, name):
    found = console.window.findChild(kind, name)
    assert found is not None, name
    return found


def type_into(qtbot, edit, text: str) -> None:
    edit.clear()
    qtbot.keyClicks(edit, text)


def sign_in(qtbot, console, username, password, code) -> None:
    screen = console.signin.screen
    type_into(qtbot, screen.username, username)
    type_into(qtbot, screen.password, password)
    if code is not None:
        type_into(qtbot, screen.totp_code, code)
    qtbot.mouseClick(screen.sign_in_button, Qt.MouseButton.LeftButton)


def test_signing_in_opens_the_roles_workspaces_and_signing_out_returns(
    run, qtbot, server, make_console, teller_workspace, wait_for
):
    running_server = server["server"]
    staff = provision(running_server.settings, "thandi", ("teller",))
    console = make_console(running_server)

    async def scenario():
        async with running(console):
            window = console.window
            screen = console.signin.screen
            assert window.showing_gate()
            open_to_everyone = window.workspace_titles()
            assert "Server" in open_to_everyone
            assert "Teller" not in open_to_everyone
            assert not window.sign_out_action.isEnabled()
            assert window.account.text() == "Not signed in"
            await wait_for(lambda: screen.keyring_notice.isVisibleTo(window))  # checked off the GUI thread
            type_into(qtbot, screen.username, "thandi")
            assert screen.device_name.isVisibleTo(window)  # not yet enrolled on this computer
            type_into(qtbot, screen.device_name, "Counter 4")

            sign_in(qtbot, console, "thandi", staff.password, staff.next_code())
            assert screen.sign_in_button.text() == "Signing in…"
            await wait_for(lambda: not window.showing_gate())
            assert "Teller" in window.workspace_titles()
            assert window.windowTitle() == "Kluis Console — thandi (test) (JHB01)"
            assert window.sign_out_action.isEnabled()
            assert not window.sign_in_again_action.isEnabled()
            badge = window.account.text()
            assert "thandi (test)" in badge
            assert "Teller" in badge
            assert "JHB01" in badge
            assert "Online session" in badge
            assert "your password alone protects the vault" in window.account.toolTip()
            assert "no usable OS keyring" in window.notice.text()
            qtbot.mouseClick(window.dismiss_notice, Qt.MouseButton.LeftButton)
            assert not window.notice_bar.isVisible()
            session = console.sessions.current
            assert session is not None
            assert session.online
            assert (await session.request("GET", "/api/v1/auth/me")).status_code == 200

            window.sign_out_action.trigger()
            await wait_for(lambda: window.showing_gate())
            assert screen.message.text() == "You have signed out."
            assert screen.password.text() == ""
            assert screen.username.text() == "thandi"
            assert not screen.device_name.isVisibleTo(window)  # enrolled now
            assert window.workspace_titles() == open_to_everyone
            assert window.windowTitle() == "Kluis Console"
            assert console.sessions.current is None
            assert session.vault.closed

    run(scenario())


def test_a_wrong_password_says_so_and_keeps_what_was_typed(run, qtbot, server, make_console, wait_for):
    running_server = server["server"]
    staff = provision(running_server.settings, "thandi", ("teller",))
    console = make_console(running_server)

    async def scenario():
        async with running(console):
            screen = console.signin.screen
            sign_in(qtbot, console, "thandi", "not the password", staff.next_code())
            await wait_for(lambda: screen.message.isVisibleTo(console.window))
            assert screen.message.text() == "The username, password or authentication code is wrong."
            assert screen.username.text() == "thandi"
            assert screen.password.text() == "not the password"
            assert screen.totp_code.text() == ""
            assert screen.sign_in_button.isEnabled()
            assert console.window.showing_gate()

            type_into(qtbot, screen.password, "")
            qtbot.mouseClick(screen.sign_in_button, Qt.MouseButton.LeftButton)
            assert screen.message.text() == "Enter your username and password."

    run(scenario())


def test_without_the_server_the_password_opens_the_console_offline(
    run, qtbot, server, make_console, wait_for
):
    running_server = server["server"]
    staff = provision(running_server.settings, "thandi", ("teller",))
    console = make_console(running_server)

    async def scenario():
        async with running(console):
            window = console.window
            sign_in(qtbot, console, "thandi", staff.password, staff.next_code())
            await wait_for(lambda: not window.showing_gate())
            window.sign_out_action.trigger()
            await wait_for(lambda: window.showing_gate())

            await asyncio.to_thread(running_server.stop)
            server["server"] = None
            await wait_for(lambda: widget(console, QLabel, "link_status").text() == "Offline")
            sign_in(qtbot, console, "thandi", staff.password, None)
            await wait_for(lambda: not window.showing_gate())
            assert "Offline unlock until" in window.account.text()
            assert "could not be reached" in window.notice.text()
            assert window.sign_in_again_action.isEnabled()
            assert console.sessions.current is not None
            assert not console.sessions.current.online
            assert widget(console, QLabel, "link_status").text() == "Offline"

    run(scenario())


def test_the_recovery_code_field_replaces_the_authenticator_code(run, qtbot, server, make_console):
    console = make_console(server["server"])

    async def scenario():
        async with running(console):
            screen = console.signin.screen
            window: QWidget = console.window
            assert screen.totp_code.isVisibleTo(window)
            assert not screen.recovery_code.isVisibleTo(window)
            qtbot.mouseClick(screen.toggle_code, Qt.MouseButton.LeftButton)
            assert screen.recovery_code.isVisibleTo(window)
            assert not screen.totp_code.isVisibleTo(window)
            assert screen.toggle_code.text() == "Use the authenticator code instead"

    run(scenario())


def test_the_previous_password_is_asked_for_only_when_the_vault_needs_it(qtbot):
    screen = SignInScreen(lambda username: True)
    qtbot.addWidget(screen)
    screen.show()
    submitted = []
    screen.submitted.connect(submitted.append)
    assert not screen.previous_password.isVisible()
    screen.failed("The password does not open this computer's vault.", ask_previous_password=True)
    assert screen.previous_password.isVisible()
    type_into(qtbot, screen.username, "thandi")  # another user: the question no longer applies
    assert not screen.previous_password.isVisible()
    screen.failed("again", ask_previous_password=True)
    type_into(qtbot, screen.password, "the new passphrase")
    type_into(qtbot, screen.previous_password, "the old passphrase")
    type_into(qtbot, screen.totp_code, "123456")
    qtbot.mouseClick(screen.sign_in_button, Qt.MouseButton.LeftButton)
    (form,) = submitted
    assert form.previous_password == "the old passphrase"
    assert form.password == "the new passphrase"
    assert "passphrase" not in repr(form)
    screen.reset()
    assert not screen.previous_password.isVisible()
    assert screen.previous_password.text() == ""
