"""The shell's navigation offers exactly the workspaces open to the signed-in roles."""

from __future__ import annotations

import shiboken6
from PySide6.QtCore import QCoreApplication, QEvent
from PySide6.QtWidgets import QLabel

from console.app import Console
from console.net.trust import load_trust_anchor
from console.ui.shell import MainWindow
from console.ui.workspaces import Role, Workspace, open_workspaces
from server.tls import ensure_development_tls


def page(name: str, built: dict[str, QLabel]):
    def build(context) -> QLabel:
        label = QLabel(name)
        label.setObjectName(name)
        built[name] = label
        return label

    return build


def test_navigation_follows_the_roles_and_closed_workspaces_are_destroyed(qloop, run, qtbot, tmp_path):
    trust = load_trust_anchor(ensure_development_tls(tmp_path, []).ca_file)
    console = Console(qloop, ["https://localhost:1"], trust, unexpected=lambda error: None)
    built: dict[str, QLabel] = {}
    workspaces = [
        Workspace("server", "Server", page("server", built)),
        Workspace("teller", "Teller", page("teller", built), frozenset({Role.TELLER})),
        Workspace("review", "Review", page("review", built), frozenset({Role.COMPLIANCE, Role.AUDITOR})),
    ]
    window = MainWindow(console.context, workspaces)
    qtbot.addWidget(window)
    try:
        assert window.workspace_titles() == ["Server"]
        assert set(built) == {"server"}

        window.set_roles(frozenset({Role.TELLER}))
        assert window.workspace_titles() == ["Server", "Teller"]
        window.navigation.setCurrentRow(1)
        assert window.current_workspace() == "teller"
        assert window.workspace_area.currentWidget() is built["teller"]

        window.set_roles(frozenset({Role.TELLER, Role.AUDITOR}))
        assert window.workspace_titles() == ["Server", "Teller", "Review"]
        assert window.current_workspace() == "teller"

        teller = built["teller"]
        window.set_roles(frozenset({Role.COMPLIANCE}))
        assert window.workspace_titles() == ["Server", "Review"]
        assert window.current_workspace() == "server"
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        assert not shiboken6.isValid(teller)
        assert shiboken6.isValid(built["server"])
    finally:
        run(console.aclose())


def test_a_workspace_without_roles_is_open_to_everyone():
    everyone = Workspace("server", "Server", lambda context: QLabel())
    admins = Workspace("users", "Users", lambda context: QLabel(), frozenset({Role.ADMIN}))
    assert open_workspaces([everyone, admins], frozenset()) == [everyone]
    assert open_workspaces([everyone, admins], frozenset({Role.ADMIN})) == [everyone, admins]
