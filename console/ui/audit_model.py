"""The entries of the auditor's copy as a Qt model, newest first, loaded in chunks
(chunked_model.py) so a copy of millions of entries costs the GUI only the rows on screen."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QColor

from console.audit.copy import AuditCopy, EntryFilter, EntryRow
from console.sync.controller import SyncController
from console.sync.store import LocalStore
from console.ui.chunked_model import ChunkedTableModel

COLUMNS = ("#", "When (UTC)", "Actor", "Role", "Action", "Object", "Purpose", "Outcome", "Check")
PROBLEM = QColor("#82071e")


def short(value: str | None) -> str:
    """A UUID by its first eight digits, as people read them off a screen."""
    if value is None:
        return "—"
    return value[:8] if len(value) == 36 and value.count("-") == 4 else value


def when(row: EntryRow) -> str:
    moment = row.occurred_at or row.received_at
    return moment.strftime("%Y-%m-%d %H:%M:%S")


class AuditEntryModel(ChunkedTableModel):
    columns = COLUMNS

    def __init__(self, sync: SyncController, parent: QObject | None = None) -> None:
        super().__init__(sync, parent)
        self._filter = EntryFilter()
        self.verified_size: int | None = None

    def read_chunk(self, store: LocalStore, last: EntryRow | None, limit: int) -> list[EntryRow]:
        return AuditCopy(store).rows(self._filter, last.index if last is not None else None, limit)

    def read_total(self, store: LocalStore) -> int:
        return AuditCopy(store).count(self._filter)

    def role_data(self, row: EntryRow, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.UserRole:
            return row.index
        if role == Qt.ItemDataRole.ForegroundRole and row.problems:
            return PROBLEM
        if role == Qt.ItemDataRole.ToolTipRole and column in (2, 5):
            return row.actor if column == 2 else row.object_id
        return None

    def check_text(self, row: EntryRow) -> str:
        if row.problems:
            return f"{row.problems} problem" + ("s" if row.problems > 1 else "")
        if row.erased:
            return "Erased"
        if self.verified_size is not None and row.index < self.verified_size:
            return "Verified"
        return "Not verified"

    def cell(self, row: EntryRow, column: int) -> str:
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

    @property
    def filter(self) -> EntryFilter:
        return self._filter

    def row_of(self, index: int) -> int | None:
        for number, row in enumerate(self._rows):
            if row.index == index:
                return number
        return None

    def set_filter(self, where: EntryFilter, verified_size: int | None = None) -> None:
        """Show the entries ``where`` selects, newest first, from the first chunk."""
        self._filter = where
        self.verified_size = verified_size
        self.restart()
