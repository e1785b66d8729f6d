"""Branches: the list, with how many listed accounts each has, and a New branch button."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QHeaderView, QPushButton, QVBoxLayout, QWidget

from console.admin.api import Branch, StaffUser
from console.ui.admin_table import Column, RecordsModel, records_table


class BranchesTab(QWidget):
    new_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("branches_tab")
        self._staff: Counter[str] = Counter()
        self.model = RecordsModel(
            (
                Column("Code", lambda branch: branch.code, 90),
                Column("Name", lambda branch: branch.name, 240),
                Column("Region", lambda branch: branch.region, 160),
                Column("Staff accounts", lambda branch: str(self._staff[str(branch.id)]), 110, centred=True),
            ),
            self,
        )
        self.table = records_table(self.model, "branches_table")
        header = self.table.horizontalHeader()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.new_button = QPushButton("New branch…")
        self.new_button.setObjectName("new_branch")
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.new_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        self.new_button.clicked.connect(self.new_requested)
        self.set_online(False)

    def set_online(self, online: bool) -> None:
        self.new_button.setEnabled(online)

    def show_branches(self, branches: Sequence[Branch], users: Sequence[StaffUser]) -> None:
        self._staff = Counter(str(user.branch.id) for user in users)
        self.model.set_records(branches)
