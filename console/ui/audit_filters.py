"""The auditor's filter over the copy: time, actor, device, action, object, purpose and
outcome.  Choosing a value applies it; typed ones apply on Enter."""

from __future__ import annotations

import datetime as dt

from PySide6.QtCore import QDate, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateEdit,
    QGridLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QWidget,
)

from console.audit.copy import EntryFilter

ANY = "Any"
CHOICE_COLUMNS = ("action", "object_type", "purpose", "outcome")
TEXT_COLUMNS = ("actor", "device", "object_id")


class AuditFilterBar(QWidget):
    changed = Signal(object)  # EntryFilter

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("audit_filters")
        self._applying = False
        self.choices: dict[str, QComboBox] = {}
        for name in CHOICE_COLUMNS:
            combo = QComboBox()
            combo.setObjectName(f"filter_{name}")
            combo.addItem(ANY, None)
            combo.setMinimumContentsLength(12)
            combo.currentIndexChanged.connect(self._apply)
            self.choices[name] = combo
        self.texts: dict[str, QLineEdit] = {}
        for name, hint in (
            ("actor", "user id"),
            ("device", "device id"),
            ("object_id", "object id (e.g. a customer's)"),
        ):
            edit = QLineEdit()
            edit.setObjectName(f"filter_{name}")
            edit.setPlaceholderText(hint)
            edit.setClearButtonEnabled(True)
            edit.returnPressed.connect(self._apply)
            self.texts[name] = edit
        self.since_on = QCheckBox("From")
        self.since_on.setObjectName("filter_since_on")
        self.since = QDateEdit()
        self.since.setObjectName("filter_since")
        self.until_on = QCheckBox("Until")
        self.until_on.setObjectName("filter_until_on")
        self.until = QDateEdit()
        self.until.setObjectName("filter_until")
        today = QDate.currentDate()
        for date_edit, on in ((self.since, self.since_on), (self.until, self.until_on)):
            date_edit.setCalendarPopup(True)
            date_edit.setDisplayFormat("yyyy-MM-dd")
            date_edit.setDate(today)
            date_edit.setEnabled(False)
            on.toggled.connect(date_edit.setEnabled)
            on.toggled.connect(self._apply)
            date_edit.dateChanged.connect(self._apply)
        self.clear_button = QPushButton("Clear filters")
        self.clear_button.setObjectName("clear_filters")
        self.clear_button.clicked.connect(self.clear)

        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        row = (
            ("Action", self.choices["action"]),
            ("Object", self.choices["object_type"]),
            ("", self.texts["object_id"]),
            ("Purpose", self.choices["purpose"]),
            ("Outcome", self.choices["outcome"]),
        )
        for column, (label, widget) in enumerate(row):
            grid.addWidget(QLabel(label), 0, 2 * column, Qt.AlignmentFlag.AlignRight)
            grid.addWidget(widget, 0, 2 * column + 1)
        second = (
            ("Actor", self.texts["actor"]),
            ("Device", self.texts["device"]),
        )
        for column, (label, widget) in enumerate(second):
            grid.addWidget(QLabel(label), 1, 2 * column, Qt.AlignmentFlag.AlignRight)
            grid.addWidget(widget, 1, 2 * column + 1)
        grid.addWidget(self.since_on, 1, 4, Qt.AlignmentFlag.AlignRight)
        grid.addWidget(self.since, 1, 5)
        grid.addWidget(self.until_on, 1, 6, Qt.AlignmentFlag.AlignRight)
        grid.addWidget(self.until, 1, 7)
        grid.addWidget(self.clear_button, 1, 9)

    def set_choices(self, values: dict[str, list[str]]) -> None:
        """The values each choice column takes in the copy; keeps what is chosen."""
        self._applying = True
        try:
            for name, combo in self.choices.items():
                current = combo.currentData()
                combo.clear()
                combo.addItem(ANY, None)
                for value in values.get(name, []):
                    combo.addItem(value, value)
                position = combo.findData(current) if current is not None else 0
                combo.setCurrentIndex(max(position, 0))
        finally:
            self._applying = False

    def current(self) -> EntryFilter:
        def day(edit: QDateEdit, extra: int = 0) -> dt.datetime:
            date = edit.date()
            return dt.datetime(date.year(), date.month(), date.day(), tzinfo=dt.UTC) + dt.timedelta(
                days=extra
            )

        texts = {name: edit.text().strip() or None for name, edit in self.texts.items()}
        return EntryFilter(
            since=day(self.since) if self.since_on.isChecked() else None,
            until=day(self.until, 1) if self.until_on.isChecked() else None,
            action=self.choices["action"].currentData(),
            object_type=self.choices["object_type"].currentData(),
            purpose=self.choices["purpose"].currentData(),
            outcome=self.choices["outcome"].currentData(),
            **texts,
        )

    def show_filter(self, where: EntryFilter) -> None:
        """Set the controls to ``where`` (a trail, say) and apply it."""
        self._applying = True
        try:
            for name, combo in self.choices.items():
                value = getattr(where, name)
                if value is not None and combo.findData(value) < 0:
                    combo.addItem(value, value)
                combo.setCurrentIndex(max(combo.findData(value), 0) if value is not None else 0)
            for name, edit in self.texts.items():
                edit.setText(getattr(where, name) or "")
            self.since_on.setChecked(where.since is not None)
            self.until_on.setChecked(where.until is not None)
        finally:
            self._applying = False
        self._apply()

    def clear(self) -> None:
        self.show_filter(EntryFilter())

    def _apply(self) -> None:
        if not self._applying:
            self.changed.emit(self.current())
