"""The server page: who the server is, as reported over verified TLS 1.3 and checked
against what the console knows locally."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QFormLayout, QGroupBox, QLabel, QVBoxLayout, QWidget

from console.changes import Changes, Topic
from console.context import ShellContext
from console.identity import ServerIdentity
from console.ui.format import (
    CLOCK_SKEW_WARNING,
    NOT_YET,
    clock_skew,
    fingerprint_lines,
    utc_clock,
    utc_timestamp,
)
from console.ui.style import ERROR_BANNER, WARNING_BANNER, fixed_font

READINESS_TEXT = {"ready": "Ready", "not_ready": "Not ready", "draining": "Shutting down (draining)"}


def _value_label(name: str, *, fixed: bool = False) -> QLabel:
    label = QLabel(NOT_YET)
    label.setObjectName(name)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    if fixed:
        label.setFont(fixed_font())
    return label


LABEL_WIDTH_TEXT = "Schema revision"  # the longest row label: both boxes line up on it


def _form_box(title: str, rows: list[tuple[str, QLabel]]) -> QGroupBox:
    box = QGroupBox(title)
    form = QFormLayout(box)
    form.setHorizontalSpacing(16)
    for text, value in rows:
        label = QLabel(text)
        label.setMinimumWidth(label.fontMetrics().horizontalAdvance(LABEL_WIDTH_TEXT))
        label.setBuddy(value)
        form.addRow(label, value)
    return box


class ServerPage(QWidget):
    def __init__(self, context: ShellContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._connection = context.connection
        self.setObjectName("server_page")

        title = QLabel("Server identity")
        font = QFont(title.font())
        font.setPointSizeF(font.pointSizeF() * 1.5)
        font.setBold(True)
        title.setFont(font)
        intro = QLabel("The server this console works with, as it identifies itself over verified TLS 1.3.")
        intro.setWordWrap(True)

        self._banner = QLabel()
        self._banner.setObjectName("banner")
        self._banner.setWordWrap(True)
        self._banner.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._banner.hide()

        self._url = _value_label("server_url")
        self._version = _value_label("version")
        self._api_version = _value_label("api_version")
        self._schema = _value_label("schema_revision")
        self._readiness = _value_label("readiness")
        self._server_time = _value_label("server_time")
        self._skew = _value_label("clock_skew")
        self._checked = _value_label("checked_at")
        self._tls = _value_label("tls_version")
        self._fingerprint = _value_label("ca_fingerprint", fixed=True)
        self._match = _value_label("ca_match")
        self._match.setWordWrap(True)
        self._ca_file = _value_label("ca_file")
        self._ca_file.setWordWrap(True)

        server_box = _form_box(
            "As the server reports it",
            [
                ("Address", self._url),
                ("Version", self._version),
                ("API version", self._api_version),
                ("Schema revision", self._schema),
                ("Readiness", self._readiness),
                ("Server time", self._server_time),
                ("Clock difference", self._skew),
                ("Last checked", self._checked),
            ],
        )
        security_box = _form_box(
            "Connection security",
            [
                ("TLS version", self._tls),
                ("Trusted CA", self._fingerprint),
                ("Server's CA", self._match),
                ("CA file", self._ca_file),
            ],
        )

        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 16, 24, 16)
        layout.setSpacing(12)
        layout.addWidget(title)
        layout.addWidget(intro)
        layout.addWidget(self._banner)
        layout.addWidget(server_box)
        layout.addWidget(security_box)
        layout.addStretch(1)

        self._fingerprint.setText(fingerprint_lines(context.client.trust.fingerprint))
        self._ca_file.setText(str(context.client.trust.ca_file))
        context.operations.changed.connect(self._on_changed)
        self._render()

    def _on_changed(self, changes: Changes) -> None:
        if changes.touches(Topic.CONNECTION, Topic.SERVER_IDENTITY):
            self._render()

    def _render(self) -> None:
        identity = self._connection.identity
        self._url.setText(identity.server if identity else self._connection.server)
        if identity is None:
            for label in (
                self._version,
                self._api_version,
                self._schema,
                self._readiness,
                self._server_time,
                self._skew,
                self._checked,
                self._tls,
                self._match,
            ):
                label.setText(NOT_YET)
        else:
            self._show_identity(identity)
        self._show_banner(identity)

    def _show_identity(self, identity: ServerIdentity) -> None:
        readiness = identity.readiness
        self._version.setText(identity.version)
        self._api_version.setText(str(identity.api_version))
        self._schema.setText(identity.schema_revision)
        self._readiness.setText(
            f"{READINESS_TEXT[readiness.status]} (database {readiness.checks.database}, "
            f"schema {readiness.checks.schema_.replace('_', ' ')})"
        )
        self._server_time.setText(utc_timestamp(identity.server_time))
        self._skew.setText(clock_skew(identity.clock_skew))
        self._checked.setText(utc_clock(identity.checked_at))
        self._tls.setText(identity.tls_version)
        if identity.ca_matches is None:
            self._match.setText("The server does not report its CA fingerprint.")
        elif identity.ca_matches:
            self._match.setText("✔ The server reports the same CA fingerprint.")
        else:
            self._match.setText(f"✘ The server reports a different CA:\n{identity.reported_ca_fingerprint}")

    def _show_banner(self, identity: ServerIdentity | None) -> None:
        error = self._connection.error
        if error is not None:
            text = str(error)
            if identity is not None:
                checked = utc_clock(identity.checked_at)
                text += f"\nThe details below are from the last successful check, at {checked}."
            self._set_banner(text, ERROR_BANNER)
            return
        warnings = []
        if identity is not None:
            if identity.ca_matches is False:
                warnings.append(
                    "The server reports a CA fingerprint different from the CA this console trusts. "
                    "The connection was still verified against the trusted CA; tell your administrator."
                )
            if identity.readiness.status != "ready":
                warnings.append("The server answers but is not ready to serve requests.")
            if abs(identity.clock_skew) > CLOCK_SKEW_WARNING:
                limit = int(CLOCK_SKEW_WARNING.total_seconds())
                warnings.append(
                    f"This computer's clock and the server's differ by more than {limit} seconds; "
                    "ask your administrator to check them."
                )
        if warnings:
            self._set_banner("\n".join(warnings), WARNING_BANNER)
        else:
            self._banner.hide()

    def _set_banner(self, text: str, style: str) -> None:
        self._banner.setText(text)
        self._banner.setStyleSheet(style)
        self._banner.show()
