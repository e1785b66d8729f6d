"""What to export from the auditor's copy, why, and where to: the whole copy, a range of
entries, or the trail of the object or actor the filter names.  The purpose has no default:
the export is recorded in the audit log with it."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from console.audit.copy import CopyState, EntryFilter
from console.audit.export import ExportRequest
from console.audit.purposes import EXPORT_PURPOSES
from console.ui.style import ERROR_BANNER

Submit = Callable[["ExportDialog", ExportRequest, str, Path], None]


class ExportDialog(QDialog):
    def __init__(
        self,
        state: CopyState,
        where: EntryFilter,
        submit: Submit,
        *,
        default_path: Path,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("audit_export_dialog")
        self.setWindowTitle("Export an evidence bundle")
        self._submit = submit
        self._where = where
        self.whole = QRadioButton(f"The whole copy (entries {state.min_index:,} to {state.size - 1:,})")
        self.whole.setObjectName("export_whole")
        self.range = QRadioButton("A range of entries")
        self.range.setObjectName("export_range")
        self.object_trail = QRadioButton(
            f"The trail of {where.object_type} {where.object_id}"
            if where.object_type and where.object_id
            else "The trail of one object (filter by object type and id first)"
        )
        self.object_trail.setObjectName("export_object")
        self.object_trail.setEnabled(bool(where.object_type and where.object_id))
        self.actor_trail = QRadioButton(
            f"The trail of actor {where.actor}"
            if where.actor
            else "The trail of one actor (filter by actor first)"
        )
        self.actor_trail.setObjectName("export_actor")
        self.actor_trail.setEnabled(self._actor() is not None)
        self.kinds = QButtonGroup(self)
        for button in (self.whole, self.range, self.object_trail, self.actor_trail):
            self.kinds.addButton(button)
        self.whole.setChecked(True)
        self.start = QSpinBox()
        self.start.setObjectName("export_start")
        self.end = QSpinBox()
        self.end.setObjectName("export_end")
        for box in (self.start, self.end):
            box.setRange(state.min_index, max(state.size, state.min_index))
            box.setGroupSeparatorShown(True)
        self.start.setValue(state.min_index)
        self.end.setValue(state.size)
        range_row = QHBoxLayout()
        range_row.addWidget(QLabel("from"))
        range_row.addWidget(self.start)
        range_row.addWidget(QLabel("up to (not including)"))
        range_row.addWidget(self.end)
        range_row.addStretch(1)
        self.purpose = QComboBox()
        self.purpose.setObjectName("export_purpose")
        self.purpose.addItem("Choose a purpose…", None)
        for code, label in EXPORT_PURPOSES.items():
            self.purpose.addItem(label, code)
        self.path = QLineEdit(str(default_path))
        self.path.setObjectName("export_path")
        self.browse = QPushButton("Choose…")
        self.browse.setObjectName("export_browse")
        self.browse.clicked.connect(self._choose_file)
        path_row = QHBoxLayout()
        path_row.addWidget(self.path, 1)
        path_row.addWidget(self.browse)
        explanation = QLabel(
            "The bundle holds the entries, the signed checkpoint, the proofs that join them and the "
            "public keys, so that kluis-verify can check it on any computer with no server. The export "
            "is recorded in the audit log with your name, this computer and the purpose you choose."
        )
        explanation.setWordWrap(True)
        self.error = QLabel()
        self.error.setObjectName("export_error")
        self.error.setStyleSheet(ERROR_BANNER)
        self.error.setWordWrap(True)
        self.error.hide()
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Export")
        self.buttons.accepted.connect(self._export)
        self.buttons.rejected.connect(self.reject)
        self.purpose.currentIndexChanged.connect(self._changed)
        self.kinds.buttonToggled.connect(self._changed)
        self.path.textChanged.connect(self._changed)

        form = QFormLayout()
        form.addRow("Purpose:", self.purpose)
        form.addRow("Save to:", path_row)
        layout = QVBoxLayout(self)
        layout.addWidget(explanation)
        for button in (self.whole, self.range):
            layout.addWidget(button)
        layout.addLayout(range_row)
        layout.addWidget(self.object_trail)
        layout.addWidget(self.actor_trail)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        self.resize(620, self.sizeHint().height())
        self._file_dialog: QFileDialog | None = None
        self._changed()

    def _actor(self) -> uuid.UUID | None:
        try:
            return uuid.UUID(self._where.actor) if self._where.actor else None
        except ValueError:
            return None

    def chosen_purpose(self) -> str | None:
        value = self.purpose.currentData()
        return str(value) if value else None

    def request(self) -> ExportRequest:
        if self.range.isChecked():
            return ExportRequest("range", start=self.start.value(), end=self.end.value())
        if self.object_trail.isChecked():
            return ExportRequest(
                "object", object_type=self._where.object_type, object_id=self._where.object_id
            )
        if self.actor_trail.isChecked():
            return ExportRequest("actor", actor=self._actor())
        return ExportRequest("range")

    def show_error(self, message: str) -> None:
        self.error.setText(message)
        self.error.show()
        self.buttons.setEnabled(True)

    def _changed(self) -> None:
        ready = self.chosen_purpose() is not None and bool(self.path.text().strip())
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(ready)
        self.start.setEnabled(self.range.isChecked())
        self.end.setEnabled(self.range.isChecked())

    def _choose_file(self) -> None:
        dialog = QFileDialog(self, "Save the evidence bundle", self.path.text(), "Evidence bundles (*.json)")
        dialog.setObjectName("export_file_dialog")
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setDefaultSuffix("json")
        dialog.fileSelected.connect(self.path.setText)
        self._file_dialog = dialog
        dialog.open()

    def _export(self) -> None:
        purpose = self.chosen_purpose()
        if purpose is None:
            return
        self.error.hide()
        self.buttons.setEnabled(False)
        self._submit(self, self.request(), purpose, Path(self.path.text().strip()).expanduser())
