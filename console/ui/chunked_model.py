"""A read-only table model over the vault that loads its rows in chunks.

The view asks ``canFetchMore``/``fetchMore`` as the user scrolls; each chunk is one keyed
query on a worker thread (through the sync controller), so a list of hundreds of thousands
of rows costs the GUI only what is on screen.  Answers that arrive after the query changed
are dropped (a generation counter).  Subclasses say which columns they have, how a chunk
and the total are read, and how a cell reads."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt, Signal

from console.sync.controller import SyncController
from console.sync.store import LocalStore

CHUNK = 200
Index = QModelIndex | QPersistentModelIndex


class ChunkedTableModel(QAbstractTableModel):
    total_changed = Signal(object)  # int | None
    loaded = Signal()  # a chunk or a refresh arrived

    columns: tuple[str, ...] = ()

    def __init__(self, sync: SyncController, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._sync = sync
        self._rows: list[Any] = []
        self._exhausted = False
        self._fetching = False
        self._generation = 0
        self.total: int | None = None

    # --- what a subclass provides -------------------------------------------------------

    def read_chunk(self, store: LocalStore, last: Any | None, limit: int) -> list[Any]:
        """Up to ``limit`` rows after ``last`` (the last row loaded, None for the first)."""
        raise NotImplementedError

    def read_total(self, store: LocalStore) -> int:
        raise NotImplementedError

    def cell(self, row: Any, column: int) -> Any:
        raise NotImplementedError

    def role_data(self, row: Any, column: int, role: int) -> Any:
        """Anything but the display text (tooltips, colours, the row's key)."""
        return None

    # --- Qt's model interface -----------------------------------------------------------

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self.columns)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.columns[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._rows):
            return None
        row = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return self.cell(row, index.column())
        return self.role_data(row, index.column(), role)

    def canFetchMore(self, parent: Index) -> bool:
        return not parent.isValid() and not self._exhausted and self._sync.store is not None

    def fetchMore(self, parent: Index) -> None:
        if parent.isValid() or self._fetching or self._exhausted:
            return
        self._load_chunk()

    # --- loading ------------------------------------------------------------------------

    @property
    def fetching(self) -> bool:
        return self._fetching

    def row(self, number: int) -> Any:
        return self._rows[number]

    def restart(self) -> None:
        """Drop what is loaded and read from the first chunk (the query changed)."""
        self._generation += 1
        self.beginResetModel()
        self._rows = []
        self._exhausted = False
        self._fetching = False
        self.endResetModel()
        self._set_total(self._generation, None)
        if self._sync.store is None:
            self._exhausted = True
            return
        self._load_chunk()
        self.load_total()

    def load_total(self) -> None:
        generation = self._generation
        self._sync.run_blocking(
            self.read_total,
            on_success=lambda total: self._set_total(generation, total),
            on_failure=lambda error: None,
        )

    def _load_chunk(self) -> None:
        generation = self._generation
        last = self._rows[-1] if self._rows else None
        self._fetching = True
        self._sync.run_blocking(
            lambda store: self.read_chunk(store, last, CHUNK),
            on_success=lambda rows: self._arrived(generation, rows),
            on_failure=lambda error: self._failed(generation),
        )

    def _arrived(self, generation: int, rows: list[Any]) -> None:
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
            self._exhausted = True  # the vault closed under us; a new query starts afresh
        self.loaded.emit()

    def _set_total(self, generation: int, total: int | None) -> None:
        if generation == self._generation:
            self.total = total
            self.total_changed.emit(total)
