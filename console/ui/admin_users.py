"""Staff accounts: the list with its filters (text, branch, state), and the chosen account
beside it with its actions (disable or enable, reset MFA) and its devices."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from console.admin.api import Branch, Device, StaffUser
from console.admin.describe import matches, mfa_text, roles_text, state_text
from console.ui.admin_devices import DevicesPanel
from console.ui.admin_table import Column, RecordsModel, records_table, selected_record
from console.ui.format import utc_timestamp

STATES = (("Active and disabled", None), ("Active", True), ("Disabled", False))
USER_COLUMNS = (
    Column("Username", lambda user: user.username, 160),
    Column("Display name", lambda user: user.display_name, 200),
    Column("Branch", lambda user: user.branch.code, 80, tooltip=lambda user: user.branch.name),
    Column("Roles", lambda user: roles_text(user.roles), 220),
    Column("State", state_text, 90),
    Column("MFA", mfa_text, 170),
)


@dataclass(frozen=True)
class UserFilter:
    text: str = ""
    branch_id: uuid.UUID | None = None
    active: bool | None = None

    def accepts(self, user: StaffUser) -> bool:
        return (
            (self.branch_id is None or user.branch.id == self.branch_id)
            and (self.active is None or user.active == self.active)
            and matches(user, self.text)
        )


class UserDetailPane(QWidget):
    disable_requested = Signal(object)  # StaffUser
    enable_requested = Signal(object)
    reset_requested = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("user_detail")
        self.user: StaffUser | None = None
        self._self_id: uuid.UUID | None = None
        self._online = False
        self.title = QLabel("Choose an account")
        self.title.setObjectName("user_title")
        font = self.title.font()
        font.setPointSize(font.pointSize() + 2)
        font.setBold(True)
        self.title.setFont(font)
        self.values: dict[str, QLabel] = {}
        form = QFormLayout()
        for key, label in (
            ("username", "Username"),
            ("branch", "Branch"),
            ("roles", "Roles"),
            ("state", "State"),
            ("mfa", "MFA"),
            ("created", "Created"),
        ):
            value = QLabel()
            value.setObjectName(f"user_{key}")
            value.setWordWrap(True)
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.values[key] = value
            form.addRow(label, value)
        self.toggle_button = QPushButton("Disable…")
        self.toggle_button.setObjectName("toggle_user")
        self.reset_button = QPushButton("Reset MFA…")
        self.reset_button.setObjectName("reset_mfa")
        self.reset_button.setToolTip(
            "Forget the password, authenticator and recovery codes, end the sessions and issue a new "
            "enrollment code."
        )
        self.own_account = QLabel("This is your own account: another administrator must change it.")
        self.own_account.setObjectName("own_account")
        self.own_account.setWordWrap(True)
        buttons = QHBoxLayout()
        buttons.addWidget(self.toggle_button)
        buttons.addWidget(self.reset_button)
        buttons.addStretch(1)
        self.devices = DevicesPanel("user_devices", with_user=False)
        devices_heading = QLabel("Devices of this account")
        devices_heading.setStyleSheet("font-weight: bold")
        account = QVBoxLayout()
        account.setContentsMargins(0, 0, 0, 0)
        account.addWidget(self.title)
        account.addLayout(form)
        account.addLayout(buttons)
        account.addWidget(self.own_account)
        account.addStretch(1)
        devices = QVBoxLayout()
        devices.setContentsMargins(0, 0, 0, 0)
        devices.addWidget(devices_heading)
        devices.addWidget(self.devices, 1)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addLayout(account, 2)
        layout.addSpacing(12)
        layout.addLayout(devices, 3)
        self.toggle_button.clicked.connect(self._toggle)
        self.reset_button.clicked.connect(self._reset)
        self.show_user(None, ())

    def set_self(self, user_id: uuid.UUID | None) -> None:
        self._self_id = user_id
        self._update()

    def set_online(self, online: bool) -> None:
        self._online = online
        self.devices.set_online(online)
        self._update()

    def show_user(self, user: StaffUser | None, devices: Sequence[Device]) -> None:
        self.user = user
        if user is None:
            self.title.setText("Choose an account")
            for value in self.values.values():
                value.clear()
        else:
            self.title.setText(user.display_name)
            self.values["username"].setText(user.username)
            self.values["branch"].setText(f"{user.branch.code} — {user.branch.name} ({user.branch.region})")
            self.values["roles"].setText(roles_text(user.roles))
            disabled = (
                f" since {utc_timestamp(user.disabled_at)}" if user.disabled_at and not user.active else ""
            )
            self.values["state"].setText(state_text(user) + disabled)
            self.values["mfa"].setText(mfa_text(user))
            self.values["created"].setText(utc_timestamp(user.created_at))
        self.devices.show_devices(devices, {} if user is None else {user.id: user.username})
        self._update()

    def _update(self) -> None:
        user = self.user
        own = user is not None and user.id == self._self_id
        self.toggle_button.setText("Enable…" if user is not None and not user.active else "Disable…")
        self.toggle_button.setEnabled(self._online and user is not None and not own)
        self.reset_button.setEnabled(self._online and user is not None and not own)
        self.own_account.setVisible(own)
        self.devices.setEnabled(user is not None)

    def _reset(self) -> None:
        if self.user is not None:
            self.reset_requested.emit(self.user)

    def _toggle(self) -> None:
        if self.user is not None:
            (self.disable_requested if self.user.active else self.enable_requested).emit(self.user)


class UsersTab(QWidget):
    new_requested = Signal()
    selected = Signal(object)  # StaffUser | None

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("users_tab")
        self._users: tuple[StaffUser, ...] = ()
        self._online = False
        self.search = QLineEdit()
        self.search.setObjectName("user_search")
        self.search.setPlaceholderText("Username, name or branch code")
        self.search.setClearButtonEnabled(True)
        self.branch = QComboBox()
        self.branch.setObjectName("user_branch_filter")
        self.branch.setMinimumContentsLength(14)
        self.branch.addItem("All branches", None)
        self.state = QComboBox()
        self.state.setObjectName("user_state_filter")
        for label, value in STATES:
            self.state.addItem(label, value)
        self.new_button = QPushButton("New staff account…")
        self.new_button.setObjectName("new_user")
        self.count = QLabel()
        self.count.setObjectName("users_count")
        self.model = RecordsModel(USER_COLUMNS, self)
        self.table = records_table(self.model, "users_table")
        self.detail = UserDetailPane()
        filters = QHBoxLayout()
        filters.addWidget(self.search, 1)
        filters.addWidget(QLabel("Branch:"))
        filters.addWidget(self.branch)
        filters.addWidget(QLabel("State:"))
        filters.addWidget(self.state)
        filters.addWidget(self.new_button)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.table, 1)
        left_layout.addWidget(self.count)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(left)
        splitter.addWidget(self.detail)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.addLayout(filters)
        layout.addWidget(splitter, 1)
        self.search.textChanged.connect(self._refilter)
        self.branch.currentIndexChanged.connect(self._refilter)
        self.state.currentIndexChanged.connect(self._refilter)
        self.new_button.clicked.connect(self.new_requested)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.set_online(False)

    def current_filter(self) -> UserFilter:
        branch = self.branch.currentData()
        return UserFilter(
            text=self.search.text(),
            branch_id=uuid.UUID(str(branch)) if branch else None,
            active=self.state.currentData(),
        )

    def selected_user(self) -> StaffUser | None:
        user: StaffUser | None = selected_record(self.table, self.model)
        return user

    def set_online(self, online: bool) -> None:
        self._online = online
        self.new_button.setEnabled(online)
        self.detail.set_online(online)

    def show_users(self, users: Sequence[StaffUser], branches: Sequence[Branch]) -> None:
        self._users = tuple(users)
        chosen = self.branch.currentData()
        self.branch.blockSignals(True)
        self.branch.clear()
        self.branch.addItem("All branches", None)
        for branch in branches:
            self.branch.addItem(f"{branch.code} — {branch.name}", str(branch.id))
        self.branch.setCurrentIndex(max(0, self.branch.findData(chosen)))
        self.branch.blockSignals(False)
        self._refilter()

    def select(self, user_id: uuid.UUID) -> None:
        row = self.model.row_of(lambda user: user.id == user_id)
        if row is not None:
            self.table.selectRow(row)

    def show_detail(self, user: StaffUser | None, devices: Sequence[Device]) -> None:
        self.detail.show_user(user, devices)

    def usernames(self) -> Mapping[uuid.UUID, str]:
        return {user.id: user.username for user in self._users}

    def _refilter(self) -> None:
        chosen = self.selected_user()
        wanted = self.current_filter()
        shown = [user for user in self._users if wanted.accepts(user)]
        self.table.selectionModel().blockSignals(True)
        self.model.set_records(shown)
        row = self.model.row_of(lambda user: user.id == chosen.id) if chosen is not None else None
        if row is not None:
            self.table.selectRow(row)
        self.table.selectionModel().blockSignals(False)
        self.count.setText(f"{len(shown)} of {len(self._users)} accounts")
        now = self.model.record(row) if row is not None else None
        if now != chosen:
            self.selected.emit(now)

    def _selection_changed(self) -> None:
        self.selected.emit(self.selected_user())
