"""The roles and the permissions each holds, as the server defines them: read-only."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtWidgets import QHeaderView, QLabel, QVBoxLayout, QWidget

from console.admin.api import RoleInfo
from console.admin.describe import PermissionRow, permission_matrix, role_title
from console.ui.admin_table import Column, RecordsModel, records_table

HELD = "✓"


def _holds(role: str) -> Column:
    def text(row: PermissionRow) -> str:
        return HELD if role in row.held_by else ""

    # Two-line headers keep six role columns narrow enough to leave room for the descriptions.
    return Column(role_title(role).replace(" ", "\n"), text, 84, centred=True)


class RolesTab(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("roles_tab")
        self.intro = QLabel(
            "Which permissions each role holds. The server defines them; accounts are given roles, "
            "never single permissions."
        )
        self.intro.setWordWrap(True)
        self.model = RecordsModel((), self)
        self.table = records_table(self.model, "roles_table")
        self.table.setWordWrap(True)
        self.table.setStyleSheet("QTableView::item { padding: 3px 2px; }")
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        layout = QVBoxLayout(self)
        layout.addWidget(self.intro)
        layout.addWidget(self.table, 1)

    def show_roles(self, roles: Sequence[RoleInfo]) -> None:
        columns = (
            Column("Permission", lambda row: row.permission.name, 180),
            *(_holds(role.name) for role in roles),
            Column(
                "What it allows",
                lambda row: row.permission.description,
                200,
                tooltip=lambda row: row.permission.description,
            ),
        )
        self.model.set_columns(columns, permission_matrix(roles))
        for number, column in enumerate(columns):
            self.table.setColumnWidth(number, column.width)
