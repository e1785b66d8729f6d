"""The administrator's workspace driven with pytest-qt on a real signed-in administrator's
session against a real server over TLS: accounts listed and filtered, an account created and
its enrollment code shown once (and nowhere else), disable and enable and MFA reset behind a
confirmation, devices revoked so the server refuses them, branches created, roles and security
events listed; offline the page says it needs the server and disables every action, and it
reads everything again when the session is back; refusals and a vanished server are messages.
Only administrators are offered the workspace."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import shiboken6
from keyring.backends import fail
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QDialogButtonBox, QLabel

from console import app
from console.admin.api import EVENT_LIMIT
from console.auth.api import IdentityAPI
from console.auth.session import SessionEnded
from console.auth.sessions import Sessions
from console.context import ShellContext
from console.monitor import ServerMonitor
from console.state import ConnectionState, Outbox
from console.ui.admin_page import BRANCHES, DEVICES, EVENTS, ROLES, AdminPage
from console.ui.shell import MainWindow
from server.auth.accounts import account_by_username, branch_by_code
from testkit.console import installed_keyring, set_active
from testkit.console_sync import Consoles

ME = "/api/v1/auth/me"
PAGE_PATHS = ("/api/v1/admin/", "/api/v1/security-events")


@pytest.fixture(autouse=True)
def no_keyring() -> Iterator[None]:
    with installed_keyring(fail.Keyring()):
        yield


def shell_context(consoles: Consoles, sessions: Sessions) -> ShellContext:
    operations = consoles.operations
    connection = ConnectionState(operations.notify, consoles.server.base_url, "SHA256:00")
    monitor = ServerMonitor(operations, consoles.client, connection)
    return ShellContext(operations, consoles.client, connection, Outbox(operations.notify), monitor, sessions)


class Desk:
    """A signed-in administrator's workspace, as the shell builds it, and a teller to manage."""

    def __init__(self, consoles: Consoles, admin, teller) -> None:
        self.consoles = consoles
        self.admin = admin
        self.teller = teller
        self.sessions = Sessions()
        self.context = shell_context(consoles, self.sessions)
        self.sessions.start(admin.session)
        self.page = AdminPage(self.context)

    async def loaded(self) -> None:
        """The page's first reading of the server has arrived."""
        await until(lambda: self.page.overview is not None)

    def sent_since(self, mark: int) -> list[str]:
        return [path for _, path, _ in self.consoles.client.sent[mark:]]


@pytest.fixture
def with_desk(qloop, run, qtbot, server, tmp_path: Path):
    """``with_desk(scenario)``: an administrator (ada, branch HO) and a teller (thandi, JHB01)
    signed in, the admin workspace built; run ``scenario(desk)`` and close everything, all in
    one run of the loop."""

    def go(scenario) -> None:
        consoles = Consoles(qloop, server, tmp_path / "consoles")

        async def whole() -> None:
            try:
                admin = await consoles.sign_in(await consoles.staff("ada", "admin", branch_code="HO"))
                teller = await consoles.sign_in(await consoles.staff("thandi", "teller"))
                desk = Desk(consoles, admin, teller)
                qtbot.addWidget(desk.page)
                await scenario(desk)
            finally:
                await consoles.aclose()

        run(whole(), timeout=240)
        assert consoles.unexpected == []
        refused = [(method, path) for method, path, status in consoles.client.sent if status == 403]
        assert refused == []  # an administrator is refused nothing an administrator may do

    return go


async def until(predicate, timeout: float = 30.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)


def closed(dialog) -> bool:
    return not shiboken6.isValid(dialog) or not dialog.isVisible()


async def confirm(dialog) -> None:
    await until(dialog.isVisible)
    dialog.confirm.click()
    await until(lambda: closed(dialog))


async def on_server(server, coroutine):
    return await asyncio.to_thread(server.run, coroutine)


async def account(server, username: str):
    async def read():
        async with server.server.database.transaction() as connection:
            return await account_by_username(connection, username)

    return await on_server(server, read())


def rows(table) -> list[list[str]]:
    model = table.model()
    return [
        [str(model.index(row, column).data() or "") for column in range(model.columnCount())]
        for row in range(model.rowCount())
    ]


