"""A user's vault on this computer: creating it, opening it with the password or the OS
keyring, changing the password that wraps its key, closing and wiping it.

Everything here blocks (Argon2id, SQLCipher, keyring calls over D-Bus): call it through
``Operations.run_blocking`` / ``in_thread``, never on the GUI thread."""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import logging
import os
import secrets
import unicodedata
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from sqlalchemy import Engine

from console.files import ensure_private_directory, fsync_directory
from console.logs import fields
from console.vault import database, migrations
from console.vault.errors import (
    KeyringBackendChanged,
    KeyringEntryInvalid,
    KeyringEntryMissing,
    KeyringUnavailable,
    VaultDatabaseMissing,
    VaultError,
    VaultExists,
    WrongPassword,
)
from console.vault.keyfile import KEY_FILE, KeyFile, read_key_file, wrap_context, write_key_file
from console.vault.keyring_store import KeyringStore
from shared.crypto import DecryptionError, KdfParams, derive_key_from_password, unwrap_key, wrap_key

logger = logging.getLogger("kluis.console.vault")

VAULTS_DIRECTORY = "vaults"
SALT_SIZE = 16
Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def normalise_username(username: str) -> str:
    """As the server compares usernames."""
    return username.strip().lower()


def vault_directory(profile_dir: Path, username: str) -> Path:
    """``<profile>/vaults/<digest>``: one vault per user of this profile's server.  The
    directory is named by a digest so that the file system does not list who works here."""
    digest = hashlib.sha256(
        b"kluis-console-vault-directory/v1\x00" + normalise_username(username).encode("utf-8")
    ).hexdigest()
    return profile_dir / VAULTS_DIRECTORY / digest[:32]


def _password_key(password: str, salt: bytes, kdf: KdfParams) -> bytes:
    # Normalised as the server normalises passwords, so the same typed characters match.
    return derive_key_from_password(unicodedata.normalize("NFC", password), salt, kdf)


class KeyringState(enum.Enum):
    KEPT = "kept"  # the keyring holds the key, as recorded
    STORED = "stored"  # it did not; the key was stored (again) now
    UNAVAILABLE = "unavailable"  # no usable keyring on this computer: the password alone serves
    NOT_STORED = "not stored"  # a keyring exists but refused to store the key


@dataclass(frozen=True)
class KeyringStatus:
    state: KeyringState
    notice: str | None = None  # what happened, for the person at the desk


