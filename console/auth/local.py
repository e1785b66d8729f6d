"""The blocking half of signing in: opening, creating and updating a user's vault and the
records the sign-in keeps in it.  Every function here runs on a worker thread
(``Operations.in_thread``)."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from console.auth.audit import queue_unlock_events
from console.auth.device import DeviceKey
from console.auth.identity import StaffIdentity
from console.auth.offline import offline_unlock_until
from console.logs import fields
from console.vault import records
from console.vault.errors import VaultError, WrongPassword
from console.vault.keyring_store import KeyringStore
from console.vault.throttle import UnlockThrottle
from console.vault.vault import KeyringStatus, Vault, utc_now, vault_directory
from shared.crypto import KdfParams

logger = logging.getLogger("kluis.console.auth")

Clock = Callable[[], dt.datetime]


@dataclass(frozen=True)
class OnlineGrant:
    """What a successful online sign-in tells the vault."""

    identity: StaffIdentity
    offline_unlock_hours: int
    server_offline_until: dt.datetime


@dataclass(frozen=True)
class Unlocked:
    vault: Vault
    identity: StaffIdentity
    device: DeviceKey
    online_sign_in: records.OnlineSignIn | None
    keyring: KeyringStatus


class IncompleteVault(VaultError):
    def __init__(self, path: Path) -> None:
        super().__init__(
            f"The vault in {path} holds no identity or device key; it was never completed. "
            "It was left as it is; tell your administrator."
        )


class LocalVaults:
    """The vaults of this profile, one per user."""

    def __init__(
        self,
        profile_dir: Path,
        *,
        keyring: KeyringStore | None = None,
        kdf: KdfParams | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self.profile_dir = profile_dir
        self.keyring = keyring or KeyringStore()
        self.kdf = kdf or KdfParams()
        self.clock = clock

    def directory(self, username: str) -> Path:
        return vault_directory(self.profile_dir, username)

    def exists(self, username: str) -> bool:
        return bool(username.strip()) and Vault.exists(self.directory(username))

    def keyring_usable(self) -> bool:
        return self.keyring.usable()

    def unlock(self, username: str, password: str) -> Unlocked:
        """Open the vault with the password, throttling wrong ones; the wrong passwords typed
        since the last unlock are queued as audit events."""
        directory = self.directory(username)
        throttle = UnlockThrottle(directory, self.clock)
        throttle.check()
        try:
            vault = Vault.open_with_password(directory, password, keyring=self.keyring, clock=self.clock)
        except WrongPassword:
            throttle.failed()
            raise
        return self._complete_unlock(vault, throttle, self._keyring_after_password)

    def unlock_with_keyring(self, username: str) -> Unlocked:
        """Open with the keyring's copy of the key, for a password changed on another computer;
        the caller must have the server confirm the new password before showing anything."""
        directory = self.directory(username)
        vault = Vault.open_with_keyring(directory, keyring=self.keyring, clock=self.clock)
        return self._complete_unlock(vault, UnlockThrottle(directory, self.clock), Vault.keyring_status)

    def _keyring_after_password(self, vault: Vault) -> KeyringStatus:
        return vault.ensure_keyring(self.clock)

    def _complete_unlock(
        self, vault: Vault, throttle: UnlockThrottle, keyring: Callable[[Vault], KeyringStatus]
    ) -> Unlocked:
        try:
            with vault.engine.begin() as connection:
                identity = records.load_identity(connection)
                stored = records.load_device_key(connection)
                online = records.load_online_sign_in(connection)
                if identity is None or stored is None:
                    raise IncompleteVault(vault.directory)
                device = DeviceKey.from_raw(stored.private_key)
                queue_unlock_events(
                    connection, identity, device, failures=throttle.failures(), offline_unlock_at=None
                )
            throttle.succeeded()
            status = keyring(vault)
        except BaseException:
            vault.close()
            raise
        return Unlocked(vault, identity, device, online, status)

    def open_offline(self, unlocked: Unlocked) -> dt.datetime:
        """Allow an unlock without the server, if within the offline period, and queue the
        audit event for it.  Returns the end of the period."""
        now = self.clock()
        with unlocked.vault.engine.begin() as connection:
            until = offline_unlock_until(records.load_online_sign_in(connection), now)
            queue_unlock_events(
                connection, unlocked.identity, unlocked.device, failures=[], offline_unlock_at=now
            )
            records.note_use(connection, now)
        logger.info("vault unlocked offline", extra=fields(path=str(unlocked.vault.directory)))
        return until

    def record_online(self, vault: Vault, grant: OnlineGrant) -> None:
        now = self.clock()
        with vault.engine.begin() as connection:
            records.save_identity(connection, grant.identity, now)
            records.record_online_sign_in(
                connection, now, grant.offline_unlock_hours, grant.server_offline_until
            )

    def create(
        self, username: str, password: str, grant: OnlineGrant, device: DeviceKey, device_name: str
    ) -> Unlocked:
        """A new vault for a device the server has just enrolled."""
        vault = Vault.create(
            self.directory(username), password, keyring=self.keyring, kdf=self.kdf, clock=self.clock
        )
        try:
            now = self.clock()
            with vault.engine.begin() as connection:
                records.save_device_key(
                    connection,
                    records.StoredDeviceKey(
                        grant.identity.device_id, device_name, device.private_bytes(), device.public_key, now
                    ),
                )
            self.record_online(vault, grant)
        except BaseException:
            vault.wipe()
            raise
        return Unlocked(vault, grant.identity, device, None, vault.keyring_status())

    def adopt_device(self, vault: Vault, device: DeviceKey, device_id: uuid.UUID, device_name: str) -> None:
        """Replace the vault's device key after the account enrolled this computer again."""
        with vault.engine.begin() as connection:
            records.save_device_key(
                connection,
                records.StoredDeviceKey(
                    device_id, device_name, device.private_bytes(), device.public_key, self.clock()
                ),
            )

    def sync_password(self, vault: Vault, password: str) -> bool:
        """After the server accepted ``password``: make it the one that opens the vault."""
        if vault.password_opens(password):
            return False
        vault.change_password(password, kdf=self.kdf, clock=self.clock)
        logger.info("vault password updated", extra=fields(path=str(vault.directory)))
        return True

    def set_aside(self, username: str) -> Path:
        """Move a vault that can no longer be opened out of the way, keeping its files."""
        directory = self.directory(username)
        stamp = self.clock().strftime("%Y%m%dT%H%M%SZ")
        target = directory.with_name(f"{directory.name}.set-aside-{stamp}")
        directory.rename(target)
        logger.warning("vault set aside", extra=fields(path=str(target)))
        return target
