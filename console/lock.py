"""One running console per profile, enforced with a lock file in the profile directory."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QLockFile

from console.errors import StartupError

LOCK_FILE = "console.lock"


class ProfileInUse(StartupError):
    """Another console holds the profile's lock."""


class ProfileLock:
    """Held for the life of the console; a lock left by a console that died is taken over."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / LOCK_FILE
        self._lock = QLockFile(str(self.path))
        # The default stale time (30 s) would let a second console take the lock from a
        # first one that is still running; only a dead owner makes it stale.
        self._lock.setStaleLockTime(0)

    def acquire(self) -> None:
        if self._lock.tryLock(0):
            return
        error = self._lock.error()
        if error == QLockFile.LockError.LockFailedError:
            pid, host, _application = self._lock.getLockInfo()
            owner = f"process {pid} on {host}" if pid else "another process"
            raise ProfileInUse(
                f"Another Kluis console ({owner}) is already using the profile in {self.path.parent}. "
                "Close that console first, or start this one with a different --profile."
            )
        raise ProfileInUse(f"The profile lock {self.path} cannot be created ({error.name}).")

    def release(self) -> None:
        self._lock.unlock()

    def __enter__(self) -> ProfileLock:
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()
