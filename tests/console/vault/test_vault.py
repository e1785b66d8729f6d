"""The vault on disk: SQLCipher 4 with a random raw key wrapped under the password and kept
in the keyring, and every way opening it can fail, each with its own error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlcipher3
from keyring.backends import fail
from sqlalchemy import text

from console.vault import migrations
from console.vault.database import DATABASE_FILE
from console.vault.errors import (
    KeyFileError,
    KeyringBackendChanged,
    KeyringEntryMissing,
    KeyringUnavailable,
    VaultCorrupt,
    VaultDatabaseMissing,
    VaultExists,
    VaultNotFound,
    VaultTooNew,
    WrongPassword,
)
from console.vault.keyfile import KEY_FILE, KEY_FILE_VERSION
from console.vault.keyring_store import SERVICE, KeyringStore
from console.vault.vault import KeyringState, Vault, vault_directory
from testkit.console import FAST_KDF, MemoryKeyring, OtherMemoryKeyring, installed_keyring

PASSWORD = "Ubuntu-ngumuntu-ngabantu-7"
MARKER = "Nomvula Dlamini 8001015009087"


def create(directory: Path, password: str = PASSWORD) -> Vault:
    return Vault.create(directory, password, keyring=KeyringStore(), kdf=FAST_KDF)


def write_marker(vault: Vault) -> None:
    with vault.engine.begin() as connection:
        connection.execute(text("CREATE TABLE IF NOT EXISTS scratch (value TEXT)"))
        connection.execute(text("INSERT INTO scratch (value) VALUES (:value)"), {"value": MARKER})


def read_marker(vault: Vault) -> list[str]:
    with vault.engine.connect() as connection:
        return [row[0] for row in connection.execute(text("SELECT value FROM scratch"))]


def every_file(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in directory.iterdir() if path.is_file()}


def test_a_new_vault_reopens_with_its_password_and_keeps_what_was_written(tmp_path):
    directory = vault_directory(tmp_path, "Thandi")
    vault = create(directory)
    write_marker(vault)
    assert vault.path == directory / DATABASE_FILE
    assert str(vault.engine.url).startswith("sqlite+pysqlcipher://")
    vault.close()

    reopened = Vault.open_with_password(directory, PASSWORD, keyring=KeyringStore())
    try:
        assert read_marker(reopened) == [MARKER]
        with reopened.engine.connect() as connection:
            versions = connection.execute(
                text("SELECT version FROM schema_migrations ORDER BY version")
            ).all()
        assert [row[0] for row in versions] == [step.version for step in migrations.collect()]
        assert [row[0] for row in versions][:3] == [1, 2, 3]
    finally:
        reopened.close()


def test_the_vault_directory_is_per_user_and_does_not_name_the_user(tmp_path):
    assert vault_directory(tmp_path, " Thandi ") == vault_directory(tmp_path, "thandi")
    assert vault_directory(tmp_path, "thandi") != vault_directory(tmp_path, "sipho")
    assert "thandi" not in str(vault_directory(tmp_path, "thandi"))


def test_creating_over_an_existing_vault_is_refused(tmp_path):
    directory = tmp_path / "vault"
    create(directory).close()
    with pytest.raises(VaultExists):
        create(directory)
    Vault.open_with_password(directory, PASSWORD, keyring=KeyringStore()).close()


def test_the_database_and_its_files_hold_no_plaintext_and_no_key(tmp_path, memory_keyring):
    directory = tmp_path / "vault"
    vault = create(directory)
    write_marker(vault)
    # Before closing: the write-ahead log holds the newest pages.
    files = every_file(directory)
    vault.close()
    files.update({f"closed {name}": data for name, data in every_file(directory).items()})
    (secret,) = memory_keyring.entries.values()
    raw_key = bytes.fromhex(secret.split(":")[1])
    assert any(name.endswith("-wal") for name in files)
    for name, data in files.items():
        assert MARKER.encode() not in data, name
        assert b"8001015009087" not in data, name
        assert b"scratch" not in data, name  # not even the schema
        assert raw_key not in data, name
        assert raw_key.hex().encode() not in data, name
        assert raw_key.hex().upper().encode() not in data, name
    assert not files[f"closed {DATABASE_FILE}"].startswith(b"SQLite format 3")


def test_the_file_is_sqlcipher_4_with_hmac_sha256_keyed_with_the_raw_key(tmp_path, memory_keyring):
    directory = tmp_path / "vault"
    vault = create(directory)
    write_marker(vault)
    vault.close()
    (secret,) = memory_keyring.entries.values()
    raw_hex = secret.split(":")[1]

    def read(compatibility: int) -> list[tuple[str]]:
        connection = sqlcipher3.connect(str(directory / DATABASE_FILE))
        try:
            connection.execute(f"PRAGMA key = \"x'{raw_hex}'\"")
            connection.execute(f"PRAGMA cipher_compatibility = {compatibility}")
            connection.execute("PRAGMA cipher_hmac_algorithm = HMAC_SHA256")
            return connection.execute("SELECT value FROM scratch").fetchall()
        finally:
            connection.close()

    assert read(4) == [(MARKER,)]
    with pytest.raises(sqlcipher3.DatabaseError):
        read(3)


def test_a_wrong_password_is_its_own_error_and_changes_nothing(tmp_path):
    directory = tmp_path / "vault"
    create(directory).close()
    before = every_file(directory)
    with pytest.raises(WrongPassword) as refused:
        Vault.open_with_password(directory, PASSWORD + "!", keyring=KeyringStore())
    assert "password does not open" in str(refused.value)
    assert PASSWORD not in str(refused.value)
    assert every_file(directory) == before


def test_the_password_is_compared_as_nfc(tmp_path):
    directory = tmp_path / "vault"
    create(directory, "Ame\u0301lie's long passphrase").close()
    Vault.open_with_password(directory, "Am\u00e9lie's long passphrase", keyring=KeyringStore()).close()


def test_a_changed_password_rewraps_the_key(tmp_path):
    directory = tmp_path / "vault"
    vault = create(directory)
    write_marker(vault)
    vault.change_password("a different long passphrase")
    vault.close()
    with pytest.raises(WrongPassword):
        Vault.open_with_password(directory, PASSWORD, keyring=KeyringStore())
    reopened = Vault.open_with_password(directory, "a different long passphrase", keyring=KeyringStore())
    assert read_marker(reopened) == [MARKER]
    reopened.close()


def test_the_keyring_keeps_a_copy_that_opens_the_vault(tmp_path, memory_keyring):
    directory = tmp_path / "vault"
    vault = create(directory)
    write_marker(vault)
    vault.close()
    recorded = json.loads((directory / KEY_FILE).read_text())["keyring"]
    assert recorded == {
        "backend": "testkit.console.MemoryKeyring",
        "service": SERVICE,
        "entry": str(vault.vault_id),
    }
    assert list(memory_keyring.entries) == [(SERVICE, str(vault.vault_id))]
    reopened = Vault.open_with_keyring(directory, keyring=KeyringStore())
    assert read_marker(reopened) == [MARKER]
    assert reopened.ensure_keyring().state is KeyringState.KEPT
    reopened.close()


def test_a_missing_keyring_entry_is_its_own_error_and_a_password_unlock_stores_it_again(
    tmp_path, memory_keyring
):
    directory = tmp_path / "vault"
    create(directory).close()
    memory_keyring.entries.clear()
    with pytest.raises(KeyringEntryMissing) as missing:
        Vault.open_with_keyring(directory, keyring=KeyringStore())
    assert "testkit.console.MemoryKeyring" in str(missing.value)

    vault = Vault.open_with_password(directory, PASSWORD, keyring=KeyringStore())
    status = vault.ensure_keyring()
    vault.close()
    assert status.state is KeyringState.STORED
    assert "missing from the OS keyring" in (status.notice or "")
    Vault.open_with_keyring(directory, keyring=KeyringStore()).close()


def test_a_key_stored_by_another_keyring_backend_is_its_own_error(tmp_path, memory_keyring):
    directory = tmp_path / "vault"
    create(directory).close()
    with installed_keyring(OtherMemoryKeyring()) as other:
        with pytest.raises(KeyringBackendChanged) as changed:
            Vault.open_with_keyring(directory, keyring=KeyringStore())
        assert changed.value.recorded == "testkit.console.MemoryKeyring"
        assert changed.value.current == "testkit.console.OtherMemoryKeyring"
        assert "testkit.console.OtherMemoryKeyring" in str(changed.value)

        vault = Vault.open_with_password(directory, PASSWORD, keyring=KeyringStore())
        status = vault.ensure_keyring()
        vault.close()
        assert status.state is KeyringState.STORED
        assert isinstance(other, MemoryKeyring)
        assert len(other.entries) == 1
        Vault.open_with_keyring(directory, keyring=KeyringStore()).close()
    recorded = json.loads((directory / KEY_FILE).read_text())["keyring"]
    assert recorded["backend"] == "testkit.console.OtherMemoryKeyring"


def test_without_a_keyring_the_password_alone_serves_and_that_is_said(tmp_path):
    directory = tmp_path / "vault"
    vault = create(directory)
    assert json.loads((directory / KEY_FILE).read_text())["keyring"] is None
    status = vault.ensure_keyring()
    assert status.state is KeyringState.UNAVAILABLE
    assert "no usable OS keyring" in (status.notice or "")
    vault.close()
    with pytest.raises(KeyringUnavailable):
        Vault.open_with_keyring(directory, keyring=KeyringStore())
    # A keyring that turns up later is used from the next password unlock on.
    with installed_keyring(MemoryKeyring()) as later:
        vault = Vault.open_with_password(directory, PASSWORD, keyring=KeyringStore())
        assert vault.ensure_keyring().state is KeyringState.STORED
        vault.close()
        assert isinstance(later, MemoryKeyring)
        assert len(later.entries) == 1


def flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    for index in range(offset, offset + 8):
        data[index] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("offset", [40, 4096 + 1000, -100], ids=["first page", "second page", "last page"])
def test_a_tampered_database_fails_the_integrity_check_naming_the_file(tmp_path, offset):
    directory = tmp_path / "vault"
    vault = create(directory)
    write_marker(vault)
    with vault.engine.begin() as connection:
        connection.execute(text("CREATE TABLE padding (value BLOB)"))
        connection.execute(text("INSERT INTO padding VALUES (randomblob(20000))"))
    vault.close()
    database = directory / DATABASE_FILE
    flip(database, offset if offset >= 0 else database.stat().st_size + offset)
    with pytest.raises(VaultCorrupt) as corrupt:
        Vault.open_with_password(directory, PASSWORD, keyring=KeyringStore())
    assert corrupt.value.path == database
    assert str(database) in str(corrupt.value)
    assert "tampered" in str(corrupt.value)


def test_a_key_file_from_a_newer_console_is_refused(tmp_path):
    directory = tmp_path / "vault"
    create(directory).close()
    document = json.loads((directory / KEY_FILE).read_text())
    document["version"] = KEY_FILE_VERSION + 1
    (directory / KEY_FILE).write_text(json.dumps(document))
    with pytest.raises(VaultTooNew) as newer:
        Vault.open_with_password(directory, PASSWORD, keyring=KeyringStore())
    assert str(directory / KEY_FILE) in str(newer.value)
    assert "newer Kluis console" in str(newer.value)


def test_a_database_with_schema_steps_from_a_newer_console_is_refused(tmp_path):
    directory = tmp_path / "vault"
    vault = create(directory)
    with vault.engine.begin() as connection:
        connection.execute(
            text("INSERT INTO schema_migrations VALUES (4, 'from the future', '2030-01-01T00:00:00+00:00')")
        )
    vault.close()
    with pytest.raises(VaultTooNew) as newer:
        Vault.open_with_password(directory, PASSWORD, keyring=KeyringStore())
    assert str(directory / DATABASE_FILE) in str(newer.value)
    assert "4" in str(newer.value)


def test_a_damaged_key_file_is_named_and_left_alone(tmp_path):
    directory = tmp_path / "vault"
    create(directory).close()
    (directory / KEY_FILE).write_text('{"format": "kluis-console-vault-key", "version": 1, "salt": 3}')
    with pytest.raises(KeyFileError) as damaged:
        Vault.open_with_password(directory, PASSWORD, keyring=KeyringStore())
    assert str(directory / KEY_FILE) in str(damaged.value)
    assert (directory / KEY_FILE).exists()


def test_missing_files_have_their_own_errors(tmp_path):
    with pytest.raises(VaultNotFound):
        Vault.open_with_password(tmp_path / "nothing", PASSWORD, keyring=KeyringStore())
    directory = tmp_path / "vault"
    create(directory).close()
    (directory / DATABASE_FILE).unlink()
    with pytest.raises(VaultDatabaseMissing):
        Vault.open_with_password(directory, PASSWORD, keyring=KeyringStore())


def test_wiping_leaves_nothing_behind(tmp_path, memory_keyring):
    directory = vault_directory(tmp_path, "thandi")
    vault = create(directory)
    write_marker(vault)
    assert memory_keyring.entries
    vault.wipe()
    assert not directory.exists()
    assert memory_keyring.entries == {}
    assert list(directory.parent.iterdir()) == []
    with pytest.raises(VaultNotFound):
        Vault.open_with_password(directory, PASSWORD, keyring=KeyringStore())


def test_a_vault_that_fails_to_be_created_leaves_nothing(tmp_path, memory_keyring, monkeypatch):
    def broken(connection):
        raise RuntimeError("disk full, say")

    monkeypatch.setattr(migrations, "collect", lambda: (migrations.Migration(1, "broken", broken),))
    directory = tmp_path / "vault"
    with pytest.raises(RuntimeError):
        create(directory)
    assert not directory.exists()
    assert memory_keyring.entries == {}


def test_the_keyring_backend_in_use_without_one_is_the_fail_backend():
    assert not KeyringStore(fail.Keyring()).usable()
    assert KeyringStore(MemoryKeyring()).usable()


def test_the_vault_files_are_private_to_their_owner(tmp_path):
    directory = vault_directory(tmp_path / "profile", "thandi")
    vault = create(directory)
    write_marker(vault)
    modes = {path.name: path.stat().st_mode & 0o777 for path in directory.iterdir()}
    vault.close()
    assert directory.parent.stat().st_mode & 0o777 == 0o700
    assert directory.stat().st_mode & 0o777 == 0o700
    assert set(modes) >= {KEY_FILE, DATABASE_FILE, f"{DATABASE_FILE}-wal"}
    assert set(modes.values()) == {0o600}
