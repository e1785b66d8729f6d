"""Dialogs of the customer register: stating a purpose before revealing a field, and
capturing a new customer or a change.  They are opened with ``open()`` and awaited through
``ui.dialogs.dialog_result`` (never ``exec()``); the edit dialog stays open until the
change is stored or the person cancels, showing shared/customers' own messages."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from console.customers.purposes import PURPOSES
from console.sync.mutators import business_day
from console.ui.style import ERROR_BANNER
from shared.customers import CustomerFields, Province, check_identity
from shared.sync.mutators import Rejection

FIELD_LABELS = {
    "first_names": "First names",
    "surname": "Surname",
    "id_number": "SA ID number",
    "passport_number": "Passport number",
    "passport_country": "Passport country",
    "date_of_birth": "Date of birth",
    "email": "Email",
    "phone": "Phone",
    "address": "Address",
    "line1": "Address line 1",
    "line2": "Address line 2",
    "suburb": "Suburb",
    "city": "City",
    "province": "Province",
    "postal_code": "Postal code",
}

REVEALABLE = {
    "id_number": "ID number",
    "passport_number": "Passport number",
    "phone": "Phone",
    "email": "Email",
    "date_of_birth": "Date of birth",
    "address": "Address",
}


class RevealDialog(QDialog):
    """Why the field is needed; there is no default, so a purpose is always chosen."""

    def __init__(self, field_label: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("reveal_dialog")
        self.setWindowTitle(f"Reveal {field_label}")
        self.purpose = QComboBox()
        self.purpose.setObjectName("reveal_purpose")
        self.purpose.addItem("Choose a purpose…", None)
        for code, label in PURPOSES.items():
            self.purpose.addItem(label, code)
        explanation = QLabel(
            f"Revealing the {field_label.lower()} is recorded in the audit log with your name, this "
            "computer and the purpose you choose."
        )
        explanation.setWordWrap(True)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Reveal")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.purpose.currentIndexChanged.connect(self._changed)
        layout = QVBoxLayout(self)
        layout.addWidget(explanation)
        layout.addWidget(self.purpose)
        layout.addWidget(self.buttons)
        self._changed()

    def chosen(self) -> str | None:
        value = self.purpose.currentData()
        return str(value) if value else None

    def _changed(self) -> None:
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(self.chosen() is not None)


def _problems(error: ValidationError) -> str:
    lines = []
    for problem in error.errors():
        where = [str(part) for part in problem["loc"] if str(part) in FIELD_LABELS]
        label = FIELD_LABELS[where[-1]] if where else "A field"
        message = str(problem["msg"]).removeprefix("Value error, ")
        lines.append(f"{label}: {message}")
    return "\n".join(dict.fromkeys(lines))


class CustomerDialog(QDialog):
    """Create a customer, or change one.  For a change, personal fields start empty (they
    stay masked); only what is typed is changed."""

    def __init__(
        self,
        submit: Callable[[CustomerDialog, dict[str, Any]], None],
        *,
        current: dict[str, Any] | None = None,
        masked_values: dict[str, str | None] | None = None,
        today: Callable[[], dt.date] = lambda: business_day(dt.datetime.now(dt.UTC)),
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._submit = submit
        self._current = current
        self._today = today
        self.setObjectName("customer_dialog")
        self.setWindowTitle("Change customer" if current else "New customer")
        self.setMinimumWidth(520)
        self.edits: dict[str, QLineEdit] = {}
        form = QFormLayout()
        hints = masked_values or {}
        for name in (
            "first_names",
            "surname",
            "id_number",
            "passport_number",
            "passport_country",
            "date_of_birth",
            "phone",
            "email",
            "line1",
            "line2",
            "suburb",
            "city",
            "postal_code",
        ):
            edit = QLineEdit()
            edit.setObjectName(f"field_{name}")
            if current and hints.get(name):
                edit.setPlaceholderText(f"{hints[name]}: leave empty to keep")
            elif current and name not in ("first_names", "surname"):
                edit.setPlaceholderText("leave empty to keep")
            self.edits[name] = edit
            form.addRow(FIELD_LABELS[name], edit)
        self.edits["date_of_birth"].setPlaceholderText(
            self.edits["date_of_birth"].placeholderText() or "YYYY-MM-DD"
        )
        self.edits["phone"].setPlaceholderText(self.edits["phone"].placeholderText() or "082 123 4567")
        self.province = QComboBox()
        self.province.setObjectName("field_province")
        self.province.addItem("—", None)
        for province in Province:
            self.province.addItem(province.value, province.value)
        form.addRow(FIELD_LABELS["province"], self.province)
        if current:
            fields = current.get("fields") or {}
            self.edits["first_names"].setText(fields.get("first_names", ""))
            self.edits["surname"].setText(fields.get("surname", ""))
        self.error = QLabel()
        self.error.setObjectName("customer_dialog_error")
        self.error.setWordWrap(True)
        self.error.setStyleSheet(ERROR_BANNER)
        self.error.hide()
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self._save)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)

    def _typed(self) -> dict[str, Any]:
        values = {name: edit.text().strip() for name, edit in self.edits.items()}
        personal: dict[str, Any] = {
            name: values[name] or None
            for name in (
                "first_names",
                "surname",
                "id_number",
                "passport_number",
                "passport_country",
                "date_of_birth",
                "phone",
                "email",
            )
        }
        address = {name: values[name] or None for name in ("line1", "line2", "suburb", "city", "postal_code")}
        address["province"] = self.province.currentData()
        personal["address"] = address if any(address.values()) else None
        return personal

    def show_error(self, message: str) -> None:
        self.error.setText(message)
        self.error.setVisible(bool(message))
        self.buttons.setEnabled(True)

    def _save(self) -> None:
        typed = self._typed()
        if self._current is None:
            fields_data = {name: value for name, value in typed.items() if value is not None}
        else:
            existing = dict((self._current.get("fields") or {}).items())
            changes = {name: value for name, value in typed.items() if value is not None}
            if changes.get("first_names") == existing.get("first_names"):
                changes.pop("first_names")
            if changes.get("surname") == existing.get("surname"):
                changes.pop("surname")
            if not changes:
                self.show_error("Nothing was changed.")
                return
            fields_data = {**existing, **changes}
        try:
            fields = CustomerFields.model_validate(fields_data)
            check_identity(fields, self._today())
        except ValidationError as error:
            self.show_error(_problems(error))
            return
        except Rejection as rejection:
            self.show_error(rejection.message)
            return
        self.show_error("")
        self.buttons.setEnabled(False)  # until the store answers
        if self._current is None:
            self._submit(self, {"fields": fields.model_dump(mode="json")})
        else:
            normalised = fields.model_dump(mode="json")
            self._submit(self, {"changes": {name: normalised[name] for name in changes}})