def column(table, title: str) -> list[str]:
    model = table.model()
    titles = [model.headerData(number, Qt.Orientation.Horizontal) for number in range(model.columnCount())]
    number = titles.index(title)
    return [row[number] for row in rows(table)]


def test_accounts_are_listed_and_filtered_with_roles_branches_devices_and_events(with_desk):
    async def scenario(desk):
        page, users = desk.page, desk.page.users
        mark = len(desk.consoles.client.sent)
        await desk.loaded()
        assert page.offline.isHidden()
        assert column(users.table, "Username") == ["ada", "thandi"]
        thandi = rows(users.table)[1]
        assert thandi[1:] == ["thandi (test)", "JHB01", "Teller", "Active", "Enrolled"]
        assert users.count.text() == "2 of 2 accounts"

        users.search.setText("THAN")
        assert column(users.table, "Username") == ["thandi"]
        users.search.setText("")
        users.branch.setCurrentIndex(users.branch.findText("HO", Qt.MatchFlag.MatchStartsWith))
        assert column(users.table, "Username") == ["ada"]
        users.branch.setCurrentIndex(0)
        users.state.setCurrentIndex(users.state.findText("Disabled"))
        assert column(users.table, "Username") == []
        users.state.setCurrentIndex(0)

        users.select(desk.teller.session.identity.user_id)
        detail = users.detail
        assert detail.title.text() == "thandi (test)"
        assert detail.values["roles"].text() == "Teller"
        assert detail.values["mfa"].text() == "Enrolled"
        await until(
            lambda: any(path.startswith("/api/v1/admin/devices?user_id=") for path in desk.sent_since(mark))
        )
        await until(lambda: desk.context.operations.running == 0)
        assert column(detail.devices.table, "Device") == ["Headless desk"]
        assert detail.toggle_button.text() == "Disable…"
        assert detail.toggle_button.isEnabled()
        assert detail.own_account.isHidden()
        users.select(desk.admin.session.identity.user_id)  # one's own account is another admin's job
        assert not detail.toggle_button.isEnabled()
        assert not detail.reset_button.isEnabled()
        assert not detail.own_account.isHidden()

        assert column(page.devices.table, "Account") == ["ada", "thandi"]
        assert set(column(page.devices.table, "State")) == {"Active"}
        assert column(page.branches.table, "Code") == ["HO", "JHB01"]
        assert column(page.branches.table, "Staff accounts") == ["1", "1"]
        roles = page.roles.table.model()
        titles = [
            roles.headerData(number, Qt.Orientation.Horizontal) for number in range(roles.columnCount())
        ]
        assert [title.replace("\n", " ") for title in titles[1:7]] == [
            "Teller",
            "Supervisor",
            "Compliance officer",
            "Information officer",
            "Auditor",
            "Administrator",
        ]
        matrix = {row[0]: row[1:7] for row in rows(page.roles.table)}
        assert matrix["users.manage"] == ["", "", "", "", "", "✓"]
        assert matrix["customers.create"] == ["✓", "", "", "", "", ""]
        events = page.overview.events
        assert 0 < len(events) <= EVENT_LIMIT
        assert [event.sequence for event in events] == sorted((e.sequence for e in events), reverse=True)
        assert rows(page.events.table)[0][0] >= rows(page.events.table)[-1][0]  # newest first
        assert "thandi" in column(page.events.table, "Account")
        for tab in (DEVICES, BRANCHES, ROLES, EVENTS):
            page.tabs.setCurrentIndex(tab)
        # Segregation of duties: the workspace asks the server for nothing but administration.
        assert desk.sent_since(mark)
        assert all(path.startswith(PAGE_PATHS) for path in desk.sent_since(mark))

    with_desk(scenario)


