"""Workspaces: the pages the shell's navigation offers.

A workspace names the roles it serves.  The navigation lists only the workspaces open to
the roles of whoever is signed in; one with no roles (such as the server page) is open
to everyone, signed in or not."""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from PySide6.QtWidgets import QWidget

from console.context import ShellContext


class Role(enum.Enum):
    TELLER = "teller"
    COMPLIANCE = "compliance"
    AUDITOR = "auditor"
    ADMIN = "admin"


@dataclass(frozen=True)
class Workspace:
    key: str
    title: str
    build: Callable[[ShellContext], QWidget]
    roles: frozenset[Role] = frozenset()

    def open_to(self, roles: frozenset[Role]) -> bool:
        return not self.roles or not self.roles.isdisjoint(roles)


def open_workspaces(workspaces: Iterable[Workspace], roles: frozenset[Role]) -> list[Workspace]:
    return [workspace for workspace in workspaces if workspace.open_to(roles)]
