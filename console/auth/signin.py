"""Signing in: online with the server, offline with the vault alone, first sign-in with an
enrollment code, and signing in again for a session whose server session ended.

These are coroutines for the GUI's event loop; Argon2id, SQLCipher and keyring work runs on
worker threads through ``Operations.in_thread``.  The password is checked against the vault
first (that also opens the device key needed to prove the device to the server), so a
wrong password costs no round trip and is throttled locally."""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass, field

from console.auth.api import EnrollmentAnswer, IdentityAPI, SessionAnswer
from console.auth.device import DeviceKey
from console.auth.local import LocalVaults, OnlineGrant, Unlocked
from console.auth.session import Session, SessionEnded, identity_of
from console.errors import ConsoleError
from console.logs import fields
from console.net.client import ServerClient
from console.net.errors import InvalidResponse, ServerError, ServerHTTPError
from console.operations import Operations
from console.vault.errors import (
    KeyringBackendChanged,
    KeyringEntryInvalid,
    KeyringEntryMissing,
    KeyringUnavailable,
    VaultError,
    WrongPassword,
)
from console.vault.vault import Vault

logger = logging.getLogger("kluis.console.signin")

DEVICE_NAME_LIMIT = 100
DEVICE_REVOKED = "device_revoked"
ACCOUNT_DISABLED = "account_disabled"
INVALID_DEVICE_PROOF = "invalid_device_proof"


class SignInFailed(ConsoleError):
    """A sign-in that cannot go on; the message says why and what to do."""


class PasswordDoesNotOpenVault(WrongPassword):
    """The password may be right for the server but is not the one that locks this
    computer's vault: it may have been changed on another computer."""

    def __init__(self) -> None:
        VaultError.__init__(
            self,
            "The password does not open this computer's vault. If you changed your password on another "
            "computer, enter the previous one as well, so that the vault here can take the new one.",
        )


@dataclass(frozen=True)
class SignInForm:
    username: str
    password: str = field(repr=False)
    totp_code: str | None = field(default=None, repr=False)
    recovery_code: str | None = field(default=None, repr=False)
    device_name: str | None = None  # for a computer not yet enrolled for this user
    # The password this computer's vault was last opened with, when the password was changed
    # on another computer since (and no keyring holds the vault key).
    previous_password: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class EnrollmentForm:
    username: str
    enrollment_code: str = field(repr=False)
    new_password: str = field(repr=False)
    totp_code: str = field(repr=False)
    device_name: str


@dataclass(frozen=True)
class SignedIn:
    session: Session
    notices: tuple[str, ...] = ()
    recovery_codes: tuple[str, ...] = field(default=(), repr=False)


def default_device_name() -> str:
    return (socket.gethostname() or "Workstation")[:DEVICE_NAME_LIMIT]


def unreachable(error: ServerError) -> bool:
    """The server gave no usable answer: the console may fall back to the vault alone."""
    if isinstance(error, ServerHTTPError):
        return error.status >= 500
    return not isinstance(error, InvalidResponse)


def grant_of(answer: SessionAnswer) -> OnlineGrant:
    return OnlineGrant(identity_of(answer), answer.offline_unlock_hours, answer.offline_unlock_until)