def test_a_new_account_gets_its_enrollment_code_shown_once_and_kept_nowhere(with_desk, caplog, tmp_path):
    caplog.set_level(logging.DEBUG)

    async def scenario(desk):
        page = desk.page
        await desk.loaded()
        dialog = page.new_user()
        assert dialog is not None
        await until(dialog.isVisible)
        dialog.ok.click()
        assert "username needs 3 to 64 characters" in dialog.error.text()
        dialog.username.setText("Nomsa.Dube")
        dialog.display_name.setText("  Nomsa   Dube ")
        dialog.branch.setCurrentIndex(dialog.branch.findData(str(desk.teller.session.identity.branch_id)))
        dialog.ok.click()
        assert dialog.error.text() == "Choose at least one role."
        assert "password" not in " ".join(box.text().lower() for box in dialog.role_boxes.values())
        dialog.role_boxes["teller"].setChecked(True)
        dialog.ok.click()
        await until(lambda: page.code_dialog is not None and page.code_dialog.isVisible())
        assert closed(dialog)
        shown = page.code_dialog
        code = shown.code.text()
        assert len(code) >= 16
        assert shown.code.isReadOnly()
        assert "<b>nomsa.dube</b>" in shown.findChild(QLabel, "code_for_whom").text()
        assert "shown only now" in shown.findChild(QLabel, "code_once").text()

        stored = await account(desk.consoles.server, "nomsa.dube")
        assert stored is not None
        assert stored.display_name == "Nomsa Dube"
        assert stored.branch.code == "JHB01"
        assert (stored.mfa_enrolled, stored.enrollment_pending) == (False, True)
        started = await IdentityAPI(desk.consoles.client).start_enrollment("nomsa.dube", code)
        assert started.username == "nomsa.dube"  # the code shown is the account's real code

        shown.copy.click()
        assert QGuiApplication.clipboard().text() == code
        shown.buttons.button(QDialogButtonBox.StandardButton.Close).click()
        await until(lambda: closed(shown))
        assert QGuiApplication.clipboard().text() == ""  # closing took the code off the clipboard
        if shiboken6.isValid(shown):
            assert shown.code.text() == ""

        await until(lambda: "nomsa.dube" in column(page.users.table, "Username"))
        assert page.users.selected_user().username == "nomsa.dube"
        assert page.users.detail.values["mfa"].text() == "Not enrolled (code issued)"
        assert page.notice.text() == "Created the account nomsa.dube."

        again = page.new_user()
        await until(again.isVisible)
        again.username.setText("nomsa.dube")
        again.display_name.setText("Another Nomsa")
        again.role_boxes["auditor"].setChecked(True)
        again.ok.click()
        await until(lambda: "That username is taken." in again.error.text())
        assert again.isVisible()  # the form stays open to correct
        assert again.ok.isEnabled()
        again.reject()
        await until(lambda: closed(again))

        assert code not in caplog.text
        for path in (tmp_path / "consoles").rglob("*"):
            if path.is_file():
                assert code.encode() not in path.read_bytes(), path

    with_desk(scenario)


def test_disable_enable_and_reset_mfa_ask_first_and_change_the_server(with_desk):
    async def scenario(desk):
        page, detail = desk.page, desk.page.users.detail
        server = desk.consoles.server
        await desk.loaded()
        thandi = desk.teller.session.identity.user_id
        page.users.select(thandi)
        assert detail.user.id == thandi

        detail.toggle_button.click()
        asked = page.dialog
        await until(asked.isVisible)
        assert "Disable thandi (test) (thandi)?" in asked.text.text()
        asked.reject()
        await until(lambda: closed(asked))
        await asyncio.sleep(0.2)
        assert (await account(server, "thandi")).active  # cancelled: nothing was sent

        detail.toggle_button.click()
        await confirm(page.dialog)
        await until(lambda: detail.values["state"].text().startswith("Disabled since"))
        assert not (await account(server, "thandi")).active
        assert page.notice.text() == "Disabled the account thandi; its sessions ended."
        assert detail.toggle_button.text() == "Enable…"
        assert rows(page.users.table)[1][4] == "Disabled"
        with pytest.raises(SessionEnded):
            await desk.teller.session.request("GET", ME)

        detail.toggle_button.click()
        await confirm(page.dialog)
        await until(lambda: detail.values["state"].text() == "Active")
        assert (await account(server, "thandi")).active
        assert detail.toggle_button.text() == "Disable…"

        detail.reset_button.click()
        await confirm(page.dialog)
        await until(lambda: page.code_dialog is not None and page.code_dialog.isVisible())
        code = page.code_dialog.code.text()
        stored = await account(server, "thandi")
        assert (stored.mfa_enrolled, stored.enrollment_pending) == (False, True)
        started = await IdentityAPI(desk.consoles.client).start_enrollment("thandi", code)
        assert started.username == "thandi"
        page.code_dialog.reject()
        await until(lambda: detail.values["mfa"].text() == "Not enrolled (code issued)")
        kinds = [event.kind for event in page.overview.events[:3]]
        assert kinds[0] == "mfa_reset"
        assert {"user_disabled", "user_enabled"} <= {event.kind for event in page.overview.events}

    with_desk(scenario)


