"""Shared look: status colours, banner styles and the fixed-width font."""

from __future__ import annotations

from PySide6.QtGui import QFont, QFontDatabase

from console.state import LinkStatus

STATUS_COLOURS = {
    LinkStatus.CONNECTING: "#9a6700",
    LinkStatus.ONLINE: "#1a7f37",
    LinkStatus.OFFLINE: "#cf222e",
    LinkStatus.SYNCING: "#0969da",
}

ERROR_BANNER = "QLabel { background: #ffebe9; color: #82071e; border: 1px solid #ff8182; padding: 8px; }"
WARNING_BANNER = "QLabel { background: #fff8c5; color: #4d2d00; border: 1px solid #d4a72c; padding: 8px; }"


def fixed_font() -> QFont:
    return QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