class Vault:
    """An open vault.  ``engine`` is a SQLAlchemy engine on the SQLCipher database, safe to use
    from worker threads; ``path`` is the database file."""

    def __init__(
        self, directory: Path, key: bytes, key_file: KeyFile, engine: Engine, keyring: KeyringStore
    ) -> None:
        self.directory = directory
        self._key = key
        self._key_file = key_file
        self.engine = engine
        self._keyring = keyring
        self._closed = False

    @property
    def path(self) -> Path:
        return self.directory / database.DATABASE_FILE

    @property
    def vault_id(self) -> uuid.UUID:
        return self._key_file.vault_id

    @property
    def key_file(self) -> KeyFile:
        return self._key_file

    @property
    def closed(self) -> bool:
        return self._closed

    # --- creating and opening ----------------------------------------------------------

    @staticmethod
    def exists(directory: Path) -> bool:
        return (directory / KEY_FILE).exists() or (directory / database.DATABASE_FILE).exists()

    @classmethod
    def create(
        cls,
        directory: Path,
        password: str,
        *,
        keyring: KeyringStore,
        kdf: KdfParams | None = None,
        clock: Clock = utc_now,
        page_format: database.PageFormat = database.NEW_VAULT_FORMAT,
    ) -> Vault:
        """A new, empty vault (its schema migrated) with a fresh random key.  ``page_format``
        is for tests that need a vault as the first consoles made them."""
        if cls.exists(directory):
            raise VaultExists(directory)
        # mkdir(parents=True) gives parents the default mode; each level is made private.
        ensure_private_directory(directory.parent)
        ensure_private_directory(directory)
        kdf = kdf or KdfParams()
        vault_id = uuid.uuid4()
        key = secrets.token_bytes(database.RAW_KEY_SIZE)
        salt = secrets.token_bytes(SALT_SIZE)
        now = clock()
        try:
            record = keyring.store(str(vault_id), key)
            key_file = KeyFile(
                vault_id=vault_id,
                kdf=kdf,
                salt=salt,
                wrapped_key=wrap_key(_password_key(password, salt, kdf), key, wrap_context(vault_id)),
                keyring=record,
                created_at=now,
                updated_at=now,
                database_format=page_format,
            )
            write_key_file(directory, key_file)
            path = directory / database.DATABASE_FILE
            # SQLite gives its side files (-wal, -shm) the database file's mode.
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            engine = database.open_engine(path, key, page_format)
            try:
                database.initialise(engine, path)
                migrations.migrate(engine, path, migrations.collect(), now=clock)
            except BaseException:
                engine.dispose()
                raise
        except BaseException:
            wipe_directory(directory, keyring)
            raise
        logger.info("vault created", extra=fields(path=str(directory)))
        return cls(directory, key, key_file, engine, keyring)

    @classmethod
    def open_with_password(
        cls, directory: Path, password: str, *, keyring: KeyringStore, clock: Clock = utc_now
    ) -> Vault:
        """Unwrap the key with the password; :class:`WrongPassword` if it does not."""
        key_file = read_key_file(directory)
        try:
            key = unwrap_key(
                _password_key(password, key_file.salt, key_file.kdf),
                key_file.wrapped_key,
                wrap_context(key_file.vault_id),
            )
        except DecryptionError:
            raise WrongPassword() from None
        return cls._open(directory, key, key_file, keyring, clock)

    @classmethod
    def open_with_keyring(cls, directory: Path, *, keyring: KeyringStore, clock: Clock = utc_now) -> Vault:
        """Open with the OS keyring's copy of the key (no password)."""
        key_file = read_key_file(directory)
        key = keyring.load(key_file.keyring)
        return cls._open(directory, key, key_file, keyring, clock)

    @classmethod
    def _open(
        cls, directory: Path, key: bytes, key_file: KeyFile, keyring: KeyringStore, clock: Clock
    ) -> Vault:
        path = directory / database.DATABASE_FILE
        if not path.exists():
            raise VaultDatabaseMissing(path)
        engine = database.open_engine(path, key, key_file.database_format)
        try:
            database.check_integrity(engine, path)
            migrations.migrate(engine, path, migrations.collect(), now=clock)
        except BaseException:
            engine.dispose()
            raise
        return cls(directory, key, key_file, engine, keyring)

    # --- the wrapped key and the keyring -----------------------------------------------

    def change_password(
        self, new_password: str, *, kdf: KdfParams | None = None, clock: Clock = utc_now
    ) -> None:
        """Wrap the key under a new password (a fresh salt); the file is replaced atomically."""
        self._require_open()
        kdf = kdf or self._key_file.kdf
        salt = secrets.token_bytes(SALT_SIZE)
        wrapped = wrap_key(_password_key(new_password, salt, kdf), self._key, wrap_context(self.vault_id))
        updated = replace(self._key_file, kdf=kdf, salt=salt, wrapped_key=wrapped, updated_at=clock())
        write_key_file(self.directory, updated)
        self._key_file = updated

    def password_opens(self, password: str) -> bool:
        """Whether ``password`` unwraps this vault's key (one Argon2id derivation)."""
        key_file = self._key_file
        try:
            unwrap_key(
                _password_key(password, key_file.salt, key_file.kdf),
                key_file.wrapped_key,
                wrap_context(key_file.vault_id),
            )
        except DecryptionError:
            return False
        return True

    def keyring_status(self) -> KeyringStatus:
        """Where the key is kept besides the wrapped-key file, as recorded (nothing is checked)."""
        if self._key_file.keyring is not None:
            return KeyringStatus(KeyringState.KEPT)
        if not self._keyring.usable():
            return KeyringStatus(KeyringState.UNAVAILABLE, str(KeyringUnavailable()))
        return KeyringStatus(
            KeyringState.NOT_STORED,
            "The OS keyring refused to store the vault key; the password alone opens the vault.",
        )

    def ensure_keyring(self, clock: Clock = utc_now) -> KeyringStatus:
        """After opening with the password: make sure the keyring holds the key, storing it
        again when its entry is missing, wrong, or in another backend."""
        self._require_open()
        record = self._key_file.keyring
        try:
            if self._keyring.load(record) == self._key:
                return KeyringStatus(KeyringState.KEPT)
            notice = "The OS keyring held a wrong entry for this vault; it was replaced."
        except KeyringUnavailable as exc:
            return KeyringStatus(KeyringState.UNAVAILABLE, str(exc))
        except KeyringEntryMissing as exc:
            notice = (
                f"The vault key is now also kept in the OS keyring ({exc.backend})."
                if record is None
                else f"The vault key was missing from the OS keyring ({exc.backend}); it was stored again."
            )
        except KeyringBackendChanged as exc:
            notice = f"The vault key was kept by the keyring {exc.recorded}; it is now kept by {exc.current}."
        except KeyringEntryInvalid:
            notice = "The OS keyring held a wrong entry for this vault; it was replaced."
        stored = self._keyring.store(str(self.vault_id), self._key)
        if stored is None:
            return KeyringStatus(
                KeyringState.NOT_STORED,
                "The OS keyring refused to store the vault key; the password alone opens the vault.",
            )
        updated = replace(self._key_file, keyring=stored, updated_at=clock())
        write_key_file(self.directory, updated)
        self._key_file = updated
        logger.info("vault key stored in the keyring", extra=fields(path=str(self.directory)))
        return KeyringStatus(KeyringState.STORED, notice)

    # --- closing and wiping ------------------------------------------------------------

    def close(self) -> None:
        """Fold the write-ahead log into the file and close every connection."""
        if self._closed:
            return
        self._closed = True
        try:
            database.checkpoint(self.engine)
        except Exception:  # noqa: BLE001 - closing must finish; the log keeps the data anyway
            logger.warning("vault checkpoint failed", extra=fields(path=str(self.directory)))
        finally:
            self.engine.dispose()

    def wipe(self) -> None:
        """Delete the database, its side files, the wrapped key and the keyring entry.  With
        the key gone nothing of the encrypted database can be read again."""
        self._closed = True
        self.engine.dispose()
        wipe_directory(self.directory, self._keyring, self._key_file)

    def _require_open(self) -> None:
        if self._closed:
            raise RuntimeError("the vault is closed")


