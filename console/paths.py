"""Where a profile lives when ``--profile`` is not given."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QCoreApplication, QStandardPaths

from console.net.urls import host_port_slug

ORGANIZATION = "Kluis"
APPLICATION = "kluis-console"
DISPLAY_NAME = "Kluis Console"


def set_application_names() -> None:
    """Before the QApplication exists: these names place the application data directory."""
    QCoreApplication.setOrganizationName(ORGANIZATION)
    QCoreApplication.setApplicationName(APPLICATION)


def default_profile_dir(server: str) -> Path:
    """``<application data>/profiles/<host>_<port>`` for the first server."""
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    if not base:
        raise OSError("this system has no application data directory")
    return Path(base) / "profiles" / host_port_slug(server)
