"""The wrapped-key file, ``vault-key.json``: the vault's random database key sealed with
AES-256-GCM under a key derived from the user's password (Argon2id), the KDF parameters and
salt needed to derive it again, and where the OS keyring keeps a second copy.

The file carries a format name and version; a newer version is refused, never guessed at.
Version 2 adds ``database_format``, how the database's pages are authenticated
(:class:`~console.vault.database.PageFormat`); a version 1 file describes a vault of the
first format, and a vault of that format is still written as version 1, so that the
consoles that made such vaults keep opening them.  The file is replaced atomically
(console.files), so a crash leaves the old or the new file."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from console.files import write_atomically
from console.vault.database import FIRST_VAULT_FORMAT, PageFormat
from console.vault.errors import KeyFileError, VaultNotFound, VaultTooNew
from shared.crypto import KdfParams

KEY_FILE = "vault-key.json"
KEY_FILE_FORMAT = "kluis-console-vault-key"
KEY_FILE_VERSION = 2
FIRST_FORMAT_VERSION = 1  # no database_format: the pages are FIRST_VAULT_FORMAT
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*\Z")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def from_b64url(text: str) -> bytes:
    if not _BASE64URL.match(text) or len(text) % 4 == 1:
        raise ValueError("not base64url without padding")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def wrap_context(vault_id: uuid.UUID) -> str:
    """Authenticated with the wrapped key, so it unwraps only for this vault."""
    return f"kluis-console-vault-key/v1:{vault_id}"


@dataclass(frozen=True)
class KeyringRecord:
    """Where the keyring copy of the key lives, and which backend wrote it."""

    backend: str
    service: str
    entry: str


@dataclass(frozen=True)
class KeyFile:
    vault_id: uuid.UUID
    kdf: KdfParams
    salt: bytes
    wrapped_key: bytes
    keyring: KeyringRecord | None
    created_at: dt.datetime
    updated_at: dt.datetime
    database_format: PageFormat


class _Keyring(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: str = Field(min_length=1, max_length=300)
    service: str = Field(min_length=1, max_length=200)
    entry: str = Field(min_length=1, max_length=200)


class _Document(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    format: str
    version: int
    vault_id: uuid.UUID
    kdf: dict[str, Any]
    salt: str = Field(pattern=r"^[A-Za-z0-9_-]{22,}$")
    wrapped_key: str = Field(pattern=r"^[A-Za-z0-9_-]+$")
    keyring: _Keyring | None
    created_at: AwareDatetime
    updated_at: AwareDatetime
    database_format: str | None = None


def _database_format(path: Path, version: int, recorded: str | None) -> PageFormat:
    if version == FIRST_FORMAT_VERSION:
        if recorded is not None:
            raise KeyFileError(path, "a format 1 key file names no database format, yet this one does")
        return FIRST_VAULT_FORMAT
    if recorded is None:
        raise KeyFileError(path, "it does not say how its database is encrypted (database_format)")
    try:
        return PageFormat(recorded)
    except ValueError:
        raise KeyFileError(path, f"its database format {recorded!r} is not one this console knows") from None


def read_key_file(directory: Path) -> KeyFile:
    path = directory / KEY_FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise VaultNotFound(directory) from None
    except OSError as exc:
        raise KeyFileError(path, f"it cannot be read ({exc.strerror})") from None
    try:
        decoded: Any = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise KeyFileError(path, "it is not valid JSON") from None
    if not isinstance(decoded, dict) or decoded.get("format") != KEY_FILE_FORMAT:
        raise KeyFileError(path, "it is not a Kluis vault key file")
    version = decoded.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < FIRST_FORMAT_VERSION:
        raise KeyFileError(path, "it has no format version")
    if version > KEY_FILE_VERSION:
        raise VaultTooNew(path, f"key file format {version}; this console reads format {KEY_FILE_VERSION}")
    try:
        document = _Document.model_validate(decoded)
        kdf = KdfParams.from_dict(document.kdf)
        salt = from_b64url(document.salt)
        wrapped = from_b64url(document.wrapped_key)
    except ValidationError as exc:
        places = sorted({".".join(str(part) for part in error["loc"]) for error in exc.errors()})
        raise KeyFileError(path, f"unusable fields ({', '.join(places)})") from None
    except ValueError as exc:
        raise KeyFileError(path, f"unusable key derivation settings or encoding ({exc})") from None
    database_format = _database_format(path, version, document.database_format)
    keyring = document.keyring
    return KeyFile(
        vault_id=document.vault_id,
        kdf=kdf,
        salt=salt,
        wrapped_key=wrapped,
        keyring=KeyringRecord(keyring.backend, keyring.service, keyring.entry) if keyring else None,
        created_at=document.created_at,
        updated_at=document.updated_at,
        database_format=database_format,
    )


def write_key_file(directory: Path, key_file: KeyFile) -> None:
    first_format = key_file.database_format is FIRST_VAULT_FORMAT
    document: dict[str, Any] = {
        "format": KEY_FILE_FORMAT,
        "version": FIRST_FORMAT_VERSION if first_format else KEY_FILE_VERSION,
        "vault_id": str(key_file.vault_id),
        "kdf": key_file.kdf.to_dict(),
        "salt": b64url(key_file.salt),
        "wrapped_key": b64url(key_file.wrapped_key),
        "keyring": (
            {
                "backend": key_file.keyring.backend,
                "service": key_file.keyring.service,
                "entry": key_file.keyring.entry,
            }
            if key_file.keyring
            else None
        ),
        "created_at": key_file.created_at.astimezone(dt.UTC).isoformat(),
        "updated_at": key_file.updated_at.astimezone(dt.UTC).isoformat(),
    }
    if not first_format:
        document["database_format"] = key_file.database_format.value
    write_atomically(directory / KEY_FILE, json.dumps(document, indent=2, sort_keys=True).encode() + b"\n")
