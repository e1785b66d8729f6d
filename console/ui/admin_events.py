"""Recent security events (sign-ins, lockouts, enrollments, administrators' changes), newest
first, with accounts and devices named where they are listed."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence

from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from console.admin.api import EVENT_LIMIT, SecurityEvent
from console.admin.describe import event_kind, event_reason, short_id, who
from console.ui.admin_table import Column, RecordsModel, records_table
from console.ui.format import utc_timestamp


class EventsTab(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("events_tab")
        self._usernames: Mapping[uuid.UUID, str] = {}
        self._devices: Mapping[uuid.UUID, str] = {}
        self.intro = QLabel(f"The {EVENT_LIMIT} most recent security events, newest first.")
        self.model = RecordsModel(
            (
                Column("Time", lambda event: utc_timestamp(event.occurred_at), 165),
                Column("Event", event_kind, 160),
                Column("Outcome", lambda event: event.outcome.capitalize(), 70),
                Column("Reason", event_reason, 115),
                Column("Account", lambda event: who(event.user_id, self._usernames), 115),
                Column("By", lambda event: who(event.actor_id, self._usernames), 100),
                Column("Device", self._device, 105, tooltip=lambda event: str(event.device_id or "")),
                Column("Source", lambda event: event.source.upper(), 55),
                Column("Address", lambda event: event.client_address or "", 90),
            ),
            self,
        )
        self.table = records_table(self.model, "events_table")
        layout = QVBoxLayout(self)
        layout.addWidget(self.intro)
        layout.addWidget(self.table, 1)

    def show_events(
        self,
        events: Sequence[SecurityEvent],
        usernames: Mapping[uuid.UUID, str],
        devices: Mapping[uuid.UUID, str],
    ) -> None:
        self._usernames = usernames
        self._devices = devices
        self.model.set_records(events)

    def _device(self, event: SecurityEvent) -> str:
        if event.device_id is None:
            return "—"
        return self._devices.get(event.device_id, short_id(event.device_id))
