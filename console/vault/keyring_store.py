"""The OS keyring's copy of a vault key (Secret Service, macOS Keychain, Windows Credential
Locker through the ``keyring`` package).

Where no backend is usable (headless Linux: keyring falls back to its ``fail`` backend or a
chainer with nothing to chain) the vault is protected by the password-wrapped key alone.
The backend that stored an entry is recorded beside the wrapped key, so that a different
backend answering later is reported as such instead of as a missing entry."""

from __future__ import annotations

import logging

import keyring
import keyring.errors
from keyring.backend import KeyringBackend
from keyring.backends import chainer, fail, null

from console.logs import fields
from console.vault.errors import (
    KeyringBackendChanged,
    KeyringEntryInvalid,
    KeyringEntryMissing,
    KeyringUnavailable,
)
from console.vault.keyfile import KeyringRecord

logger = logging.getLogger("kluis.console.vault.keyring")

SERVICE = "Kluis Console vault"
_SECRET_PREFIX = "kluis-vault-key-v1:"  # noqa: S105 - a format label, not a secret
KEY_SIZE = 32


def backend_name(backend: KeyringBackend) -> str:
    """The class that actually stores entries: for a chainer, the backend it writes to first."""
    if isinstance(backend, chainer.ChainerBackend):
        chained = list(backend.backends)
        if chained:
            backend = chained[0]
    kind = type(backend)
    return f"{kind.__module__}.{kind.__qualname__}"


def is_usable(backend: KeyringBackend) -> bool:
    if isinstance(backend, fail.Keyring | null.Keyring):
        return False
    if isinstance(backend, chainer.ChainerBackend):
        return bool(list(backend.backends))
    return True


class KeyringStore:
    """Reads and writes vault keys in the keyring the ``keyring`` package selects now (or the
    one given).  Calls may block on D-Bus: use it off the GUI thread."""

    def __init__(self, backend: KeyringBackend | None = None) -> None:
        self._backend = backend

    @property
    def backend(self) -> KeyringBackend:
        return self._backend if self._backend is not None else keyring.get_keyring()

    def usable(self) -> bool:
        return is_usable(self.backend)

    def name(self) -> str:
        return backend_name(self.backend)

    def store(self, entry: str, key: bytes) -> KeyringRecord | None:
        """Keep ``key`` under ``entry``; None when there is no usable keyring or it refused."""
        backend = self.backend
        if not is_usable(backend):
            return None
        try:
            backend.set_password(SERVICE, entry, _SECRET_PREFIX + key.hex())
        except (keyring.errors.KeyringError, NotImplementedError) as exc:
            logger.warning("vault key not stored in the keyring", extra=fields(reason=type(exc).__name__))
            return None
        return KeyringRecord(backend=backend_name(backend), service=SERVICE, entry=entry)

    def load(self, record: KeyringRecord | None) -> bytes:
        backend = self.backend
        if not is_usable(backend):
            raise KeyringUnavailable()
        current = backend_name(backend)
        if record is None:
            raise KeyringEntryMissing(current)
        if record.backend != current:
            raise KeyringBackendChanged(record.backend, current)
        try:
            secret = backend.get_password(record.service, record.entry)
        except keyring.errors.KeyringError:
            raise KeyringEntryMissing(current) from None
        if secret is None:
            raise KeyringEntryMissing(current)
        if not secret.startswith(_SECRET_PREFIX):
            raise KeyringEntryInvalid(current)
        try:
            key = bytes.fromhex(secret.removeprefix(_SECRET_PREFIX))
        except ValueError:
            raise KeyringEntryInvalid(current) from None
        if len(key) != KEY_SIZE:
            raise KeyringEntryInvalid(current)
        return key

    def delete(self, record: KeyringRecord) -> None:
        """Remove the entry from the current backend; absent or unusable is not an error."""
        backend = self.backend
        if not is_usable(backend):
            return
        try:
            backend.delete_password(record.service, record.entry)
        except (keyring.errors.PasswordDeleteError, keyring.errors.KeyringError, NotImplementedError):
            return
