"""Sync fixtures: a vault and its local store; a real server (SQLite unless a test asks
for both backends) that a test may stop and start again on the same port, and headless
consoles signed in to it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from keyring.backends import fail

from console.sync.store import LocalStore
from console.vault.keyring_store import KeyringStore
from console.vault.vault import Vault
from server.db.migrate import upgrade_to_head
from testkit.console import FAST_KDF, MemoryKeyring, installed_keyring
from testkit.console_sync import Consoles, ServerHolder, open_consoles, server_holder


@pytest.fixture(autouse=True)
def no_keyring() -> Iterator[None]:
    with installed_keyring(fail.Keyring()):
        yield


@pytest.fixture
def vault(tmp_path: Path) -> Iterator[Vault]:
    """A fresh vault of its own, opened with a keyring in memory."""
    vault = Vault.create(
        tmp_path / "vault", "correct horse battery", keyring=KeyringStore(MemoryKeyring()), kdf=FAST_KDF
    )
    yield vault
    vault.close()


@pytest.fixture
def store(vault: Vault) -> LocalStore:
    return LocalStore(vault.engine)


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