def _shred(path: Path) -> None:
    """Overwrite a small file before removing it, so its bytes do not linger in place."""
    try:
        size = path.stat().st_size
        with path.open("r+b") as handle:
            handle.write(secrets.token_bytes(size))
            handle.flush()
            os.fsync(handle.fileno())
    except FileNotFoundError:
        return
    path.unlink(missing_ok=True)


def wipe_directory(directory: Path, keyring: KeyringStore, key_file: KeyFile | None = None) -> None:
    """Remove a vault (open or not, complete or not) and its keyring entry."""
    if key_file is None:
        try:
            key_file = read_key_file(directory)
        except VaultError:
            key_file = None  # unreadable or absent: wipe the files all the same
    if key_file is not None and key_file.keyring is not None:
        keyring.delete(key_file.keyring)
    _shred(directory / KEY_FILE)
    database_path = directory / database.DATABASE_FILE
    for path in [database_path, *(Path(f"{database_path}{suffix}") for suffix in database.SIDE_FILES)]:
        path.unlink(missing_ok=True)
    if directory.exists():
        for leftover in directory.iterdir():
            if leftover.is_file():
                leftover.unlink()
        directory.rmdir()
        fsync_directory(directory.parent)
    logger.info("vault wiped", extra=fields(path=str(directory)))