def test_a_revoked_device_is_refused_by_the_server(with_desk):
    async def scenario(desk):
        page = desk.page
        await desk.loaded()
        device_id = desk.teller.session.identity.device_id
        page.tabs.setCurrentIndex(DEVICES)
        panel = page.devices
        assert not panel.revoke_button.isEnabled()  # nothing chosen yet
        panel.select(device_id)
        assert panel.revoke_button.isEnabled()
        panel.revoke_button.click()
        asked = page.dialog
        await until(asked.isVisible)
        assert "“Headless desk” of thandi" in asked.text.text()
        await confirm(asked)
        await until(lambda: page.notice.text() == "Revoked the device “Headless desk” of thandi.")
        await until(lambda: "Revoked" in column(panel.table, "State"))
        panel.select(device_id)
        assert not panel.revoke_button.isEnabled()  # already revoked
        with pytest.raises(SessionEnded) as refused:
            await desk.teller.session.request("GET", ME)
        assert refused.value.reason == "revoked_device"
        teller = desk.teller
        with pytest.raises(Exception, match="device_revoked"):
            await IdentityAPI(desk.consoles.client).sign_in(
                teller.staff.username,
                teller.staff.password,
                totp_code=None,
                recovery_code=teller.staff.recovery_codes.pop(),
                device=teller.session.device,
                device_id=device_id,
                device_name=None,
            )
        page.users.select(teller.staff.user_id)
        await until(lambda: column(page.users.detail.devices.table, "State") == ["Revoked"])

    with_desk(scenario)


def test_a_new_branch_is_created_and_a_refusal_stays_in_the_form(with_desk):
    async def scenario(desk):
        page = desk.page
        await desk.loaded()
        page.tabs.setCurrentIndex(BRANCHES)
        page.branches.new_button.click()
        dialog = page.dialog
        await until(dialog.isVisible)
        dialog.code.setText("dbn02")
        dialog.name.setText("Durban Umhlanga")
        dialog.region.setText("KwaZulu-Natal")
        dialog.ok.click()
        await until(lambda: closed(dialog))
        await until(lambda: "DBN02" in column(page.branches.table, "Code"))
        assert page.notice.text() == "Created the branch DBN02 (Durban Umhlanga)."

        async def stored():
            async with desk.consoles.server.server.database.transaction() as connection:
                return await branch_by_code(connection, "DBN02")

        assert (await on_server(desk.consoles.server, stored())).region == "KwaZulu-Natal"
        again = page.new_branch()
        await until(again.isVisible)
        again.code.setText("DBN02")
        again.name.setText("Durban again")
        again.region.setText("KwaZulu-Natal")
        again.ok.click()
        await until(lambda: again.error.isVisible())
        assert again.error.text().startswith("The server refused this: A branch with that code exists.")
        again.reject()
        await until(lambda: closed(again))

    with_desk(scenario)


