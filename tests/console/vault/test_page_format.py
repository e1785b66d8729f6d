"""How a vault's pages are authenticated: new vaults use HMAC-SHA256 and say so in a format 2
key file; vaults of the first format (HMAC-SHA512, format 1 key files) still open, keep
their format through a password change, and are still described as format 1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlcipher3
from sqlalchemy import text

from console.vault.database import DATABASE_FILE, PageFormat, cipher_settings
from console.vault.errors import KeyFileError, VaultCorrupt, VaultTooNew
from console.vault.keyfile import KEY_FILE, KEY_FILE_VERSION, read_key_file
from console.vault.keyring_store import KeyringStore
from console.vault.vault import Vault
from testkit.console import FAST_KDF

PASSWORD = "Ubuntu-ngumuntu-ngabantu-7"
MARKER = "Sipho Nkosi 8505055800081"


def create(directory: Path, page_format: PageFormat | None = None) -> Vault:
    extra = {} if page_format is None else {"page_format": page_format}
    vault = Vault.create(directory, PASSWORD, keyring=KeyringStore(), kdf=FAST_KDF, **extra)
    with vault.engine.begin() as connection:
        connection.execute(text("CREATE TABLE scratch (value TEXT)"))
        connection.execute(text("INSERT INTO scratch (value) VALUES (:value)"), {"value": MARKER})
    return vault


def reads_with(path: Path, key: bytes, page_format: PageFormat) -> bool:
    """Whether SQLCipher, set up for ``page_format`` alone, authenticates the file's pages."""
    connection = sqlcipher3.connect(path)
    try:
        connection.execute(f"PRAGMA key = \"x'{key.hex()}'\"")
        for statement in cipher_settings(page_format):
            connection.execute(statement)
        try:
            return connection.execute("SELECT value FROM scratch").fetchall() == [(MARKER,)]
        except sqlcipher3.DatabaseError:
            return False
    finally:
        connection.close()


def key_document(directory: Path) -> dict[str, object]:
    document: dict[str, object] = json.loads((directory / KEY_FILE).read_text())
    return document


def write_key_document(directory: Path, document: dict[str, object]) -> None:
    (directory / KEY_FILE).write_text(json.dumps(document))


def test_a_new_vault_authenticates_its_pages_with_hmac_sha256_and_records_it(tmp_path, memory_keyring):
    directory = tmp_path / "vault"
    vault = create(directory)
    key = KeyringStore().load(vault.key_file.keyring)
    vault.close()

    document = key_document(directory)
    assert document["version"] == KEY_FILE_VERSION == 2
    assert document["database_format"] == "sqlcipher4-hmac-sha256"
    assert read_key_file(directory).database_format is PageFormat.HMAC_SHA256
    assert reads_with(directory / DATABASE_FILE, key, PageFormat.HMAC_SHA256)
    assert not reads_with(directory / DATABASE_FILE, key, PageFormat.HMAC_SHA512)


def test_a_vault_of_the_first_format_opens_and_stays_as_it_was(tmp_path, memory_keyring):
    directory = tmp_path / "vault"
    vault = create(directory, PageFormat.HMAC_SHA512)
    key = KeyringStore().load(vault.key_file.keyring)
    vault.close()
    document = key_document(directory)
    assert document["version"] == 1
    assert "database_format" not in document

    reopened = Vault.open_with_password(directory, PASSWORD, keyring=KeyringStore())
    with reopened.engine.connect() as connection:
        assert connection.execute(text("SELECT value FROM scratch")).scalars().all() == [MARKER]
    reopened.change_password("Another-long-passphrase-8", kdf=FAST_KDF)
    reopened.close()

    assert key_document(directory)["version"] == 1
    assert "database_format" not in key_document(directory)
    assert reads_with(directory / DATABASE_FILE, key, PageFormat.HMAC_SHA512)
    assert not reads_with(directory / DATABASE_FILE, key, PageFormat.HMAC_SHA256)
    again = Vault.open_with_password(directory, "Another-long-passphrase-8", keyring=KeyringStore())
    again.close()


def test_a_key_file_naming_the_wrong_format_gets_the_integrity_error_not_a_silent_open(tmp_path):
    directory = tmp_path / "vault"
    create(directory).close()
    document = key_document(directory)
    del document["database_format"]
    document["version"] = 1
    write_key_document(directory, document)

    with pytest.raises(VaultCorrupt) as corrupt:
        Vault.open_with_password(directory, PASSWORD, keyring=KeyringStore())
    assert str(directory / DATABASE_FILE) in str(corrupt.value)


@pytest.mark.parametrize(
    ("version", "database_format", "complaint"),
    [
        (2, None, "does not say how its database is encrypted"),
        (2, "sqlcipher4-hmac-sha3", "'sqlcipher4-hmac-sha3' is not one this console knows"),
        (1, "sqlcipher4-hmac-sha256", "a format 1 key file names no database format"),
        (0, "sqlcipher4-hmac-sha256", "it has no format version"),
    ],
)
def test_a_key_file_whose_database_format_does_not_add_up_is_named_and_left_alone(
    tmp_path, version, database_format, complaint
):
    directory = tmp_path / "vault"
    create(directory).close()
    document = key_document(directory)
    document["version"] = version
    document.pop("database_format")
    if database_format is not None:
        document["database_format"] = database_format
    write_key_document(directory, document)
    before = (directory / KEY_FILE).read_bytes()

    with pytest.raises(KeyFileError) as damaged:
        Vault.open_with_password(directory, PASSWORD, keyring=KeyringStore())
    assert str(directory / KEY_FILE) in str(damaged.value)
    assert complaint in str(damaged.value)
    assert (directory / KEY_FILE).read_bytes() == before


def test_a_key_file_of_a_later_format_is_refused_as_newer(tmp_path):
    directory = tmp_path / "vault"
    create(directory).close()
    document = key_document(directory)
    document["version"] = KEY_FILE_VERSION + 1
    write_key_document(directory, document)

    with pytest.raises(VaultTooNew, match="newer Kluis console"):
        Vault.open_with_password(directory, PASSWORD, keyring=KeyringStore())
