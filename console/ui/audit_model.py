"""The entries of the auditor's copy as a Qt model, newest first.

Rows arrive in chunks as the view scrolls, each one keyed query on a worker thread, so a
copy of millions of entries costs the GUI only the rows on screen."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QColor

from console.audit.copy import AuditCopy, EntryFilter, EntryRow
from console.sync.controller import SyncController
from console.sync.store import LocalStore

CHUNK = 200
COLUMNS = ("#", "When (UTC)", "Actor", "Role", "Action", "Object", "Purpose", "Outcome", "Check")
Index = QModelIndex | QPersistentModelIndex
PROBLEM = QColor("#82071e")


def short(value: str | None) -> str:
    """A UUID by its first eight digits, as people read them off a screen."""
    if value is None:
        return "—"
    return value[:8] if len(value) == 36 and value.count("-") == 4 else value


def when(row: EntryRow) -> str:
    moment = row.occurred_at or row.received_at
    return moment.strftime("%Y-%m-%d %H:%M:%S")


class AuditEntryModel(QAbstractTableModel):
    total_changed = Signal(object)  # int | None
    loaded = Signal()

    def __init__(self, sync: SyncController, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._sync = sync
        self._filter = EntryFilter()
        self._rows: list[EntryRow] = []
        self._exhausted = False
        self._fetching = False
        self._generation = 0
        self.verified_size: int | None = None
        self.total: int | None = None

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
            return row.index
        if role == Qt.ItemDataRole.ForegroundRole and row.problems:
            return PROBLEM
        if role == Qt.ItemDataRole.ToolTipRole and index.column() in (2, 5):
            return row.actor if index.column() == 2 else row.object_id
        return None

    def check_text(self, row: EntryRow) -> str:
        if row.problems:
            return f"{row.problems} problem" + ("s" if row.problems > 1 else "")
        if row.erased:
            return "Erased"
        if self.verified_size is not None and row.index < self.verified_size:
            return "Verified"
        return "Not verified"

    def _cell(self, row: EntryRow, column: int) -> str:
        if column == 0:
            return str(row.index)
        if column == 1:
            return when(row)
        if row.erased and column in (2, 3, 4, 5, 6, 7):
            return "(erased)" if column == 4 else ""
        if column == 2:
            return short(row.actor)
        if column == 3:
            return row.role or "—"
        if column == 4:
            return row.action or "—"
        if column == 5:
            if row.object_type is None:
                return "—"
            return f"{row.object_type} {short(row.object_id)}" if row.object_id else row.object_type
        if column == 6:
            return row.purpose or "—"
        if column == 7:
            return row.outcome or "—"
        return self.check_text(row)

    def canFetchMore(self, parent: Index) -> bool:
        return not parent.isValid() and not self._exhausted and self._sync.store is not None

    def fetchMore(self, parent: Index) -> None:
        if parent.isValid() or self._fetching or self._exhausted:
            return
        self._load_chunk()

    @property
    def filter(self) -> EntryFilter:
        return self._filter

    def row(self, number: int) -> EntryRow:
        return self._rows[number]

    def row_of(self, index: int) -> int | None:
        for number, row in enumerate(self._rows):
            if row.index == index:
                return number
        return None

    def set_filter(self, where: EntryFilter, verified_size: int | None = None) -> None:
        """Show the entries ``where`` selects, newest first, from the first chunk."""
        self._filter = where
        self.verified_size = verified_size
        self._generation += 1
        self.beginResetModel()
        self._rows = []
        self._exhausted = False
        self._fetching = False
        self.endResetModel()
        self.total = None
        self.total_changed.emit(None)
        if self._sync.store is None:
            self._exhausted = True
            return
        self._load_chunk()
        generation = self._generation
        self._sync.run_blocking(
            lambda store: AuditCopy(store).count(where),
            on_success=lambda total: self._set_total(generation, total),
            on_failure=lambda error: None,
        )

    def _set_total(self, generation: int, total: int) -> None:
        if generation == self._generation:
            self.total = total
            self.total_changed.emit(total)

    def _load_chunk(self) -> None:
        generation = self._generation
        where = self._filter
        before = self._rows[-1].index if self._rows else None
        self._fetching = True

        def work(store: LocalStore) -> list[EntryRow]:
            return AuditCopy(store).rows(where, before, CHUNK)

        self._sync.run_blocking(
            work,
            on_success=lambda rows: self._arrived(generation, rows),
            on_failure=lambda error: self._failed(generation),
        )

    def _arrived(self, generation: int, rows: list[EntryRow]) -> None:
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

    def _failed(self, generation: int) -> None:
        if generation == self._generation:
            self._fetching = False
            self._exhausted = True
        self.loaded.emit()
