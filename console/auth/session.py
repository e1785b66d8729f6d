"""The signed-in session: the interface the sync engine and the workspaces build on.

A :class:`Session` holds who is signed in, the open vault, the device key and (when online)
the server session's tokens.  :meth:`Session.request` sends an authorised request through
the shell's ``ServerClient``; it refreshes the access token with a device proof shortly
before it expires, and once more when the server answers 401 ``token_expired``, retrying the
request once.  A second 401 is never retried: it ends the server session.

How a session ends (:class:`SessionEnded`, also emitted as :attr:`Session.ended`):

* ``"expired"``: the server session is over (idle, shift over, revoked, or this console was
  unlocked offline).  The vault stays open and the local work with it; a sign-in through
  the re-authentication dialog brings the session back online (:attr:`Session.resumed`).
* ``"signed_out"`` and ``"disabled"``: the vault is closed, its data kept.
* ``"revoked_device"``: an administrator revoked this computer; the vault (database, keys,
  keyring entry) is wiped before the signal is emitted."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import httpx
from PySide6.QtCore import QObject, Signal

from console.auth.api import IdentityAPI, SessionAnswer
from console.auth.device import DeviceKey
from console.auth.identity import StaffIdentity
from console.errors import ConsoleError
from console.logs import fields
from console.net.client import ServerClient
from console.net.errors import ServerError, ServerHTTPError
from console.net.models import ErrorBody
from console.operations import Operations
from console.vault.vault import Vault

__all__ = ["EndReason", "Session", "SessionEnded", "StaffIdentity"]

logger = logging.getLogger("kluis.console.session")

EndReason = Literal["signed_out", "expired", "revoked_device", "disabled"]

MESSAGES: dict[EndReason, str] = {
    "signed_out": "You have signed out.",
    "expired": (
        "Your session with the server has ended. Your work on this computer is kept; "
        "sign in again to continue working with the server."
    ),
    "revoked_device": (
        "An administrator revoked this computer. Its local data, keys and keyring entry have been "
        "removed. Sign in again to enroll it as a new device."
    ),
    "disabled": (
        "Your account has been disabled; ask an administrator. Your work on this computer is kept "
        "in its vault."
    ),
}
OFFLINE_MESSAGE = (
    "This console was unlocked without the server. Sign in to the server to send and receive changes."
)
REFRESH_MARGIN_SECONDS = 30.0
RETRY_CODES = frozenset({"token_expired", "invalid_token"})
DEVICE_REVOKED = "device_revoked"
SIGN_OUT_PATH = "/api/v1/auth/sign-out"


class SessionEnded(ConsoleError):
    def __init__(self, reason: EndReason, message: str | None = None) -> None:
        self.reason: EndReason = reason
        super().__init__(message or MESSAGES[reason])


@dataclass(frozen=True)
class _Tokens:
    access: str = dataclasses.field(repr=False)
    refresh: str = dataclasses.field(repr=False)
    session_id: uuid.UUID
    access_deadline: float  # monotonic seconds
    session_expires_at: dt.datetime
    generation: int


def identity_of(answer: SessionAnswer) -> StaffIdentity:
    user = answer.user
    return StaffIdentity(
        user_id=user.id,
        username=user.username,
        display_name=user.display_name,
        roles=tuple(user.roles),
        branch_id=user.branch.id,
        branch_code=user.branch.code,
        device_id=answer.device.id,
    )


def error_code(response: httpx.Response) -> str:
    try:
        return ErrorBody.model_validate_json(response.content).error.code
    except ValueError:
        return f"http_{response.status_code}"


class Session(QObject):
    ended = Signal(object)  # SessionEnded
    resumed = Signal()  # back online after a sign-in
    changed = Signal()  # online state or identity changed

    def __init__(
        self,
        identity: StaffIdentity,
        vault: Vault,
        device: DeviceKey,
        client: ServerClient,
        operations: Operations,
        *,
        answer: SessionAnswer | None,
        offline_until: dt.datetime | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.identity = identity
        self.vault = vault
        self.offline_until = offline_until
        self._device = device
        self._client = client
        self._api = IdentityAPI(client)
        self._operations = operations
        self._monotonic = monotonic
        self._tokens: _Tokens | None = None
        self._generation = 0
        self._end: SessionEnded | None = None
        self._refreshing = asyncio.Lock()
        if answer is not None:
            self._adopt(answer)

    # --- state -------------------------------------------------------------------------

    @property
    def online(self) -> bool:
        """True while the server session stands; False after an offline unlock or once the
        server session ended, until a sign-in succeeds."""
        return self._tokens is not None and self._end is None

    @property
    def closed(self) -> bool:
        return self._end is not None

    @property
    def end(self) -> SessionEnded | None:
        return self._end

    @property
    def session_expires_at(self) -> dt.datetime | None:
        return self._tokens.session_expires_at if self._tokens else None

    @property
    def device(self) -> DeviceKey:
        return self._device

    # --- the interface -----------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        timeout: float | None = None,  # noqa: ASYNC109 - the read timeout of this request, passed to httpx
        accept: str | None = None,
    ) -> httpx.Response:
        """Send an authorised request; see the module's description for what happens on 401.
        ``accept`` asks for another media type than JSON (a checkpoint, a tile)."""
        tokens = await self._usable_tokens()
        response = await self._send(tokens, method, path, json, timeout, accept)
        if response.status_code != 401:
            return response
        code = error_code(response)
        if code in RETRY_CODES:
            tokens = await self._refresh(tokens.generation)
            response = await self._send(tokens, method, path, json, timeout, accept)
            if response.status_code != 401:
                return response
            code = error_code(response)
        raise await self._ended_by(code)

    def sign(self, message: bytes) -> bytes:
        """An Ed25519 signature by this device's key (for audit events)."""
        return self._device.sign(message)

    async def sign_out(self) -> None:
        """End the server session (if the server can be reached) and close the vault."""
        if self._end is not None:
            return
        tokens, self._tokens = self._tokens, None
        if tokens is not None:
            try:
                access = tokens.access
                if self._monotonic() >= tokens.access_deadline - REFRESH_MARGIN_SECONDS:
                    answer = await self._api.refresh(
                        tokens.refresh, device=self._device, device_id=self.identity.device_id
                    )
                    access = answer.access_token.get_secret_value()
                await self._api.sign_out(access)
            except ServerError as error:
                logger.info("sign-out not confirmed by the server", extra=fields(reason=str(error)))
        await self.close("signed_out")

    # --- for the sign-in flow ----------------------------------------------------------

    def resume(self, answer: SessionAnswer) -> None:
        """A sign-in succeeded for this session's user and device: back online."""
        if self._end is not None:
            raise RuntimeError("a closed session cannot resume")
        self._adopt(answer)
        self.offline_until = None
        self.resumed.emit()
        self.changed.emit()

    async def close(self, reason: EndReason, message: str | None = None) -> None:
        """End the session for ``reason`` and close the vault, keeping its data."""
        if self._end is not None:
            return
        ended = self._end = SessionEnded(reason, message)
        self._tokens = None
        await self._operations.in_thread(self.vault.close)
        logger.info("session ended", extra=fields(reason=reason))
        self.ended.emit(ended)
        self.changed.emit()

    async def revoked(self) -> SessionEnded:
        """The server says this device is revoked: wipe the vault, then announce the end."""
        if self._end is not None:
            return self._end
        ended = self._end = SessionEnded("revoked_device")
        self._tokens = None
        try:
            await self._operations.in_thread(self.vault.wipe)
        except OSError as error:
            ended = self._end = SessionEnded(
                "revoked_device",
                "An administrator revoked this computer, but removing its local data failed "
                f"({error.strerror}). Tell your administrator; the data stays encrypted.",
            )
        logger.warning("device revoked; vault wiped", extra=fields(path=str(self.vault.directory)))
        self.ended.emit(ended)
        self.changed.emit()
        return ended

    # --- tokens ------------------------------------------------------------------------

    def _adopt(self, answer: SessionAnswer) -> None:
        self._generation += 1
        self._tokens = _Tokens(
            access=answer.access_token.get_secret_value(),
            refresh=answer.refresh_token.get_secret_value(),
            session_id=answer.session_id,
            access_deadline=self._monotonic() + answer.expires_in,
            session_expires_at=answer.session_expires_at,
            generation=self._generation,
        )
        identity = identity_of(answer)
        if identity != self.identity:
            self.identity = identity
            self.changed.emit()

    async def _usable_tokens(self) -> _Tokens:
        if self._end is not None:
            raise self._end
        tokens = self._tokens
        if tokens is None:
            raise SessionEnded("expired", OFFLINE_MESSAGE if self.offline_until else None)
        if self._monotonic() >= tokens.access_deadline - REFRESH_MARGIN_SECONDS:
            tokens = await self._refresh(tokens.generation)
        return tokens

    async def _refresh(self, generation: int) -> _Tokens:
        """New tokens, unless a refresh since ``generation`` already brought them."""
        async with self._refreshing:
            tokens = await self._usable_or_ended()
            if tokens.generation != generation:
                return tokens
            try:
                answer = await self._api.refresh(
                    tokens.refresh, device=self._device, device_id=self.identity.device_id
                )
            except ServerHTTPError as error:
                if error.status >= 500 or error.status == 429:
                    raise
                raise await self._ended_by(error.code) from None
            self._adopt(answer)
            assert self._tokens is not None
            return self._tokens

    async def _usable_or_ended(self) -> _Tokens:
        if self._end is not None:
            raise self._end
        if self._tokens is None:
            raise SessionEnded("expired")
        return self._tokens

    async def _send(
        self,
        tokens: _Tokens,
        method: str,
        path: str,
        json: Any,
        read_timeout: float | None,
        accept: str | None,
    ) -> httpx.Response:
        headers = {"authorization": f"Bearer {tokens.access}"}
        if accept is not None:
            headers["accept"] = accept
        return await self._client.send(method, path, json=json, headers=headers, timeout=read_timeout)

    async def _ended_by(self, code: str) -> SessionEnded:
        if code == DEVICE_REVOKED:
            return await self.revoked()
        if self._end is not None:
            return self._end
        ended = SessionEnded("expired")
        if self._tokens is not None:
            self._tokens = None
            logger.info("server session ended", extra=fields(reason=code))
            self.ended.emit(ended)
            self.changed.emit()
        return ended
