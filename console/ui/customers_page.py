"""The customer register workspace: the list (searchable, fetched in chunks), the customer
opened beside it, new customers and changes (offline too), and what needs attention.

Tellers see their branch's customers and may add and change them; compliance officers see
every branch's (the server decides what syncs to each device).  Searches and openings are
recorded with the purpose chosen at the top of the page."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from console.changes import Changes, Topic
from console.context import ShellContext
from console.customers.access import SEARCH
from console.customers.permissions import CREATE, may
from console.customers.purposes import DEFAULT_PURPOSE, PURPOSES
from console.customers.queries import CustomerQuery, interpret
from console.errors import ConsoleError
from console.sync.controller import SyncController
from console.ui.customers_detail import CustomerDetail
from console.ui.customers_dialogs import CustomerDialog
from console.ui.customers_model import CustomerListModel
from console.ui.dialogs import dialog_result
from console.ui.needs_attention import NeedsAttention
from console.ui.tables import list_table
from shared.customers import masked
from shared.sync.mutators import Rejection


class CustomersPage(QWidget):
    def __init__(self, context: ShellContext, *, all_branches: bool = False) -> None:
        super().__init__()
        self.setObjectName("customers_page")
        self._context = context
        self._all_branches = all_branches
        self.sync = SyncController.of(context)
        self._tasks: set[asyncio.Task[None]] = set()
        self._store = self.sync.store

        self.heading = QLabel("Customers of every branch" if all_branches else "Customers of your branch")
        self.heading.setObjectName("customers_heading")
        font = self.heading.font()
        font.setPointSize(font.pointSize() + 2)
        font.setBold(True)
        self.heading.setFont(font)
        self.total = QLabel()
        self.total.setObjectName("customers_total")
        self.search = QLineEdit()
        self.search.setObjectName("customer_search")
        self.search.setPlaceholderText("Name, or an exact ID number or phone number — press Enter")
        self.search.setClearButtonEnabled(True)
        self.search_button = QPushButton("Search")
        self.purpose = QComboBox()
        self.purpose.setObjectName("customer_purpose")
        for code, label in PURPOSES.items():
            self.purpose.addItem(label, code)
        self.purpose.setCurrentIndex(list(PURPOSES).index(DEFAULT_PURPOSE))
        self.purpose.setToolTip("Recorded with every search and opening of a customer.")
        self.new_button = QPushButton("New customer…")
        self.new_button.setObjectName("new_customer")

        self.model = CustomerListModel(self.sync, parent=self)
        self.table = list_table(self.model, "customer_table", (200, 130, 120, 70))
        self.table.setColumnHidden(3, not all_branches)
        self.detail = CustomerDetail(self.sync, self.current_purpose)

        top = QHBoxLayout()
        top.addWidget(self.search, 1)
        top.addWidget(self.search_button)
        top.addWidget(QLabel("Purpose:"))
        top.addWidget(self.purpose)
        top.addWidget(self.new_button)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.table)
        splitter.addWidget(self.detail)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        register = QWidget()
        register_layout = QVBoxLayout(register)
        register_layout.addLayout(top)
        register_layout.addWidget(splitter, 1)
        self.attention = NeedsAttention(self.sync, context.operations)
        self.tabs = QTabWidget()
        self.tabs.setObjectName("customer_tabs")
        self.tabs.addTab(register, "Register")
        self.tabs.addTab(self.attention, "Needs attention")
        title = QHBoxLayout()
        title.addWidget(self.heading)
        title.addStretch(1)
        title.addWidget(self.total)
        layout = QVBoxLayout(self)
        layout.addLayout(title)
        layout.addWidget(self.tabs, 1)

        self.search.returnPressed.connect(self.run_search)
        self.search_button.clicked.connect(self.run_search)
        self.search.textChanged.connect(self._search_cleared)
        self.table.activated.connect(self._activated)
        self.table.doubleClicked.connect(self._activated)
        self.new_button.clicked.connect(self.new_customer)
        self.detail.edit_button.clicked.connect(self.change_customer)
        self.model.total_changed.connect(self._show_total)
        self.model.modelReset.connect(self._reselect)
        context.operations.changed.connect(self._on_changed)
        context.sessions.changed.connect(self._session_changed)
        self._session_changed(force=True)

    # --- state -------------------------------------------------------------------------

    def current_purpose(self) -> str:
        return str(self.purpose.currentData())

    def _roles(self) -> tuple[str, ...]:
        session = self.sync.session
        return session.identity.roles if session is not None else ()

    def _session_changed(self, force: bool = False) -> None:
        store = self.sync.store
        if store is self._store and not force:
            return
        self._store = store
        session = self.sync.session
        if session is not None and not self._all_branches:
            own = (str(session.identity.branch_id), session.identity.branch_code)
            self.model._own_branch = own
            self.heading.setText(f"Customers of branch {session.identity.branch_code}")
        self.new_button.setVisible(may(self._roles(), CREATE))
        self.model.set_query(CustomerQuery())
        self._show_attention()

    def _on_changed(self, changes: Changes) -> None:
        if changes.touches(Topic.RECORDS):
            self.model.refresh()
            self.detail.reload()
        if changes.touches(Topic.ATTENTION, Topic.RECORDS):
            self._show_attention()

    def _show_attention(self) -> None:
        count = self.sync.attention
        self.tabs.setTabText(1, f"Needs attention ({count})" if count else "Needs attention")

    def _reselect(self) -> None:
        """Rows were read again: keep the opened customer selected if it is still listed."""
        customer_id = self.detail.customer_id
        row = self.model.row_of(customer_id) if customer_id is not None else None
        if row is not None:
            self.table.selectRow(row)

    def _show_total(self, total: int | None) -> None:
        if total is None:
            self.total.setText("")
        elif self.model.query.is_search:
            self.total.setText(f"{total:,} found")
        else:
            self.total.setText(f"{total:,} customers")

    # --- searching and opening ---------------------------------------------------------

    def run_search(self) -> None:
        """Interpret the search (hashing on a worker thread), show what it finds and record
        that a search was made (never what was searched for)."""
        text = self.search.text()
        purpose = self.current_purpose()

        def found(query: CustomerQuery) -> None:
            self.model.set_query(query)
            if query.is_search:
                self.sync.record_access(SEARCH, None, purpose)

        self.sync.run_blocking(lambda store: interpret(text, store), on_success=found)

    def _search_cleared(self, text: str) -> None:
        if not text and self.model.query.is_search:
            self.model.set_query(CustomerQuery())

    def _activated(self, index: QModelIndex) -> None:
        if index.isValid():
            self.open_customer(self.model.row(index.row()).id)

    def open_customer(self, customer_id: uuid.UUID) -> None:
        self.detail.open_customer(customer_id)

    # --- new customers and changes -----------------------------------------------------

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def new_customer(self) -> CustomerDialog | None:
        session = self.sync.session
        if session is None or not may(self._roles(), CREATE):
            return None
        branch_id = str(session.identity.branch_id)

        def submit(dialog: CustomerDialog, payload: dict[str, Any]) -> None:
            customer_id = uuid.uuid4()
            self.sync.enqueue(
                "customer.create",
                {"id": str(customer_id), "branch_id": branch_id, **payload},
                on_success=lambda _mutation: self._stored(dialog, customer_id),
                on_failure=lambda error: self._refused(dialog, error),
            )

        dialog = CustomerDialog(submit, parent=self)
        self.dialog = dialog
        self._spawn(self._run_dialog(dialog))
        return dialog

    def change_customer(self) -> CustomerDialog | None:
        data, customer_id = self.detail.data, self.detail.customer_id
        if data is None or customer_id is None:
            return None

        def submit(dialog: CustomerDialog, payload: dict[str, Any]) -> None:
            self.sync.enqueue(
                "customer.update",
                {"id": str(customer_id), **payload},
                on_success=lambda _mutation: self._stored(dialog, customer_id),
                on_failure=lambda error: self._refused(dialog, error),
            )

        dialog = CustomerDialog(submit, current=data, masked_values=masked(data), parent=self)
        self.dialog = dialog
        self._spawn(self._run_dialog(dialog))
        return dialog

    async def _run_dialog(self, dialog: CustomerDialog) -> None:
        try:
            await dialog_result(dialog)
        finally:
            dialog.deleteLater()

    def _stored(self, dialog: CustomerDialog, customer_id: uuid.UUID) -> None:
        dialog.accept()
        if self.detail.customer_id == customer_id:
            self.detail.reload()
        else:
            self.open_customer(customer_id)

    @staticmethod
    def _refused(dialog: CustomerDialog, error: Exception) -> None:
        if isinstance(error, Rejection):
            dialog.show_error(error.message)
            return
        if not isinstance(error, ConsoleError):
            raise error  # a bug: the crash handler logs its type and stack, never its message
        dialog.show_error(f"The change was not stored: {error}")


def teller_page(context: ShellContext) -> CustomersPage:
    return CustomersPage(context)


def compliance_page(context: ShellContext) -> CustomersPage:
    return CustomersPage(context, all_branches=True)
