"""One customer, opened: masked by default.  Opening records an access event; each "Reveal"
asks for a purpose, needs the customers.reveal permission, records the reveal and only then
shows the field."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from PySide6.QtWidgets import (
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from console.customers.access import OPEN, REVEAL
from console.customers.permissions import REVEAL as REVEAL_PERMISSION
from console.customers.permissions import UPDATE, may
from console.errors import ConsoleError
from console.sync.controller import SyncController
from console.ui.customers_dialogs import REVEALABLE, RevealDialog
from console.ui.dialogs import dialog_result
from console.ui.style import ERROR_BANNER, WARNING_BANNER
from shared.customers import RECORD_TYPE, display_name, masked


def _address_text(address: dict[str, Any] | None) -> str:
    if not address:
        return "—"
    parts = [address.get(name) for name in ("line1", "line2", "suburb", "city", "postal_code")]
    return ", ".join(str(part) for part in parts if part) + f" ({address.get('province', '')})"


def revealed_value(data: dict[str, Any], field: str) -> str:
    fields = data.get("fields") or {}
    if field == "address":
        return _address_text(fields.get("address"))
    value = fields.get(field)
    return str(value) if value else "—"


class CustomerDetail(QWidget):
    def __init__(self, sync: SyncController, purpose: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("customer_detail")
        self._sync = sync
        self._purpose = purpose  # a callable returning the page's current purpose code
        self.customer_id: uuid.UUID | None = None
        self.data: dict[str, Any] | None = None
        self._reveal_tasks: set[asyncio.Task[None]] = set()
        self.title = QLabel("Open a customer from the list.")
        self.title.setObjectName("customer_title")
        font = self.title.font()
        font.setPointSize(font.pointSize() + 3)
        font.setBold(True)
        self.title.setFont(font)
        self.pending = QLabel("Changed on this computer; not yet confirmed by the server.")
        self.pending.setObjectName("customer_pending")
        self.pending.setStyleSheet(WARNING_BANNER)
        self.pending.setWordWrap(True)
        self.pending.hide()
        self.error = QLabel()
        self.error.setObjectName("customer_error")
        self.error.setStyleSheet(ERROR_BANNER)
        self.error.setWordWrap(True)
        self.error.hide()
        self.values: dict[str, QLabel] = {}
        self.reveal_buttons: dict[str, QPushButton] = {}
        box = QGroupBox("Personal information (masked)")
        form = QFormLayout(box)
        for field, label in REVEALABLE.items():
            value = QLabel("—")
            value.setObjectName(f"value_{field}")
            button = QPushButton("Reveal…")
            button.setObjectName(f"reveal_{field}")
            button.clicked.connect(lambda _checked=False, field=field: self.reveal(field))
            row = QHBoxLayout()
            row.addWidget(value, 1)
            row.addWidget(button)
            self.values[field] = value
            self.reveal_buttons[field] = button
            form.addRow(label, row)
        self.status = QLabel()
        self.status.setObjectName("customer_status")
        self.edit_button = QPushButton("Change…")
        self.edit_button.setObjectName("edit_customer")
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(self.status)
        layout.addWidget(self.pending)
        layout.addWidget(self.error)
        layout.addWidget(box)
        layout.addWidget(self.edit_button)
        layout.addStretch(1)
        self._show(None, False)

    def _roles(self) -> tuple[str, ...]:
        session = self._sync.session
        return session.identity.roles if session is not None else ()

    def open_customer(self, customer_id: uuid.UUID) -> None:
        """Read the customer and record the opening; shown masked once both are done."""
        self.customer_id = customer_id
        access = self._sync.access
        purpose = self._purpose()

        def work(store: Any) -> tuple[dict[str, Any] | None, bool]:
            data = store.record(RECORD_TYPE, customer_id)
            if data is not None and access is not None:
                access.record(OPEN, customer_id, purpose)
            return data, store.is_pending(RECORD_TYPE, customer_id)

        self._sync.run_blocking(
            work, on_success=lambda result: self._opened(customer_id, result), on_failure=self._failed
        )

    def reload(self) -> None:
        """The store changed: show the customer's current state (no new access record)."""
        customer_id = self.customer_id
        if customer_id is None:
            return
        self._sync.run_blocking(
            lambda store: (
                store.record(RECORD_TYPE, customer_id),
                store.is_pending(RECORD_TYPE, customer_id),
            ),
            on_success=lambda result: self._reloaded(customer_id, result),
            on_failure=self._failed,
        )

    def _opened(self, customer_id: uuid.UUID, result: tuple[dict[str, Any] | None, bool]) -> None:
        if customer_id == self.customer_id:
            self._show(*result)
            self._sync.refresh_counts()
            self._sync.wake()

    def _reloaded(self, customer_id: uuid.UUID, result: tuple[dict[str, Any] | None, bool]) -> None:
        if customer_id != self.customer_id:
            return
        data, pending = result
        if self.data is not None and data is not None and data.get("fields") == self.data.get("fields"):
            self.data = data
            self.pending.setVisible(pending)
            return
        self._show(data, pending)  # changed elsewhere: back to masked

    def _show(self, data: dict[str, Any] | None, pending: bool) -> None:
        self.data = data
        self.error.hide()
        self.pending.setVisible(pending and data is not None)
        shown = masked(data or {})
        fields = (data or {}).get("fields") or {}
        for field, label in self.values.items():
            if field == "address":
                address = fields.get("address")
                label.setText(f"{address['city']} ({address['province']}), street masked" if address else "—")
            else:
                label.setText(shown.get(field) or "—")
        if data is None:
            self.title.setText("Open a customer from the list." if self.customer_id is None else "Not found.")
            self.status.setText("")
        else:
            self.title.setText(display_name(data))
            self.status.setText("Erased" if data.get("status") == "erased" else "Active")
        allowed = may(self._roles(), REVEAL_PERMISSION)
        for field, button in self.reveal_buttons.items():
            has_value = data is not None and bool(fields.get(field))
            button.setEnabled(allowed and has_value)
            button.setToolTip("" if allowed else "Your role may not reveal personal information.")
        self.edit_button.setEnabled(data is not None and bool(fields) and may(self._roles(), UPDATE))

    def reveal(self, field: str) -> None:
        if not may(self._roles(), REVEAL_PERMISSION) or self.customer_id is None:
            return
        task = asyncio.get_running_loop().create_task(self._reveal(field, self.customer_id))
        self._reveal_tasks.add(task)
        task.add_done_callback(self._reveal_tasks.discard)

    async def _reveal(self, field: str, customer_id: uuid.UUID) -> None:
        dialog = RevealDialog(REVEALABLE[field], self)
        self.reveal_dialog = dialog
        try:
            accepted = await dialog_result(dialog) == RevealDialog.DialogCode.Accepted
            purpose = dialog.chosen()
        finally:
            dialog.deleteLater()
        if not accepted or purpose is None or customer_id != self.customer_id:
            return
        self._sync.record_access(
            REVEAL,
            customer_id,
            purpose,
            on_success=lambda _signed: self._revealed(customer_id, field),
            on_failure=self._failed,
        )

    def _revealed(self, customer_id: uuid.UUID, field: str) -> None:
        if customer_id == self.customer_id and self.data is not None:
            self.values[field].setText(revealed_value(self.data, field))
            self.reveal_buttons[field].setEnabled(False)

    def _failed(self, error: Exception) -> None:
        if not isinstance(error, ConsoleError):
            raise error  # a bug: the crash handler logs its type and stack, never its message
        self.error.setText(f"The customer could not be shown: {error}")
        self.error.show()