def test_offline_the_page_needs_the_server_and_reads_again_when_the_session_is_back(with_desk):
    async def scenario(desk):
        page, users = desk.page, desk.page.users
        session, staff = desk.admin.session, desk.admin.staff
        server = desk.consoles.server
        await desk.loaded()
        users.select(desk.teller.session.identity.user_id)
        actions = (
            users.new_button,
            users.detail.toggle_button,
            users.detail.reset_button,
            page.branches.new_button,
            page.refresh_button,
        )
        assert all(button.isEnabled() for button in actions)

        # The server ends the administrator's session (another administrator disabled them).
        await asyncio.to_thread(set_active, server.settings, staff.user_id, False)
        page.refresh()
        await until(lambda: not session.online)
        await until(lambda: page.offline.isVisibleTo(page))
        assert not page.notice.isVisibleTo(page)  # the banner says it, once
        assert page.offline.text().startswith("Administration needs the server")
        assert "Sign in to the server" in page.offline.text()
        assert not any(button.isEnabled() for button in actions)
        page.devices.select(desk.teller.session.identity.device_id)
        assert not page.devices.revoke_button.isEnabled()
        assert page.new_user() is None
        assert page.new_branch() is None
        assert column(users.table, "Username") == ["ada", "thandi"]  # what was read stays, marked

        await asyncio.to_thread(set_active, server.settings, staff.user_id, True)
        mark = len(desk.consoles.client.sent)
        answer = await IdentityAPI(desk.consoles.client).sign_in(
            staff.username,
            staff.password,
            totp_code=None,
            recovery_code=staff.recovery_codes.pop(),
            device=session.device,
            device_id=session.identity.device_id,
            device_name=None,
        )
        session.resume(answer)
        await until(lambda: "/api/v1/admin/users" in desk.sent_since(mark))  # read again by itself
        await until(lambda: not page.offline.isVisibleTo(page) and page.refresh_button.isEnabled())
        assert all(button.isEnabled() for button in actions)

    with_desk(scenario)


def test_without_a_session_the_page_says_it_needs_the_server(qloop, run, qtbot, server, tmp_path):
    consoles = Consoles(qloop, server, tmp_path / "consoles")

    async def scenario():
        try:
            page = AdminPage(shell_context(consoles, Sessions()))
            qtbot.addWidget(page)
            assert not page.offline.isHidden()
            assert page.offline.text().startswith("Administration needs the server")
            assert "Sign in to use it." in page.offline.text()
            assert not page.refresh_button.isEnabled()
            assert not page.users.new_button.isEnabled()
            assert page.new_user() is None
            await asyncio.sleep(0.2)
            assert consoles.client.sent == []
        finally:
            await consoles.aclose()

    run(scenario())
    assert consoles.unexpected == []


def test_a_server_that_vanishes_is_a_message_not_a_crash(with_desk, servers):
    async def scenario(desk):
        page, detail = desk.page, desk.page.users.detail
        await desk.loaded()
        page.users.select(desk.teller.session.identity.user_id)
        await asyncio.to_thread(servers.stop, desk.consoles.server)
        detail.toggle_button.click()
        await confirm(page.dialog)
        await until(lambda: page.notice.isVisibleTo(page))
        assert page.notice.text().startswith("Cannot reach https://localhost:")
        assert "refresh once the server is back to see whether it was made" in page.notice.text()
        assert desk.admin.session.online  # the session stands; only the server is away
        page.refresh()
        await asyncio.sleep(0.3)
        assert page.notice.text().startswith("Cannot reach")

    with_desk(scenario)


def test_only_administrators_are_offered_the_workspace(qloop, run, qtbot, server, tmp_path):
    consoles = Consoles(qloop, server, tmp_path / "consoles")
    titles: dict[str, list[str]] = {}

    async def scenario():
        try:
            for username, role in (("thandi", "teller"), ("aud", "auditor"), ("ada", "admin")):
                signed_in = await consoles.sign_in(await consoles.staff(username, role))
                sessions = Sessions()
                window = MainWindow(shell_context(consoles, sessions), app.SHELL_WORKSPACES)
                qtbot.addWidget(window)
                assert "Administration" not in window.workspace_titles()  # nobody signed in yet
                sessions.start(signed_in.session)
                titles[role] = window.workspace_titles()
                if role == "admin":
                    window.navigation.setCurrentRow(titles[role].index("Administration"))
                    page = window.workspace_area.currentWidget()
                    assert isinstance(page, AdminPage)
                    await until(lambda page=page: page.overview is not None)
                    form = page.new_user()
                    await until(form.isVisible)
                await signed_in.session.close("signed_out")
                assert "Administration" not in window.workspace_titles()
                if role == "admin":
                    await until(lambda form=form: closed(form))  # nothing typed lingers for the next person
        finally:
            await consoles.aclose()

    run(scenario(), timeout=240)
    assert consoles.unexpected == []
    assert "Administration" in titles["admin"]
    assert "Administration" not in titles["teller"]
    assert "Administration" not in titles["auditor"]
