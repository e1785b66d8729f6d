"""The customer list as a Qt model over the local store, in chunks (chunked_model.py).

On a ``RECORDS`` change the rows already loaded are read again (a fresh snapshot of
complete checkpoints) and replaced at once."""

from __future__ import annotations

import uuid
from typing import Any

from PySide6.QtCore import QObject, Qt

from console.customers.queries import CustomerQuery, CustomerRow, customer_count, customer_page
from console.sync.controller import SyncController
from console.sync.store import LocalStore
from console.ui.chunked_model import CHUNK, ChunkedTableModel

REFRESH_LIMIT = 5000
COLUMNS = ("Name", "ID / passport", "Phone", "Branch", "Status")

__all__ = ["CHUNK", "COLUMNS", "CustomerListModel"]


class CustomerListModel(ChunkedTableModel):
    columns = COLUMNS

    def __init__(
        self,
        sync: SyncController,
        *,
        own_branch: tuple[str, str] | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(sync, parent)
        self._own_branch = own_branch  # (branch id, code): shown by code, others by short id
        self._query = CustomerQuery()

    def read_chunk(self, store: LocalStore, last: CustomerRow | None, limit: int) -> list[CustomerRow]:
        return customer_page(store, self._query, last.key if last is not None else None, limit)

    def read_total(self, store: LocalStore) -> int:
        return customer_count(store, self._query)

    def role_data(self, row: CustomerRow, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.UserRole:
            return row.id
        if role == Qt.ItemDataRole.ToolTipRole and row.pending:
            return "Changed on this computer; not yet confirmed by the server."
        return None

    def cell(self, row: CustomerRow, column: int) -> str:
        if column == 0:
            return row.name
        if column == 1:
            return row.id_number or "—"
        if column == 2:
            return row.phone or "—"
        if column == 3:
            if row.branch_id is None:
                return "—"
            if self._own_branch is not None and row.branch_id == self._own_branch[0]:
                return self._own_branch[1]
            return row.branch_id[:8]
        if row.pending:
            return "Not yet sent"
        return "Erased" if row.status == "erased" else "Active"

    @property
    def query(self) -> CustomerQuery:
        return self._query

    def row_of(self, customer_id: uuid.UUID) -> int | None:
        for number, row in enumerate(self._rows):
            if row.id == customer_id:
                return number
        return None

    def set_query(self, query: CustomerQuery) -> None:
        """Show the customers ``query`` selects, from the first chunk."""
        self._query = query
        self.restart()

    def refresh(self) -> None:
        """Read again what is loaded (the store changed); keeps the rows' order and how far
        the user had scrolled."""
        if self._sync.store is None:
            self.restart()
            return
        generation = self._generation = self._generation + 1
        query = self._query
        wanted = min(max(len(self._rows), CHUNK), REFRESH_LIMIT)
        self._fetching = True
        self._sync.run_blocking(
            lambda store: customer_page(store, query, None, wanted),
            on_success=lambda rows: self._refreshed(generation, rows, wanted),
            on_failure=lambda error: self._failed(generation),
        )
        self.load_total()

    def _refreshed(self, generation: int, rows: list[CustomerRow], wanted: int) -> None:
        if generation != self._generation:
            return
        self._fetching = False
        self._exhausted = len(rows) < wanted
        if [row.id for row in rows] == [row.id for row in self._rows]:
            self._rows = rows
            if rows:
                self.dataChanged.emit(self.index(0, 0), self.index(len(rows) - 1, len(COLUMNS) - 1))
        else:
            self.beginResetModel()
            self._rows = rows
            self.endResetModel()
        self.loaded.emit()
