"""Sync engine fixtures: a real server (SQLite unless a test asks for both backends) that a
test may stop and start again on the same port, and headless consoles signed in to it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from keyring.backends import fail

from server.db.migrate import upgrade_to_head
from testkit.auth import FAST_ARGON2
from testkit.console import installed_keyring
from testkit.console_sync import Consoles, restart
from testkit.servers import RunningServer, server_settings


@pytest.fixture(autouse=True)
def no_keyring() -> Iterator[None]:
    with installed_keyring(fail.Keyring()):
        yield


class ServerHolder:
    """The test's server; ``stop`` and ``start`` keep its port, data and database."""

    def __init__(self, server: RunningServer) -> None:
        self.current: RunningServer | None = server
        self.settings = server.settings
        self._last = server

    @property
    def server(self) -> RunningServer:
        assert self.current is not None
        return self.current

    def stop(self) -> None:
        if self.current is not None:
            self.current.stop()
            self.current = None

    def start(self) -> RunningServer:
        assert self.current is None
        self.current = self._last = restart(self._last)
        return self.current


def _holder(tmp_path: Path, url: str) -> Iterator[ServerHolder]:
    settings = server_settings(tmp_path / "server", url, shutdown_grace=1.0, **FAST_ARGON2)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    holder = ServerHolder(RunningServer(settings))
    yield holder
    holder.stop()


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[ServerHolder]:
    url = f"sqlite:///{tmp_path / 'kluis.db'}"
    upgrade_to_head(url)
    yield from _holder(tmp_path, url)


@pytest.fixture
def servers_on_each_backend(tmp_path: Path, database_url: str) -> Iterator[ServerHolder]:
    yield from _holder(tmp_path, database_url)


def _consoles(qloop, run, holder: ServerHolder, root: Path) -> Iterator[Consoles]:
    made = Consoles(qloop, holder.server, root)
    yield made
    run(made.aclose())
    assert made.unexpected == []


@pytest.fixture
def consoles(qloop, run, servers: ServerHolder, tmp_path: Path) -> Iterator[Consoles]:
    yield from _consoles(qloop, run, servers, tmp_path / "consoles")


@pytest.fixture
def consoles_on_each_backend(qloop, run, servers_on_each_backend: ServerHolder, tmp_path: Path):
    yield from _consoles(qloop, run, servers_on_each_backend, tmp_path / "consoles")
