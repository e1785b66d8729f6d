"""The shell: navigation, the workspace area and the status bar around whatever
workspaces are open to the signed-in roles.  Before anyone is signed in the window shows
the sign-in gate (when the console has one) in place of the workspaces; the status bar
stays, so the server's state is visible while signing in."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from console.auth.roles import shell_roles
from console.context import ShellContext
from console.ui.account_badge import AccountBadge
from console.ui.status_bar import ShellStatusBar
from console.ui.workspaces import Role, Workspace, open_workspaces

NAVIGATION_WIDTH = 180
WINDOW_TITLE = "Kluis Console"
NOTICE_BAR = (
    "QFrame#notice_bar { background: #fff8c5; border: 1px solid #d4a72c; }"
    "QFrame#notice_bar QLabel { color: #4d2d00; }"
)


class MainWindow(QMainWindow):
    closed = Signal()

    def __init__(self, context: ShellContext, workspaces: Sequence[Workspace]) -> None:
        super().__init__()
        self._context = context
        self._workspaces = tuple(workspaces)
        self._pages: dict[str, QWidget] = {}
        self.setWindowTitle(WINDOW_TITLE)
        self.resize(1200, 720)

        self.refresh_action = QAction("Refresh", self)
        self.refresh_action.setObjectName("refresh")
        self.refresh_action.setShortcuts(QKeySequence.StandardKey.Refresh)
        self.refresh_action.setToolTip("Check the server now")
        self.refresh_action.triggered.connect(context.monitor.check_now)
        quit_action = QAction("Quit", self)
        quit_action.setShortcuts(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        self.sign_in_again_action = QAction("Sign in to the server…", self)
        self.sign_in_again_action.setObjectName("sign_in_again")
        self.sign_in_again_action.setEnabled(False)
        self.sign_out_action = QAction("Sign out", self)
        self.sign_out_action.setObjectName("sign_out")
        self.sign_out_action.setEnabled(False)

        console_menu = self.menuBar().addMenu("&Console")
        console_menu.addAction(self.refresh_action)
        console_menu.addSeparator()
        console_menu.addAction(self.sign_in_again_action)
        console_menu.addAction(self.sign_out_action)
        console_menu.addSeparator()
        console_menu.addAction(quit_action)
        toolbar = self.addToolBar("Main")
        toolbar.setObjectName("main_toolbar")
        toolbar.setMovable(False)
        toolbar.addAction(self.refresh_action)

        self.navigation = QListWidget()
        self.navigation.setObjectName("navigation")
        self.navigation.setFixedWidth(NAVIGATION_WIDTH)
        self.workspace_area = QStackedWidget()
        self.workspace_area.setObjectName("workspace_area")
        self.navigation.currentRowChanged.connect(self._show_row)

        self.notice = QLabel()
        self.notice.setObjectName("shell_notice")
        self.notice.setWordWrap(True)
        self.notice.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.dismiss_notice = QToolButton()
        self.dismiss_notice.setObjectName("dismiss_notice")
        self.dismiss_notice.setText("✕")
        self.dismiss_notice.setToolTip("Dismiss")
        self.dismiss_notice.setAutoRaise(True)
        self.dismiss_notice.clicked.connect(lambda: self.show_notice(None))
        self.notice_bar = QFrame()
        self.notice_bar.setObjectName("notice_bar")
        self.notice_bar.setStyleSheet(NOTICE_BAR)
        notice_row = QHBoxLayout(self.notice_bar)
        notice_row.setContentsMargins(8, 4, 4, 4)
        notice_row.addWidget(self.notice, 1)
        notice_row.addWidget(self.dismiss_notice, 0, Qt.AlignmentFlag.AlignTop)
        self.notice_bar.hide()
        self.shell_page = QWidget()
        self.shell_page.setObjectName("shell_page")
        columns = QHBoxLayout()
        columns.setContentsMargins(0, 0, 0, 0)
        columns.setSpacing(0)
        columns.addWidget(self.navigation)
        columns.addWidget(self.workspace_area, 1)
        layout = QVBoxLayout(self.shell_page)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.notice_bar)
        layout.addLayout(columns, 1)
        self.pages = QStackedWidget()
        self.pages.addWidget(self.shell_page)
        self._gate: QWidget | None = None
        self.setCentralWidget(self.pages)
        status_bar = ShellStatusBar(context, self)
        self.account = AccountBadge(context.sessions, status_bar)
        divider = QFrame()
        divider.setFrameShape(QFrame.Shape.VLine)
        divider.setFrameShadow(QFrame.Shadow.Sunken)
        status_bar.addWidget(divider)
        status_bar.addWidget(self.account, 1)
        self.setStatusBar(status_bar)
        context.sessions.changed.connect(self._session_changed)
        self.set_roles(frozenset())

    def set_roles(self, roles: frozenset[Role]) -> None:
        """Offer the workspaces open to ``roles``.  Pages that stay open are kept; pages
        that close are destroyed, so nothing one person saw lingers for the next."""
        current = self.current_workspace()
        opened = open_workspaces(self._workspaces, roles)
        keep = {workspace.key for workspace in opened}
        self.navigation.blockSignals(True)
        self.navigation.clear()
        while (page := self.workspace_area.widget(0)) is not None:
            self.workspace_area.removeWidget(page)
        for key in [key for key in self._pages if key not in keep]:
            self._pages.pop(key).deleteLater()
        for workspace in opened:
            page = self._pages.get(workspace.key)
            if page is None:
                page = self._pages[workspace.key] = workspace.build(self._context)
            self.workspace_area.addWidget(page)
            item = QListWidgetItem(workspace.title)
            item.setData(Qt.ItemDataRole.UserRole, workspace.key)
            self.navigation.addItem(item)
        self.navigation.blockSignals(False)
        keys = [workspace.key for workspace in opened]
        self.navigation.setCurrentRow(keys.index(current) if current in keys else 0)
        self._show_row(self.navigation.currentRow())

    def set_gate(self, gate: QWidget) -> None:
        """The sign-in gate, shown in place of the workspaces while nobody is signed in."""
        self._gate = gate
        self.pages.addWidget(gate)

    def show_gate(self) -> None:
        if self._gate is not None:
            self.pages.setCurrentWidget(self._gate)

    def show_shell(self) -> None:
        self.pages.setCurrentWidget(self.shell_page)

    def showing_gate(self) -> bool:
        return self._gate is not None and self.pages.currentWidget() is self._gate

    def show_notice(self, text: str | None) -> None:
        """A banner above the workspaces (what the sign-in had to say), or none."""
        self.notice.setText(text or "")
        self.notice_bar.setVisible(bool(text))

    def _session_changed(self) -> None:
        session = self._context.sessions.current
        self.sign_out_action.setEnabled(session is not None)
        self.sign_in_again_action.setEnabled(session is not None and not session.online)
        self.set_roles(shell_roles(session.identity.roles) if session is not None else frozenset())
        identity = session.identity if session is not None else None
        self.setWindowTitle(
            f"{WINDOW_TITLE} — {identity.display_name} ({identity.branch_code})" if identity else WINDOW_TITLE
        )

    def current_workspace(self) -> str | None:
        item = self.navigation.currentItem()
        return None if item is None else str(item.data(Qt.ItemDataRole.UserRole))

    def workspace_titles(self) -> list[str]:
        return [self.navigation.item(row).text() for row in range(self.navigation.count())]

    def _show_row(self, row: int) -> None:
        if 0 <= row < self.workspace_area.count():
            self.workspace_area.setCurrentIndex(row)

    def closeEvent(self, event: QCloseEvent) -> None:
        event.accept()
        self.closed.emit()