class SignInService:
    def __init__(self, vaults: LocalVaults, client: ServerClient, operations: Operations) -> None:
        self.vaults = vaults
        self._client = client
        self._api = IdentityAPI(client)
        self._operations = operations

    # --- sign-in -----------------------------------------------------------------------

    async def sign_in(self, form: SignInForm) -> SignedIn:
        username = form.username.strip()
        if not username or not form.password:
            raise SignInFailed("Enter your username and password.")
        if not self.vaults.exists(username):
            return await self._first_on_this_computer(form)
        unlocked, notices = await self._open_vault(form)
        if form.totp_code is None and form.recovery_code is None:
            return await self._offline_or_ask_for_code(unlocked, notices)
        try:
            answer = await self._api.sign_in(
                username,
                form.password,
                totp_code=form.totp_code,
                recovery_code=form.recovery_code,
                device=unlocked.device,
                device_id=unlocked.identity.device_id,
                device_name=None,
            )
        except ServerHTTPError as error:
            if unreachable(error):
                return await self._offline(unlocked, notices, error)
            await self._refused(unlocked, error)
            raise
        except ServerError as error:
            if unreachable(error):
                return await self._offline(unlocked, notices, error)
            await self._operations.in_thread(unlocked.vault.close)
            raise
        except BaseException:
            await self._operations.in_thread(unlocked.vault.close)
            raise
        return await self._online(unlocked, answer, form.password, notices)

    async def _first_on_this_computer(self, form: SignInForm) -> SignedIn:
        if form.totp_code is None and form.recovery_code is None:
            raise SignInFailed("Enter the 6-digit code from your authenticator app, or a recovery code.")
        device_name = " ".join((form.device_name or "").split()) or default_device_name()
        device = DeviceKey.generate()
        try:
            answer = await self._api.sign_in(
                form.username.strip(),
                form.password,
                totp_code=form.totp_code,
                recovery_code=form.recovery_code,
                device=device,
                device_id=None,
                device_name=device_name[:DEVICE_NAME_LIMIT],
            )
        except ServerError as error:
            if unreachable(error):
                raise SignInFailed(
                    f"{error} This computer holds no vault for this user yet, so the first sign-in "
                    "here needs the server."
                ) from None
            raise
        unlocked = await self._create_vault(form.username, form.password, answer, device, device_name)
        logger.info("device enrolled", extra=fields(server=self._client.current))
        return SignedIn(self._session(unlocked, answer), tuple(self._keyring_notices(unlocked)))

    async def _open_vault(self, form: SignInForm) -> tuple[Unlocked, list[str]]:
        username = form.username.strip()
        vault_password = form.previous_password or form.password
        try:
            unlocked = await self._operations.in_thread(lambda: self.vaults.unlock(username, vault_password))
        except WrongPassword:
            if form.previous_password or (form.totp_code is None and form.recovery_code is None):
                raise
            # The password may have been changed on another computer: the keyring's copy of
            # the key lets the server judge the new password.
            try:
                unlocked = await self._operations.in_thread(lambda: self.vaults.unlock_with_keyring(username))
            except (KeyringUnavailable, KeyringEntryMissing, KeyringBackendChanged, KeyringEntryInvalid):
                raise PasswordDoesNotOpenVault() from None
        notices = self._keyring_notices(unlocked)
        return unlocked, notices

    def _keyring_notices(self, unlocked: Unlocked) -> list[str]:
        return [unlocked.keyring.notice] if unlocked.keyring.notice else []

    async def _offline_or_ask_for_code(self, unlocked: Unlocked, notices: list[str]) -> SignedIn:
        try:
            await self._client.liveness()
        except ServerError as error:
            return await self._offline(unlocked, notices, error)
        await self._operations.in_thread(unlocked.vault.close)
        raise SignInFailed(
            "The server can be reached: enter the 6-digit code from your authenticator app, "
            "or a recovery code."
        )

    async def _offline(self, unlocked: Unlocked, notices: list[str], error: ServerError) -> SignedIn:
        try:
            until = await self._operations.in_thread(lambda: self.vaults.open_offline(unlocked))
        except BaseException:
            await self._operations.in_thread(unlocked.vault.close)
            raise
        session = Session(
            unlocked.identity,
            unlocked.vault,
            unlocked.device,
            self._client,
            self._operations,
            answer=None,
            offline_until=until,
        )
        return SignedIn(session, (f"The server could not be reached: {error}", *notices))

    async def _online(
        self, unlocked: Unlocked, answer: SessionAnswer, password: str, notices: list[str]
    ) -> SignedIn:
        vault = unlocked.vault
        try:
            if answer.user.id != unlocked.identity.user_id:
                raise SignInFailed(
                    "This computer's vault for this username belongs to an earlier account with the same "
                    "name. It was left as it is; ask an administrator to remove it."
                )
            grant = grant_of(answer)
            await self._operations.in_thread(lambda: self._store_online(vault, grant, password))
        except BaseException:
            await self._operations.in_thread(vault.close)
            raise
        return SignedIn(self._session(unlocked, answer), tuple(notices))

    def _store_online(self, vault: Vault, grant: OnlineGrant, password: str) -> None:
        self.vaults.sync_password(vault, password)
        self.vaults.record_online(vault, grant)

    async def _refused(self, unlocked: Unlocked, error: ServerHTTPError) -> None:
        """The server refused the sign-in: close (or for a revoked device, wipe) the vault."""
        if error.code == DEVICE_REVOKED:
            await self._operations.in_thread(unlocked.vault.wipe)
            raise SessionEnded("revoked_device") from None
        await self._operations.in_thread(unlocked.vault.close)
        if error.code == INVALID_DEVICE_PROOF:
            # The password and code were right (the server checks them first): the server does
            # not know this vault's device for this user, so a retry cannot help.
            raise SignInFailed(
                "The server does not recognise this computer as one of your devices (its records may "
                "have been restored from an older copy, or this profile was copied from another "
                "computer). Your work here was kept; ask an administrator."
            ) from None

    async def _create_vault(
        self, username: str, password: str, answer: SessionAnswer, device: DeviceKey, device_name: str
    ) -> Unlocked:
        grant = grant_of(answer)
        try:
            return await self._operations.in_thread(
                lambda: self.vaults.create(username, password, grant, device, device_name)
            )
        except (VaultError, OSError):
            await self._abandon(answer)
            raise

    async def _abandon(self, answer: SessionAnswer) -> None:
        """The server opened a session this console cannot keep: end it."""
        try:
            await self._api.sign_out(answer.access_token.get_secret_value())
        except ServerError as error:
            logger.info("abandoned session not signed out", extra=fields(reason=str(error)))

    def _session(self, unlocked: Unlocked, answer: SessionAnswer) -> Session:
        return Session(
            unlocked.identity,
            unlocked.vault,
            unlocked.device,
            self._client,
            self._operations,
            answer=answer,
        )

    # --- enrollment --------------------------------------------------------------------

    async def start_enrollment(self, username: str, enrollment_code: str) -> EnrollmentAnswer:
        if not username.strip() or not enrollment_code.strip():
            raise SignInFailed("Enter your username and the enrollment code your administrator gave you.")
        return await self._api.start_enrollment(username.strip(), enrollment_code.strip())

    async def complete_enrollment(self, form: EnrollmentForm) -> SignedIn:
        device_name = " ".join(form.device_name.split()) or default_device_name()
        device = DeviceKey.generate()
        answer = await self._api.complete_enrollment(
            form.username.strip(),
            form.enrollment_code.strip(),
            form.new_password,
            form.totp_code.strip(),
            device=device,
            device_name=device_name[:DEVICE_NAME_LIMIT],
        )
        codes = tuple(code.get_secret_value() for code in answer.recovery_codes or [])
        notices: list[str] = []
        if self.vaults.exists(form.username):
            unlocked, notice = await self._adopt_earlier_vault(form, answer, device, device_name)
            if unlocked is not None:
                return SignedIn(self._session(unlocked, answer), (notice,), codes)
            notices.append(notice)
        unlocked = await self._create_vault(form.username, form.new_password, answer, device, device_name)
        return SignedIn(self._session(unlocked, answer), (*notices, *self._keyring_notices(unlocked)), codes)

    async def _adopt_earlier_vault(
        self, form: EnrollmentForm, answer: SessionAnswer, device: DeviceKey, device_name: str
    ) -> tuple[Unlocked | None, str]:
        """Enrolling again (after an MFA reset) on a computer that holds this user's vault:
        keep it if the keyring can open it, else set it aside."""
        username = form.username.strip()
        grant = grant_of(answer)

        def adopt() -> Unlocked:
            unlocked = self.vaults.unlock_with_keyring(username)
            try:
                if unlocked.identity.user_id != grant.identity.user_id:
                    raise SignInFailed("the earlier vault belongs to another account")
                self.vaults.adopt_device(unlocked.vault, device, grant.identity.device_id, device_name)
                self.vaults.sync_password(unlocked.vault, form.new_password)
                self.vaults.record_online(unlocked.vault, grant)
            except BaseException:
                unlocked.vault.close()
                raise
            return Unlocked(unlocked.vault, grant.identity, device, unlocked.online_sign_in, unlocked.keyring)

        try:
            return await self._operations.in_thread(
                adopt
            ), "This computer's vault was kept with your new password."
        except (VaultError, SignInFailed):
            aside = await self._operations.in_thread(lambda: self.vaults.set_aside(username))
            return None, (
                "This computer held an earlier vault for you that cannot be opened without your previous "
                f"password. It was kept in {aside}; a new vault was made."
            )

    # --- signing in again --------------------------------------------------------------

    async def reauthenticate(
        self, session: Session, password: str, *, totp_code: str | None, recovery_code: str | None
    ) -> None:
        """Sign the session's user in again from this device; the session goes back online.
        A revoked device or a disabled account ends the session."""
        if not password or (totp_code is None and recovery_code is None):
            raise SignInFailed("Enter your password and the 6-digit code (or a recovery code).")
        identity = session.identity
        try:
            answer = await self._api.sign_in(
                identity.username,
                password,
                totp_code=totp_code,
                recovery_code=recovery_code,
                device=session.device,
                device_id=identity.device_id,
                device_name=None,
            )
        except ServerHTTPError as error:
            if error.code == DEVICE_REVOKED:
                raise await session.revoked() from None
            if error.code == ACCOUNT_DISABLED:
                await session.close("disabled")
                raise session.end or SessionEnded("disabled") from None
            raise
        grant = grant_of(answer)
        vault = session.vault
        await self._operations.in_thread(lambda: self._store_online(vault, grant, password))
        session.resume(answer)
