"""Vault fixtures: a known keyring for every test (none, unless a test installs one)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from keyring.backends import fail

from testkit.console import MemoryKeyring, installed_keyring


@pytest.fixture(autouse=True)
def no_keyring() -> Iterator[None]:
    with installed_keyring(fail.Keyring()):
        yield


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    with installed_keyring(MemoryKeyring()) as backend:
        assert isinstance(backend, MemoryKeyring)
        yield backend
