"""The customer list as a Qt model over the local store.

Rows arrive in chunks: the view asks ``canFetchMore``/``fetchMore`` as the user scrolls,
and each chunk is one keyed query on a worker thread, so 100,000 customers cost the GUI
only the rows on screen.  On a ``RECORDS`` change the rows already loaded are read again
(a fresh snapshot of complete checkpoints) and replaced at once."""

from __future__ import annotations

import uuid
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt, Signal

from console.customers.queries import CustomerQuery, CustomerRow, customer_count, customer_page
from console.sync.controller import SyncController
from console.sync.store import LocalStore

CHUNK = 200
REFRESH_LIMIT = 5000
COLUMNS = ("Name", "ID / passport", "Phone", "Branch", "Status")
Index = QModelIndex | QPersistentModelIndex


class CustomerListModel(QAbstractTableModel):
    total_changed = Signal(object)  # int | None
    loaded = Signal()  # a chunk or a refresh arrived

    def __init__(
        self,
        sync: SyncController,
        *,
        own_branch: tuple[str, str] | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._sync = sync
        self._own_branch = own_branch  # (branch id, code): shown by code, others by short id
        self._query = CustomerQuery()
        self._rows: list[CustomerRow] = []
        self._exhausted = False
        self._fetching = False
        self._generation = 0
        self.total: int | None = None

    # --- Qt's model interface ----------------------------------------------------------

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._rows):
            return None
        row = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return self._cell(row, index.column())
        if role == Qt.ItemDataRole.UserRole:
            return row.id
        if role == Qt.ItemDataRole.ToolTipRole and row.pending:
            return "Changed on this computer; not yet confirmed by the server."
        return None

    def _cell(self, row: CustomerRow, column: int) -> str:
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

    def canFetchMore(self, parent: Index) -> bool:
        return not parent.isValid() and not self._exhausted and self._sync.store is not None

    def fetchMore(self, parent: Index) -> None:
        if parent.isValid() or self._fetching or self._exhausted:
            return
        self._load_chunk()

    # --- queries -----------------------------------------------------------------------

    @property
    def query(self) -> CustomerQuery:
        return self._query

    @property
    def fetching(self) -> bool:
        return self._fetching

    def row(self, number: int) -> CustomerRow:
        return self._rows[number]

    def row_of(self, customer_id: uuid.UUID) -> int | None:
        for number, row in enumerate(self._rows):
            if row.id == customer_id:
                return number
        return None

    def set_query(self, query: CustomerQuery) -> None:
        """Show the customers ``query`` selects, from the first chunk."""
        self._query = query
        self._generation += 1
        self.beginResetModel()
        self._rows = []
        self._exhausted = False
        self._fetching = False
        self.endResetModel()
        self._set_total(None)
        if self._sync.store is None:
            self._exhausted = True
            return
        self._load_chunk()
        self._load_total()

    def refresh(self) -> None:
        """Read again what is loaded (the store changed); keeps the rows' order and how far
        the user had scrolled."""
        if self._sync.store is None:
            self.set_query(self._query)
            return
        generation = self._generation = self._generation + 1
        query = self._query
        wanted = min(max(len(self._rows), CHUNK), REFRESH_LIMIT)
        self._fetching = True
        self._sync.run_blocking(
            lambda store: customer_page(store, query, None, wanted),
            on_success=lambda rows: self._refreshed(generation, rows, wanted),
            on_failure=lambda error: self._failed(generation, error),
        )
        self._load_total()

    def _load_chunk(self) -> None:
        generation = self._generation
        query = self._query
        after = self._rows[-1].key if self._rows else None
        self._fetching = True

        def work(store: LocalStore) -> list[CustomerRow]:
            return customer_page(store, query, after, CHUNK)

        self._sync.run_blocking(
            work,
            on_success=lambda rows: self._arrived(generation, rows),
            on_failure=lambda error: self._failed(generation, error),
        )

    def _load_total(self) -> None:
        generation = self._generation
        query = self._query
        self._sync.run_blocking(
            lambda store: customer_count(store, query),
            on_success=lambda total: self._set_total(total) if generation == self._generation else None,
            on_failure=lambda error: None,
        )

    def _arrived(self, generation: int, rows: list[CustomerRow]) -> None:
        if generation != self._generation:
            return
        self._fetching = False
        self._exhausted = len(rows) < CHUNK
        if rows:
            start = len(self._rows)
            self.beginInsertRows(QModelIndex(), start, start + len(rows) - 1)
            self._rows.extend(rows)
            self.endInsertRows()
        self.loaded.emit()

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

    def _failed(self, generation: int, error: Exception) -> None:
        if generation == self._generation:
            self._fetching = False
            self._exhausted = True  # the vault closed under us; a new query starts afresh
        self.loaded.emit()

    def _set_total(self, total: int | None) -> None:
        self.total = total
        self.total_changed.emit(total)
