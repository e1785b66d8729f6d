"""A list of enrolled devices with a Revoke button: every device on the Devices tab, and one
user's devices beside the account."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from console.admin.api import Device
from console.admin.describe import device_state, short_id, who
from console.ui.admin_table import Column, RecordsModel, records_table, selected_record
from console.ui.format import utc_timestamp


class DevicesPanel(QWidget):
    revoke_requested = Signal(object)  # Device

    def __init__(self, name: str, *, with_user: bool, intro: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(name)
        self._usernames: Mapping[uuid.UUID, str] = {}
        self._online = False
        columns = [Column("Device", lambda device: device.name, 150, tooltip=lambda device: str(device.id))]
        if with_user:
            columns.append(Column("Account", lambda device: who(device.user_id, self._usernames), 130))
        columns += [
            Column(
                "State",
                device_state,
                70,
                tooltip=lambda device: "" if device.active else f"Revoked {utc_timestamp(device.revoked_at)}",
            ),
            Column("Enrolled", lambda device: utc_timestamp(device.created_at), 165),
            Column("Last seen", lambda device: utc_timestamp(device.last_seen_at), 165),
        ]
        if with_user:
            columns.append(
                Column(
                    "Device ID", lambda device: short_id(device.id), 90, tooltip=lambda device: str(device.id)
                )
            )
        self.model = RecordsModel(columns, self)
        self.table = records_table(self.model, f"{name}_table")
        self.revoke_button = QPushButton("Revoke device…")
        self.revoke_button.setObjectName(f"{name}_revoke")
        self.revoke_button.setToolTip(
            "Its sessions end at once and it wipes its local data the next time it reaches the server."
        )
        buttons = QHBoxLayout()
        if intro:
            label = QLabel(intro)
            label.setWordWrap(True)
            buttons.addWidget(label, 1)
        else:
            buttons.addStretch(1)
        buttons.addWidget(self.revoke_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        self.table.selectionModel().selectionChanged.connect(self._update)
        self.revoke_button.clicked.connect(self._revoke)
        self._update()

    def show_devices(self, devices: Sequence[Device], usernames: Mapping[uuid.UUID, str]) -> None:
        chosen = self.selected()
        self._usernames = usernames
        active_first = sorted(devices, key=lambda device: (not device.active, device.name.casefold()))
        self.model.set_records(active_first)
        row = self.model.row_of(lambda device: device.id == chosen.id) if chosen is not None else None
        if row is not None:
            self.table.selectRow(row)
        self._update()

    def selected(self) -> Device | None:
        device: Device | None = selected_record(self.table, self.model)
        return device

    def select(self, device_id: uuid.UUID) -> None:
        row = self.model.row_of(lambda device: device.id == device_id)
        if row is not None:
            self.table.selectRow(row)

    def set_online(self, online: bool) -> None:
        self._online = online
        self._update()

    def _update(self) -> None:
        device = self.selected()
        self.revoke_button.setEnabled(self._online and device is not None and device.active)

    def _revoke(self) -> None:
        device = self.selected()
        if device is not None and device.active:
            self.revoke_requested.emit(device)
