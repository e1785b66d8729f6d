"""The shell's status bar: link status, last contact, last complete sync (or why syncing is
held up), outbox, server and CA in use."""

from __future__ import annotations

from PySide6.QtWidgets import QFrame, QLabel, QStatusBar, QWidget

from console.changes import Changes, Topic
from console.context import ShellContext
from console.state import LinkStatus
from console.ui.format import short_fingerprint, utc_clock
from console.ui.style import STATUS_COLOURS

STATUS_TEXT = {
    LinkStatus.CONNECTING: "Connecting",
    LinkStatus.ONLINE: "Online",
    LinkStatus.OFFLINE: "Offline",
    LinkStatus.SYNCING: "Syncing",
}


def _label(name: str) -> QLabel:
    label = QLabel()
    label.setObjectName(name)
    label.setContentsMargins(6, 0, 6, 0)
    return label


def _separator() -> QFrame:
    line = QFrame()
    line.setFrameShape(QFrame.Shape.VLine)
    line.setFrameShadow(QFrame.Shadow.Sunken)
    return line


class ShellStatusBar(QStatusBar):
    def __init__(self, context: ShellContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizeGripEnabled(False)
        self._connection = context.connection
        self._outbox = context.outbox
        self._dot = _label("link_dot")
        self._status = _label("link_status")
        self._contact = _label("last_contact")
        self._sync = _label("last_sync")
        self._queue = _label("outbox")
        self._server = _label("server_in_use")
        self._ca = _label("ca_in_use")
        self._dot.setContentsMargins(6, 0, 0, 0)
        self._status.setContentsMargins(0, 0, 6, 0)
        self.addWidget(self._dot)
        self.addWidget(self._status)
        self.addWidget(_separator())
        self.addWidget(self._contact)
        self.addWidget(_separator())
        self.addWidget(self._sync)
        for widget in (self._queue, _separator(), self._server, _separator(), self._ca):
            self.addPermanentWidget(widget)
        context.operations.changed.connect(self._on_changed)
        self._render()

    def _on_changed(self, changes: Changes) -> None:
        if changes.touches(Topic.CONNECTION, Topic.OUTBOX):
            self._render()

    def _render(self) -> None:
        connection = self._connection
        status = connection.status
        self._dot.setText("●")
        self._dot.setStyleSheet(f"QLabel {{ color: {STATUS_COLOURS[status]}; }}")
        self._status.setText(STATUS_TEXT[status])
        self._status.setToolTip(str(connection.error) if connection.error else "")
        self._contact.setText(f"Last contact: {utc_clock(connection.last_contact)}")
        if connection.update_required:
            self._sync.setText("Update required")
            self._sync.setStyleSheet(
                f"QLabel {{ color: {STATUS_COLOURS[LinkStatus.OFFLINE]}; font-weight: bold; }}"
            )
        elif connection.sync_problem:
            self._sync.setText(f"Sync waiting (last: {utc_clock(connection.last_sync)})")
            self._sync.setStyleSheet(f"QLabel {{ color: {STATUS_COLOURS[LinkStatus.CONNECTING]}; }}")
        else:
            self._sync.setText(f"Last sync: {utc_clock(connection.last_sync)}")
            self._sync.setStyleSheet("")
        self._sync.setToolTip(connection.sync_problem or "The last time every change was sent and received.")
        self._queue.setText(f"Outbox: {self._outbox.size}")
        self._queue.setToolTip("Changes made here that are waiting to be sent to the server.")
        self._server.setText(f"Server: {connection.server}")
        self._ca.setText(f"CA: {short_fingerprint(connection.ca_fingerprint)}")
        self._ca.setToolTip(f"Trusted CA fingerprint: {connection.ca_fingerprint}")
