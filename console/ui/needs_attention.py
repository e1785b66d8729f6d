"""Needs attention: what the server refused, with its reason, until the person at the desk
has read it.  A refused change keeps what was typed, so it can be made again."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from console.changes import Changes, Topic
from console.operations import Operations
from console.sync.controller import SyncController
from console.sync.store import AttentionItem
from console.ui.format import utc_timestamp

ACTIONS = {
    "customer.create": "New customer",
    "customer.update": "Change to a customer",
    "open": "Record of opening a customer",
    "reveal": "Record of revealing a field",
    "search": "Record of a search",
}


def describe(item: AttentionItem) -> str:
    what = ACTIONS.get(item.name, item.name)
    fields = (item.args or {}).get("fields") if item.args else None
    who = (
        f" ({fields.get('first_names', '')} {fields.get('surname', '')})" if isinstance(fields, dict) else ""
    )
    return (
        f"{what}{who}, made {utc_timestamp(item.occurred_at)}\n"
        f"Refused by the server ({item.code}): {item.message}"
    )


class NeedsAttention(QWidget):
    def __init__(self, sync: SyncController, operations: Operations, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("needs_attention")
        self._sync = sync
        self.items: list[AttentionItem] = []
        self.intro = QLabel(
            "Changes and access records the server refused. Nothing here is lost: read the reason, "
            "make the change again if it is still needed, then dismiss the item."
        )
        self.intro.setWordWrap(True)
        self.list = QListWidget()
        self.list.setObjectName("attention_list")
        self.list.setWordWrap(True)
        self.dismiss_button = QPushButton("Dismiss")
        self.dismiss_button.setObjectName("dismiss_attention")
        self.dismiss_button.clicked.connect(self._dismiss)
        self.list.currentRowChanged.connect(lambda row: self.dismiss_button.setEnabled(row >= 0))
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.dismiss_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.intro)
        layout.addWidget(self.list, 1)
        layout.addLayout(buttons)
        self.dismiss_button.setEnabled(False)
        operations.changed.connect(self._on_changed)
        self.reload()

    def _on_changed(self, changes: Changes) -> None:
        if changes.touches(Topic.ATTENTION):
            self.reload()

    def reload(self) -> None:
        self._sync.run_blocking(
            lambda store: store.attention(), on_success=self._show, on_failure=lambda e: None
        )

    def _show(self, items: list[AttentionItem]) -> None:
        self.items = items
        self.list.clear()
        for item in items:
            entry = QListWidgetItem(describe(item))
            entry.setData(Qt.ItemDataRole.UserRole, (item.kind, item.ref))
            self.list.addItem(entry)

    def _dismiss(self) -> None:
        entry = self.list.currentItem()
        if entry is None:
            return
        kind, ref = entry.data(Qt.ItemDataRole.UserRole)
        self._sync.dismiss(kind, ref)
