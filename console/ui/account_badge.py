"""Who is signed in and how, in the status bar: name, roles and branch, and whether the
session is online with the server or the vault was unlocked offline."""

from __future__ import annotations

import datetime as dt

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QPalette
from PySide6.QtWidgets import QLabel, QWidget

from console.auth.roles import role_titles
from console.auth.sessions import Sessions
from console.ui.format import utc_timestamp

ONLINE_COLOUR = "#1a7f37"
OFFLINE_COLOUR = "#9a6700"
MINIMUM_WIDTH = 120


class AccountBadge(QLabel):
    """Shortened with an ellipsis when the status bar is narrow (the tooltip has it all), so
    that it never makes the window wider."""

    def __init__(self, sessions: Sessions, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("account")
        self.setContentsMargins(6, 0, 6, 0)
        self._sessions = sessions
        self._colour: str | None = None
        sessions.changed.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        session = self._sessions.current
        if session is None:
            self._colour = None
            self.setText("Not signed in")
            self.setToolTip("")
            return
        identity = session.identity
        who = f"{identity.display_name} · {role_titles(identity.roles)} · {identity.branch_code}"
        if session.online:
            state, colour = "Online session", ONLINE_COLOUR
            detail = f"Signed in with the server until {utc_timestamp(session.session_expires_at)}."
        elif session.offline_until is not None:
            until = session.offline_until.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
            state, colour = f"Offline unlock until {until}", OFFLINE_COLOUR
            detail = (
                f"Unlocked without the server (allowed until {utc_timestamp(session.offline_until)}); "
                "changes wait on this computer until you sign in to the server again."
            )
        else:
            state, colour = "Sign-in needed", OFFLINE_COLOUR
            detail = "The server session ended; use Console → Sign in to the server."
        self._colour = colour
        self.setText(f"{state} — {who}")
        record = session.vault.key_file.keyring
        protection = (
            f"The vault key is also kept in the OS keyring ({record.backend})."
            if record is not None
            else "No OS keyring keeps the vault key: your password alone protects the vault."
        )
        self.setToolTip("\n".join((f"{state} — {who}", detail, protection)))
        self.update()

    def minimumSizeHint(self) -> QSize:
        return QSize(MINIMUM_WIDTH, super().minimumSizeHint().height())

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        try:
            colour = (
                QColor(self._colour) if self._colour else self.palette().color(QPalette.ColorRole.WindowText)
            )
            painter.setPen(colour)
            area = self.contentsRect()
            shown = self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideRight, area.width())
            painter.drawText(area, int(Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft), shown)
        finally:
            painter.end()
