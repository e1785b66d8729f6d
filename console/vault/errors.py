"""Why a vault cannot be opened or written.  Each message is a complete sentence for the
person at the desk; none quotes a password, a key or anything stored in the vault."""

from __future__ import annotations

from pathlib import Path

from console.errors import ConsoleError


class VaultError(ConsoleError):
    """An expected failure of the local vault."""


class VaultNotFound(VaultError):
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        super().__init__(f"There is no vault for this user on this computer (looked in {directory}).")


class VaultExists(VaultError):
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        super().__init__(f"A vault already exists in {directory}; it was left untouched.")


class WrongPassword(VaultError):
    def __init__(self) -> None:
        super().__init__("The password does not open this computer's vault. Check it and try again.")


class UnlockThrottled(VaultError):
    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(
            f"Too many wrong passwords on this computer. Wait {retry_after} seconds before trying again."
        )


class KeyFileError(VaultError):
    """The wrapped-key file is unreadable or not in a format this console knows."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        super().__init__(f"The vault key file {path} cannot be used: {reason}. It was left as it is.")


class VaultCorrupt(VaultError):
    """The database fails SQLCipher's page authentication or SQLite's structural check."""

    def __init__(self, path: Path) -> None:
        self.path = path
        super().__init__(
            f"The vault database {path} failed its integrity check: it was changed outside Kluis "
            "(tampered with) or is damaged. It was not used and was left as it is; tell your "
            "administrator."
        )


class VaultTooNew(VaultError):
    """A file of the vault was written by a newer console."""

    def __init__(self, path: Path, detail: str) -> None:
        self.path = path
        super().__init__(
            f"{path} was written by a newer Kluis console ({detail}). Use that console or a newer one; "
            "the file was left as it is."
        )


class KeyringUnavailable(VaultError):
    def __init__(self) -> None:
        super().__init__(
            "This computer has no usable OS keyring, so the vault key is not kept there; "
            "the password alone opens the vault."
        )


class KeyringEntryMissing(VaultError):
    def __init__(self, backend: str) -> None:
        self.backend = backend
        super().__init__(
            f"The vault key is not in the OS keyring ({backend}) although it was stored there; "
            "it may have been removed. Sign in with your password to store it again."
        )


class KeyringBackendChanged(VaultError):
    def __init__(self, recorded: str, current: str) -> None:
        self.recorded = recorded
        self.current = current
        super().__init__(
            f"The vault key was stored in the keyring {recorded}, but this computer now uses {current}. "
            "Sign in with your password to store the key in the current keyring."
        )


class KeyringEntryInvalid(VaultError):
    def __init__(self, backend: str) -> None:
        self.backend = backend
        super().__init__(
            f"The OS keyring ({backend}) holds an entry for this vault that does not open it. "
            "Sign in with your password to replace it."
        )


class VaultDatabaseMissing(VaultError):
    def __init__(self, path: Path) -> None:
        self.path = path
        super().__init__(
            f"The vault database {path} is missing although its key file is present. "
            "Nothing was changed; tell your administrator."
        )
