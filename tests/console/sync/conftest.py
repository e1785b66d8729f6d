"""Sync engine fixtures: a real server (SQLite unless a test asks for both backends) that a
test may stop and start again on the same port, and headless consoles signed in to it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from keyring.backends import fail

from server.db.migrate import upgrade_to_head
from testkit.console import installed_keyring
from testkit.console_sync import Consoles, ServerHolder, open_consoles, server_holder


@pytest.fixture(autouse=True)
def no_keyring() -> Iterator[None]:
    with installed_keyring(fail.Keyring()):
        yield


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[ServerHolder]:
    url = f"sqlite:///{tmp_path / 'kluis.db'}"
    upgrade_to_head(url)
    yield from server_holder(tmp_path, url)


@pytest.fixture
def servers_on_each_backend(tmp_path: Path, database_url: str) -> Iterator[ServerHolder]:
    yield from server_holder(tmp_path, database_url)


@pytest.fixture
def consoles(qloop, run, servers: ServerHolder, tmp_path: Path) -> Iterator[Consoles]:
    yield from open_consoles(qloop, run, servers, tmp_path / "consoles")


@pytest.fixture
def consoles_on_each_backend(qloop, run, servers_on_each_backend: ServerHolder, tmp_path: Path):
    yield from open_consoles(qloop, run, servers_on_each_backend, tmp_path / "consoles")
