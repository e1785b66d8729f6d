"""Small pieces the sign-in, enrollment and re-authentication screens share."""

from __future__ import annotations

from PySide6.QtCore import QRegularExpression, Qt
from PySide6.QtGui import QCursor, QFont, QRegularExpressionValidator
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget

from console.ui.style import ERROR_BANNER

INFO_BANNER = "QLabel { background: #ddf4ff; color: #0a3069; border: 1px solid #54aeff; padding: 8px; }"
HINT_STYLE = "QLabel { color: #57606a; }"
CARD_WIDTH = 440
LINK_STYLE = (
    "QPushButton { color: #0969da; border: none; padding: 2px 0; text-align: left; }"
    "QPushButton:hover { text-decoration: underline; }"
    "QPushButton:disabled { color: #8c959f; }"
)


def heading(text: str, scale: float = 1.5) -> QLabel:
    label = QLabel(text)
    font = QFont(label.font())
    font.setPointSizeF(font.pointSizeF() * scale)
    font.setBold(True)
    label.setFont(font)
    return label


def hint(text: str, name: str | None = None) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setStyleSheet(HINT_STYLE)
    if name:
        label.setObjectName(name)
    return label


class MessageLabel(QLabel):
    """An error or information banner, hidden while empty."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.setObjectName(name)
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.hide()

    def error(self, text: str) -> None:
        self.setStyleSheet(ERROR_BANNER)
        self.setText(text)
        self.show()

    def info(self, text: str) -> None:
        self.setStyleSheet(INFO_BANNER)
        self.setText(text)
        self.show()

    def clear_message(self) -> None:
        self.clear()
        self.hide()


def link_button(text: str, name: str) -> QPushButton:
    """A button that reads as a link: for the way to another form, not the main action."""
    button = QPushButton(text)
    button.setObjectName(name)
    button.setFlat(True)
    button.setAutoDefault(False)
    button.setStyleSheet(LINK_STYLE)
    button.setCursor(QCursor(Qt.CursorShape.PointingHandCursor))
    return button


def line_edit(name: str, *, secret: bool = False, placeholder: str = "") -> QLineEdit:
    edit = QLineEdit()
    edit.setObjectName(name)
    if secret:
        edit.setEchoMode(QLineEdit.EchoMode.Password)
        # Nothing typed into a secret field may be dragged or copied out of it.
        edit.setContextMenuPolicy(Qt.ContextMenuPolicy.NoContextMenu)
    if placeholder:
        edit.setPlaceholderText(placeholder)
    return edit


def code_edit(name: str) -> QLineEdit:
    """Six digits from an authenticator app."""
    edit = line_edit(name, placeholder="6 digits")
    edit.setValidator(QRegularExpressionValidator(QRegularExpression(r"\d{0,6}"), edit))
    edit.setMaxLength(6)
    edit.setInputMethodHints(Qt.InputMethodHint.ImhDigitsOnly)
    return edit


def centred_card(content: QWidget) -> QWidget:
    """``content`` in a fixed-width card, centred on the page."""
    card = QFrame()
    card.setObjectName("card")
    card.setFrameShape(QFrame.Shape.StyledPanel)
    card.setFixedWidth(CARD_WIDTH)
    inner = QVBoxLayout(card)
    inner.setContentsMargins(24, 20, 24, 20)
    inner.addWidget(content)
    page = QWidget()
    row = QHBoxLayout()
    row.addStretch(1)
    row.addWidget(card)
    row.addStretch(1)
    outer = QVBoxLayout(page)
    # Anchored near the top, so the card does not jump when rows appear or disappear.
    outer.addSpacing(48)
    outer.addLayout(row)
    outer.addStretch(1)
    return page
