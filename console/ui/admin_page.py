"""The administrator's workspace: staff accounts, devices, branches, roles and recent security
events, all read from and changed on the server (console/admin/api.py).

Administration is online only.  Without an online session the page says so and every action
is disabled; when the session comes back it reads everything again.  Every request runs
through ``context.operations``; a refusal or a lost server is shown as a message on the page
(or in the open form), never raised.  Nothing here shows customers' information: the admin
API has none to give."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

import shiboken6
from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QPushButton, QTabWidget, QVBoxLayout, QWidget

from console.admin.api import AdminAPI, Branch, Device, EnrollmentCode, Overview, StaffUser, UserDetail
from console.admin.describe import NEEDS_SERVER, explain
from console.auth.roles import shell_roles
from console.auth.session import Session, SessionEnded
from console.changes import Changes, Topic
from console.context import ShellContext
from console.net.errors import NoServerAvailable, ServerUnreachable
from console.state import LinkStatus
from console.ui.admin_branches import BranchesTab
from console.ui.admin_code import EnrollmentCodeDialog
from console.ui.admin_devices import DevicesPanel
from console.ui.admin_dialogs import BranchDialog, ConfirmDialog, NewUserDialog
from console.ui.admin_events import EventsTab
from console.ui.admin_roles import RolesTab
from console.ui.admin_users import UsersTab
from console.ui.dialogs import dialog_result
from console.ui.format import utc_clock
from console.ui.style import ERROR_BANNER, WARNING_BANNER
from console.ui.workspaces import Role

T = TypeVar("T")

INFO_BANNER = "QLabel { background: #dafbe1; color: #0a3622; border: 1px solid #4ac26b; padding: 8px; }"
USERS, DEVICES, BRANCHES, ROLES, EVENTS = range(5)


class AdminPage(QWidget):
    def __init__(self, context: ShellContext) -> None:
        super().__init__()
        self.setObjectName("admin_page")
        self._context = context
        self._known: Session | None = None  # the session whose data is shown
        self._session: Session | None = None  # the same, while it is online
        self._generation = 0
        self._stale = False
        self.overview: Overview | None = None
        self.read_at: dt.datetime | None = None
        self.dialog: QDialog | None = None  # the form or confirmation open now
        self.code_dialog: EnrollmentCodeDialog | None = None
        self._dialogs: set[QDialog] = set()

        heading = QLabel("Administration")
        heading.setObjectName("admin_heading")
        font = heading.font()
        font.setPointSize(font.pointSize() + 2)
        font.setBold(True)
        heading.setFont(font)
        self.read_label = QLabel()
        self.read_label.setObjectName("admin_read_at")
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setObjectName("admin_refresh")
        self.offline = QLabel()
        self.offline.setObjectName("admin_offline")
        self.offline.setWordWrap(True)
        self.offline.setStyleSheet(WARNING_BANNER)
        self.notice = QLabel()
        self.notice.setObjectName("admin_notice")
        self.notice.setWordWrap(True)
        self.notice.hide()

        self.users = UsersTab()
        self.devices = DevicesPanel(
            "all_devices",
            with_user=True,
            intro="Every computer enrolled by a member of staff. A revoked device cannot sign in again.",
        )
        devices_tab = QWidget()
        QVBoxLayout(devices_tab).addWidget(self.devices)
        self.branches = BranchesTab()
        self.roles = RolesTab()
        self.events = EventsTab()
        self.tabs = QTabWidget()
        self.tabs.setObjectName("admin_tabs")
        self.tabs.addTab(self.users, "Staff accounts")
        self.tabs.addTab(devices_tab, "Devices")
        self.tabs.addTab(self.branches, "Branches")
        self.tabs.addTab(self.roles, "Roles")
        self.tabs.addTab(self.events, "Security events")

        title = QHBoxLayout()
        title.addWidget(heading)
        title.addStretch(1)
        title.addWidget(self.read_label)
        title.addWidget(self.refresh_button)
        layout = QVBoxLayout(self)
        layout.addLayout(title)
        layout.addWidget(self.offline)
        layout.addWidget(self.notice)
        layout.addWidget(self.tabs, 1)

        self.refresh_button.clicked.connect(self.refresh)
        self.users.new_requested.connect(self.new_user)
        self.users.selected.connect(self._user_chosen)
        self.users.detail.disable_requested.connect(self.disable_user)
        self.users.detail.enable_requested.connect(self.enable_user)
        self.users.detail.reset_requested.connect(self.reset_mfa)
        self.users.detail.devices.revoke_requested.connect(self.revoke_device)
        self.devices.revoke_requested.connect(self.revoke_device)
        self.branches.new_requested.connect(self.new_branch)
        context.sessions.changed.connect(self._session_changed)
        context.operations.changed.connect(self._on_changed)
        self._session_changed()

    # --- the session -------------------------------------------------------------------

    @property
    def online(self) -> bool:
        return self._session is not None

    def _session_changed(self) -> None:
        session = self._context.sessions.current
        if session is not None and session.closed:
            session = None
        if session is not self._known or not _administers(session):
            # Someone else, or no administrator: the shell is about to destroy this page.
            self._close_dialogs()
        if session is not self._known:
            self._known = session
            self._generation += 1
            self._show_overview(None)
            self.show_notice(None)
        usable = session if session is not None and session.online else None
        came_back = usable is not None and usable is not self._session
        self._session = usable
        self.users.detail.set_self(session.identity.user_id if session is not None else None)
        self._show_state()
        if came_back:
            self.refresh()

    def _show_state(self) -> None:
        online = self.online
        for part in (self.users, self.devices, self.branches):
            part.set_online(online)
        self.refresh_button.setEnabled(online)
        if online:
            self.offline.hide()
        else:
            known = self._known is not None
            how = (
                "Sign in to the server (Console ▸ Sign in to the server…) to continue."
                if known
                else "Sign in to use it."
            )
            shown = (
                f" What is listed was read at {utc_clock(self.read_at)}."
                if known and self.read_at is not None
                else ""
            )
            self.offline.setText(f"{NEEDS_SERVER} {how}{shown}")
            self.offline.show()

    def _on_changed(self, changes: Changes) -> None:
        if (
            self._stale
            and self.online
            and changes.touches(Topic.CONNECTION)
            and self._context.connection.status in (LinkStatus.ONLINE, LinkStatus.SYNCING)
        ):
            self.refresh()

    def show_notice(self, text: str | None, *, error: bool = False) -> None:
        self.notice.setText(text or "")
        self.notice.setStyleSheet(ERROR_BANNER if error else INFO_BANNER)
        self.notice.setVisible(bool(text))

    # --- talking to the server ---------------------------------------------------------

    def _call(
        self,
        work: Callable[[AdminAPI], Awaitable[T]],
        on_success: Callable[[T], None],
        *,
        form: NewUserDialog | BranchDialog | None = None,
    ) -> bool:
        """Run ``work`` with the online session; False when there is none (a form says why)."""
        session = self._session
        if session is None or not session.online:
            if form is not None:  # the page's banner says it already
                self._failed_message(f"{NEEDS_SERVER} Sign in to the server to continue.", form)
            return False
        generation = self._generation
        api = AdminAPI(session)

        def succeeded(result: T) -> None:
            if self._current(generation):
                on_success(result)

        def failed(error: Exception) -> None:
            message = explain(error)
            if message is None:
                raise error  # a bug: the crash handler logs its type and stack, never its message
            if not self._current(generation):
                return
            if isinstance(error, ServerUnreachable | NoServerAvailable):
                self._stale = True
            if isinstance(error, SessionEnded) and form is None:
                self.show_notice(None)  # the offline banner says what to do
                return
            self._failed_message(message, form)

        self._context.operations.run(lambda: work(api), on_success=succeeded, on_failure=failed)
        return True

    def _current(self, generation: int) -> bool:
        return shiboken6.isValid(self) and generation == self._generation

    def _failed_message(self, message: str, form: NewUserDialog | BranchDialog | None) -> None:
        if form is not None and shiboken6.isValid(form) and form.isVisible():
            form.show_error(message)
        else:
            self.show_notice(message, error=True)

    def _open(self, dialog: QDialog, then: Callable[[bool], None] | None = None) -> None:
        async def shown() -> bool:
            self._dialogs.add(dialog)
            try:
                return await dialog_result(dialog) == QDialog.DialogCode.Accepted
            finally:
                self._dialogs.discard(dialog)
                dialog.deleteLater()

        self._context.operations.run(shown, on_success=then)

    def _close_dialogs(self) -> None:
        """Finish every open dialog (clearing a shown enrollment code) before the page goes.
        Each is taken off the page first: deleted with it, before its ``dialog_result`` had
        seen it finish, it would be touched after deletion."""
        for dialog in list(self._dialogs):
            if shiboken6.isValid(dialog):
                dialog.setParent(None)
                dialog.reject()

    # --- reading -----------------------------------------------------------------------

    def refresh(self) -> None:
        def read(overview: Overview) -> None:
            self._stale = False
            self.read_at = dt.datetime.now(dt.UTC)
            self._show_overview(overview)

        self._call(lambda api: api.overview(), read)

    def _show_overview(self, overview: Overview | None) -> None:
        self.overview = overview
        if overview is None:
            self.read_at = None
        users = overview.users if overview else ()
        branches = overview.branches if overview else ()
        devices = overview.devices if overview else ()
        usernames = {user.id: user.username for user in users}
        self.users.show_users(users, branches)
        self.devices.show_devices(devices, usernames)
        self.branches.show_branches(branches, users)
        self.roles.show_roles(overview.roles if overview else ())
        self.events.show_events(
            overview.events if overview else (), usernames, {device.id: device.name for device in devices}
        )
        self.read_label.setText(f"Read {utc_clock(self.read_at)}" if self.read_at else "")
        self.refresh_button.setEnabled(self.online)

    def _user_chosen(self, user: StaffUser | None) -> None:
        if user is None:
            self.users.show_detail(None, ())
            return
        known = self.overview.devices if self.overview else ()
        self.users.show_detail(user, [device for device in known if device.user_id == user.id])
        if not self.online:
            return

        def fresh(detail: UserDetail) -> None:
            chosen = self.users.selected_user()
            if chosen is not None and chosen.id == detail.user.id:
                self.users.show_detail(detail.user, detail.devices)

        self._call(lambda api: api.user_detail(user.id), fresh)

    def _changed(self, message: str, *, select: uuid.UUID | None = None) -> None:
        """A change was made: say so and read everything again, keeping the account chosen."""
        self.show_notice(message)
        shown = self.users.selected_user()
        chosen = select or (shown.id if shown is not None else None)

        def read(overview: Overview) -> None:
            self.read_at = dt.datetime.now(dt.UTC)
            self._show_overview(overview)
            if chosen is not None:
                self.users.select(chosen)

        self._call(lambda api: api.overview(), read)

    # --- accounts ----------------------------------------------------------------------

    def new_user(self) -> NewUserDialog | None:
        if not self.online or self.overview is None:
            return None
        roles = [role.name for role in self.overview.roles]
        dialog = NewUserDialog(self.overview.branches, roles, parent=self)
        self.dialog = dialog

        def submit() -> None:
            staff = dialog.values()
            self._call(
                lambda api: api.create_user(
                    username=staff.username,
                    display_name=staff.display_name,
                    branch_id=staff.branch_id,
                    roles=staff.roles,
                ),
                lambda answer: self._user_created(dialog, answer),
                form=dialog,
            )

        dialog.submitted.connect(submit)
        self._open(dialog)
        return dialog

    def _user_created(self, dialog: NewUserDialog, answer: EnrollmentCode) -> None:
        if shiboken6.isValid(dialog):
            dialog.accept()
        self.tabs.setCurrentIndex(USERS)
        self._show_code(answer, f"Account {answer.user.username} created")
        self._changed(f"Created the account {answer.user.username}.", select=answer.user.id)

    def _show_code(self, answer: EnrollmentCode, heading: str) -> None:
        dialog = EnrollmentCodeDialog(answer, heading, parent=self)
        self.code_dialog = dialog
        self._open(dialog)

    def disable_user(self, user: StaffUser) -> ConfirmDialog:
        return self._confirm(
            ConfirmDialog(
                "Disable account",
                f"Disable {user.display_name} ({user.username})? Their sessions end at once and they "
                "cannot sign in until the account is enabled again. Their work stays on the computers "
                "they used.",
                "Disable",
                self,
            ),
            lambda: self._call(
                lambda api: api.disable(user.id),
                lambda done: self._changed(f"Disabled the account {done.username}; its sessions ended."),
            ),
        )

    def enable_user(self, user: StaffUser) -> ConfirmDialog:
        return self._confirm(
            ConfirmDialog(
                "Enable account",
                f"Enable {user.display_name} ({user.username})? They can sign in again with their "
                "password and authenticator.",
                "Enable",
                self,
            ),
            lambda: self._call(
                lambda api: api.enable(user.id),
                lambda done: self._changed(f"Enabled the account {done.username}."),
            ),
        )

    def reset_mfa(self, user: StaffUser) -> ConfirmDialog:
        def reset(answer: EnrollmentCode) -> None:
            self._show_code(answer, f"MFA reset for {answer.user.username}")
            self._changed(f"Reset MFA for {answer.user.username}; its sessions ended.")

        return self._confirm(
            ConfirmDialog(
                "Reset MFA",
                f"Reset {user.display_name}'s ({user.username}) sign-in? Their password, authenticator "
                "and recovery codes stop working and their sessions end at once. You will be shown a "
                "new enrollment code, once, to give them in person.",
                "Reset MFA",
                self,
            ),
            lambda: self._call(lambda api: api.reset_mfa(user.id), reset),
        )

    # --- devices -----------------------------------------------------------------------

    def revoke_device(self, device: Device) -> ConfirmDialog:
        owner = self.users.usernames().get(device.user_id, "its owner")
        return self._confirm(
            ConfirmDialog(
                "Revoke device",
                f"Revoke “{device.name}” of {owner}? Its sessions end at once, it can never sign in "
                "again, and it wipes its local data the next time it reaches the server. Its owner "
                "can enroll the computer again as a new device.",
                "Revoke",
                self,
            ),
            lambda: self._call(
                lambda api: api.revoke_device(device.id),
                lambda done: self._changed(f"Revoked the device “{done.name}” of {owner}."),
            ),
        )

    # --- branches ----------------------------------------------------------------------

    def new_branch(self) -> BranchDialog | None:
        if not self.online:
            return None
        dialog = BranchDialog(parent=self)
        self.dialog = dialog

        def created(branch: Branch) -> None:
            if shiboken6.isValid(dialog):
                dialog.accept()
            self._changed(f"Created the branch {branch.code} ({branch.name}).")

        def submit() -> None:
            branch = dialog.values()
            self._call(
                lambda api: api.create_branch(code=branch.code, name=branch.name, region=branch.region),
                created,
                form=dialog,
            )

        dialog.submitted.connect(submit)
        self._open(dialog)
        return dialog

    def _confirm(self, dialog: ConfirmDialog, then: Callable[[], object]) -> ConfirmDialog:
        def answered(accepted: bool) -> None:
            if accepted:
                then()

        self.dialog = dialog
        self._open(dialog, answered)
        return dialog


def _administers(session: Session | None) -> bool:
    return session is not None and Role.ADMIN in shell_roles(session.identity.roles)


def admin_page(context: ShellContext) -> AdminPage:
    return AdminPage(context)
