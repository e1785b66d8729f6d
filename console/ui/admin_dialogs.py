"""The admin workspace's forms and confirmations: a new staff account, a new branch, and
"are you sure" before disabling, enabling, resetting MFA or revoking a device.

Forms stay open while the server is asked, show its refusal inline, and close only once the
change is made (the page calls ``accept``).  They are opened with ``open()`` and awaited
through ``ui.dialogs.dialog_result``, never ``exec()``."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGridLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from console.admin.api import Branch
from console.admin.describe import role_title
from console.ui.style import ERROR_BANNER

USERNAME = re.compile(r"^[a-z0-9._-]{3,64}$")


def _error_label() -> QLabel:
    label = QLabel()
    label.setObjectName("dialog_error")
    label.setWordWrap(True)
    label.setStyleSheet(ERROR_BANNER)
    label.hide()
    return label


class _Form(QDialog):
    """A form that stays open until the page accepts it; ``submitted`` asks the page to try."""

    submitted = Signal()

    def __init__(self, title: str, action: str, parent: QWidget | None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setMinimumWidth(520)
        self.error = _error_label()
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok.setText(action)
        self._action = action
        self.buttons.accepted.connect(self._submit)
        self.buttons.rejected.connect(self.reject)

    def show_error(self, message: str) -> None:
        self.set_busy(False)
        self.error.setText(message)
        self.error.show()

    def set_busy(self, busy: bool) -> None:
        self.ok.setEnabled(not busy)
        self.ok.setText("Sending…" if busy else self._action)

    def problem(self) -> str | None:
        """What is missing or wrong in the form, checked before the server is asked."""
        return None

    def _submit(self) -> None:
        problem = self.problem()
        if problem is not None:
            self.show_error(problem)
            return
        self.error.hide()
        self.set_busy(True)
        self.submitted.emit()


@dataclass(frozen=True)
class NewStaff:
    username: str
    display_name: str
    branch_id: uuid.UUID
    roles: tuple[str, ...]


class NewUserDialog(_Form):
    def __init__(
        self, branches: Sequence[Branch], roles: Sequence[str], parent: QWidget | None = None
    ) -> None:
        super().__init__("New staff account", "Create account", parent)
        self.setObjectName("new_user_dialog")
        self.username = QLineEdit()
        self.username.setObjectName("new_username")
        self.username.setPlaceholderText("e.g. thandi.mokoena")
        self.username.setMaxLength(64)
        self.display_name = QLineEdit()
        self.display_name.setObjectName("new_display_name")
        self.display_name.setPlaceholderText("e.g. Thandi Mokoena")
        self.display_name.setMaxLength(100)
        self.branch = QComboBox()
        self.branch.setObjectName("new_branch")
        for branch in branches:
            self.branch.addItem(f"{branch.code} — {branch.name}", str(branch.id))
        self.role_boxes: dict[str, QCheckBox] = {}
        role_grid = QGridLayout()
        for number, role in enumerate(roles):
            box = QCheckBox(role_title(role))
            box.setObjectName(f"role_{role}")
            self.role_boxes[role] = box
            role_grid.addWidget(box, number // 2, number % 2)
        note = QLabel(
            "Nobody chooses a password for the new account. The server issues a one-time enrollment "
            "code, shown to you once: give it to the person, who chooses a password and sets up an "
            "authenticator at first sign-in."
        )
        note.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Username", self.username)
        form.addRow("Display name", self.display_name)
        form.addRow("Branch", self.branch)
        form.addRow("Roles", role_grid)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addSpacing(8)
        layout.addWidget(note)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        self.username.setFocus()

    def roles(self) -> tuple[str, ...]:
        return tuple(role for role, box in self.role_boxes.items() if box.isChecked())

    def problem(self) -> str | None:
        if not USERNAME.match(self.username.text().strip().lower()):
            return "The username needs 3 to 64 characters: letters, digits, '.', '_' or '-'."
        if not self.display_name.text().strip():
            return "Enter the person's display name."
        if self.branch.currentData() is None:
            return "Choose a branch (create one on the Branches tab first)."
        if not self.roles():
            return "Choose at least one role."
        return None

    def values(self) -> NewStaff:
        return NewStaff(
            username=self.username.text().strip().lower(),
            display_name=" ".join(self.display_name.text().split()),
            branch_id=uuid.UUID(str(self.branch.currentData())),
            roles=self.roles(),
        )


@dataclass(frozen=True)
class NewBranch:
    code: str
    name: str
    region: str


class BranchDialog(_Form):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("New branch", "Create branch", parent)
        self.setObjectName("branch_dialog")
        self.code = QLineEdit()
        self.code.setObjectName("branch_code")
        self.code.setPlaceholderText("e.g. DBN02")
        self.code.setMaxLength(16)
        self.name = QLineEdit()
        self.name.setObjectName("branch_name")
        self.name.setMaxLength(100)
        self.region = QLineEdit()
        self.region.setObjectName("branch_region")
        self.region.setPlaceholderText("e.g. KwaZulu-Natal")
        self.region.setMaxLength(100)
        form = QFormLayout()
        form.addRow("Code", self.code)
        form.addRow("Name", self.name)
        form.addRow("Region", self.region)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)

    def problem(self) -> str | None:
        if not all(edit.text().strip() for edit in (self.code, self.name, self.region)):
            return "Enter the branch's code, name and region."
        return None

    def values(self) -> NewBranch:
        return NewBranch(
            code=self.code.text().strip().upper(),
            name=" ".join(self.name.text().split()),
            region=" ".join(self.region.text().split()),
        )


class ConfirmDialog(QDialog):
    def __init__(self, title: str, text: str, action: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("confirm_dialog")
        self.setWindowTitle(title)
        self.setMinimumWidth(440)
        self.text = QLabel(text)
        self.text.setWordWrap(True)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.confirm = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.confirm.setText(action)
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setDefault(True)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text)
        layout.addWidget(self.buttons)
