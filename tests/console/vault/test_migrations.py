"""Local schema migrations: collected from registered modules, applied once each, in order,
each with its record in one transaction; other modules extend the vault from version 100."""

from __future__ import annotations

import sys
import types

import pytest
from sqlalchemy import text

from console.vault import migrations
from console.vault.keyring_store import KeyringStore
from console.vault.migrations import Migration, collect, migrate
from console.vault.registry import MIGRATION_MODULES
from console.vault.vault import Vault
from testkit.console import FAST_KDF


@pytest.fixture
def extension(monkeypatch):
    """A module of another part of the console, registered the way the registry says."""
    module = types.ModuleType("kluis_test_extension")

    def create_things(connection):
        connection.execute(text("CREATE TABLE things (id INTEGER PRIMARY KEY)"))

    module.MIGRATIONS = (Migration(100, "things", create_things),)
    monkeypatch.setitem(sys.modules, module.__name__, module)
    return module


def tables(vault: Vault) -> set[str]:
    with vault.engine.connect() as connection:
        rows = connection.execute(text("SELECT name FROM sqlite_master WHERE type = 'table'"))
        return {row[0] for row in rows}


def test_the_vaults_own_steps_are_registered_first():
    assert MIGRATION_MODULES[0] == "console.vault.schema"
    assert [step.version for step in collect(MIGRATION_MODULES[:1])] == [1, 2, 3]
    assert [step.version for step in collect()][:3] == [1, 2, 3]


def test_another_module_adds_steps_from_100_and_they_run_once_in_order(tmp_path, extension, monkeypatch):
    modules = (*MIGRATION_MODULES[:1], extension.__name__)
    assert [step.version for step in collect(modules)] == [1, 2, 3, 100]
    monkeypatch.setattr(migrations, "MIGRATION_MODULES", modules)
    monkeypatch.setattr(migrations, "collect", lambda: collect(modules))
    vault = Vault.create(tmp_path / "vault", "a long enough passphrase", keyring=KeyringStore(), kdf=FAST_KDF)
    try:
        assert {"things", "audit_outbox", "vault_identity", "schema_migrations"} <= tables(vault)
        assert migrate(vault.engine, vault.path, collect(modules)) == []
        with vault.engine.connect() as connection:
            names = connection.execute(
                text("SELECT version, name FROM schema_migrations ORDER BY version")
            ).all()
        assert [tuple(row) for row in names][-1] == (100, "things")
    finally:
        vault.close()


def test_an_existing_vault_gets_new_steps_when_it_is_opened(tmp_path, extension, monkeypatch):
    directory = tmp_path / "vault"
    Vault.create(directory, "a long enough passphrase", keyring=KeyringStore(), kdf=FAST_KDF).close()
    modules = (*MIGRATION_MODULES, extension.__name__)  # everything registered, and one more
    monkeypatch.setattr(migrations, "collect", lambda: collect(modules))
    vault = Vault.open_with_password(directory, "a long enough passphrase", keyring=KeyringStore())
    assert "things" in tables(vault)
    vault.close()


def test_a_failing_step_leaves_no_trace_and_is_tried_again(tmp_path):
    vault = Vault.create(tmp_path / "vault", "a long enough passphrase", keyring=KeyringStore(), kdf=FAST_KDF)

    def half_done(connection):
        connection.execute(text("CREATE TABLE half (id INTEGER)"))
        raise RuntimeError("interrupted")

    try:
        with pytest.raises(RuntimeError):
            migrate(vault.engine, vault.path, (*collect(), Migration(101, "half", half_done)))
        assert "half" not in tables(vault)
        assert 101 not in migrations.applied_versions(vault.engine)
    finally:
        vault.close()


@pytest.mark.parametrize(
    ("module_name", "version", "problem"),
    [
        ("kluis_test_low", 50, "start at 100"),
        ("console.vault.kluis_test_high", 120, "use versions 1-99"),
        ("kluis_test_clash", 100, "both define migration 100"),
    ],
)
def test_misnumbered_steps_are_refused(monkeypatch, extension, module_name, version, problem):
    module = types.ModuleType(module_name)
    module.MIGRATIONS = (Migration(version, "bad", lambda connection: None),)
    monkeypatch.setitem(sys.modules, module_name, module)
    with pytest.raises(ValueError, match=problem):
        collect((*MIGRATION_MODULES, extension.__name__, module_name))
