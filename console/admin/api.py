"""The admin API (/api/v1/admin and /api/v1/security-events) as the console calls it, through
the signed-in session.  docs/api-auth.md lists the routes, their bodies and error codes.

Every call returns parsed models or raises: :class:`AdminRefused` for an error answer (the
server's code and its own message, which never echoes what was sent),
``console.net.errors.InvalidResponse`` for an answer this console cannot read (naming only
the fields, never their values), and whatever the session raises when the server cannot be
reached or the session ended."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar
from urllib.parse import urlencode

import httpx
from pydantic import AwareDatetime, Field, SecretStr, ValidationError

from console.auth.api import server_of
from console.errors import ConsoleError
from console.net.errors import InvalidResponse
from console.net.models import Answer, ErrorBody

A = TypeVar("A", bound=Answer)
T = TypeVar("T")

ADMIN = "/api/v1/admin"
SECURITY_EVENTS = "/api/v1/security-events"
EVENT_LIMIT = 200
"""How many recent security events the workspace shows (the server allows up to 500)."""


class Requester(Protocol):
    """What the API needs of a session: :meth:`console.auth.session.Session.request`."""

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        timeout: float | None = None,  # noqa: ASYNC109 - the read timeout, as Session.request takes it
    ) -> httpx.Response: ...


# --- what the server answers -------------------------------------------------------------


class Branch(Answer):
    id: uuid.UUID
    code: str
    name: str
    region: str


class StaffUser(Answer):
    id: uuid.UUID
    username: str
    display_name: str
    branch: Branch
    roles: tuple[str, ...]
    active: bool
    mfa_enrolled: bool
    enrollment_pending: bool
    created_at: AwareDatetime
    disabled_at: AwareDatetime | None


class Device(Answer):
    id: uuid.UUID
    user_id: uuid.UUID
    name: str
    created_at: AwareDatetime
    last_seen_at: AwareDatetime | None
    revoked_at: AwareDatetime | None
    active: bool


class EnrollmentCode(Answer):
    """A new account's or a reset account's one-time code: shown once, never stored."""

    user: StaffUser
    enrollment_code: SecretStr
    enrollment_code_expires_at: AwareDatetime


class PermissionInfo(Answer):
    name: str
    description: str


class RoleInfo(Answer):
    name: str
    permissions: tuple[PermissionInfo, ...]


class SecurityEvent(Answer):
    sequence: int
    event_id: uuid.UUID
    occurred_at: AwareDatetime
    kind: str
    outcome: str
    reason: str | None
    user_id: uuid.UUID | None
    device_id: uuid.UUID | None
    session_id: uuid.UUID | None
    actor_id: uuid.UUID | None
    source: str
    client_address: str | None


class _Users(Answer):
    users: tuple[StaffUser, ...]


class _Devices(Answer):
    devices: tuple[Device, ...]


class _Branches(Answer):
    branches: tuple[Branch, ...]


class _Roles(Answer):
    roles: tuple[RoleInfo, ...] = Field(min_length=1)


class _Events(Answer):
    events: tuple[SecurityEvent, ...]


@dataclass(frozen=True)
class Overview:
    """Everything the workspace lists, read in one go."""

    users: tuple[StaffUser, ...]
    branches: tuple[Branch, ...]
    devices: tuple[Device, ...]
    roles: tuple[RoleInfo, ...]
    events: tuple[SecurityEvent, ...]


@dataclass(frozen=True)
class UserDetail:
    user: StaffUser
    devices: tuple[Device, ...]


# --- failures ----------------------------------------------------------------------------

REFUSALS = {
    "forbidden": "Your roles do not allow this. Ask another administrator.",
    "cannot_change_self": "You cannot do this to your own account: ask another administrator.",
}


class AdminRefused(ConsoleError):
    """The server refused the request: ``status``, ``code`` and the server's ``server_message``."""

    def __init__(self, status: int, code: str, server_message: str, request_id: str | None) -> None:
        self.status = status
        self.code = code
        self.server_message = server_message
        self.request_id = request_id
        text = REFUSALS.get(code) or server_message.strip() or f"The server answered HTTP {status}."
        if status >= 500:
            text = f"The server failed to do this ({text.rstrip('.')}). Try again in a moment."
        reference = f" (request {request_id})" if request_id else ""
        super().__init__(f"{text}{reference}")


def refusal(response: httpx.Response) -> AdminRefused:
    try:
        info = ErrorBody.model_validate_json(response.content).error
    except ValidationError:
        return AdminRefused(response.status_code, f"http_{response.status_code}", "", None)
    return AdminRefused(response.status_code, info.code, info.message, info.request_id)


def parse(response: httpx.Response, model: type[A], *, expect: int = 200) -> A:
    if response.status_code != expect:
        raise refusal(response)
    try:
        return model.model_validate_json(response.content)
    except ValidationError as exc:
        places = sorted({".".join(str(part) for part in error["loc"]) or "body" for error in exc.errors()})
        shown = ", ".join(places[:5]) + (" and more" if len(places) > 5 else "")
        raise InvalidResponse(server_of(response), f"unexpected or missing fields: {shown}") from None


def _query(path: str, **values: object) -> str:
    given = {name: _text(value) for name, value in values.items() if value is not None}
    return f"{path}?{urlencode(given)}" if given else path


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


async def _all(*steps: Awaitable[Any]) -> list[Any]:
    """Await every step; the first failure is raised once all have finished, so no request
    is left running unobserved."""
    results = await asyncio.gather(*steps, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return list(results)


# --- the calls ---------------------------------------------------------------------------


class AdminAPI:
    def __init__(self, session: Requester) -> None:
        self._session = session

    async def _get(self, path: str, model: type[A]) -> A:
        return parse(await self._session.request("GET", path), model)

    async def _post(self, path: str, model: type[A], body: Any = None, *, expect: int = 200) -> A:
        return parse(await self._session.request("POST", path, json=body), model, expect=expect)

    # Staff accounts.

    async def users(
        self, *, branch_id: uuid.UUID | None = None, active: bool | None = None
    ) -> tuple[StaffUser, ...]:
        answer = await self._get(_query(f"{ADMIN}/users", branch_id=branch_id, active=active), _Users)
        return answer.users

    async def user(self, user_id: uuid.UUID) -> StaffUser:
        return await self._get(f"{ADMIN}/users/{user_id}", StaffUser)

    async def user_detail(self, user_id: uuid.UUID) -> UserDetail:
        user, devices = await _all(self.user(user_id), self.devices(user_id=user_id))
        return UserDetail(user, devices)

    async def create_user(
        self, *, username: str, display_name: str, branch_id: uuid.UUID, roles: Sequence[str]
    ) -> EnrollmentCode:
        body = {
            "username": username,
            "display_name": display_name,
            "branch_id": str(branch_id),
            "roles": list(roles),
        }
        return await self._post(f"{ADMIN}/users", EnrollmentCode, body, expect=201)

    async def disable(self, user_id: uuid.UUID) -> StaffUser:
        return await self._post(f"{ADMIN}/users/{user_id}/disable", StaffUser)

    async def enable(self, user_id: uuid.UUID) -> StaffUser:
        return await self._post(f"{ADMIN}/users/{user_id}/enable", StaffUser)

    async def reset_mfa(self, user_id: uuid.UUID) -> EnrollmentCode:
        return await self._post(f"{ADMIN}/users/{user_id}/reset-mfa", EnrollmentCode)

    # Devices.

    async def devices(self, *, user_id: uuid.UUID | None = None) -> tuple[Device, ...]:
        answer = await self._get(_query(f"{ADMIN}/devices", user_id=user_id), _Devices)
        return answer.devices

    async def revoke_device(self, device_id: uuid.UUID) -> Device:
        return await self._post(f"{ADMIN}/devices/{device_id}/revoke", Device)

    # Branches and roles.

    async def branches(self) -> tuple[Branch, ...]:
        return (await self._get(f"{ADMIN}/branches", _Branches)).branches

    async def create_branch(self, *, code: str, name: str, region: str) -> Branch:
        body = {"code": code, "name": name, "region": region}
        return await self._post(f"{ADMIN}/branches", Branch, body, expect=201)

    async def roles(self) -> tuple[RoleInfo, ...]:
        return (await self._get(f"{ADMIN}/roles", _Roles)).roles

    # Security events.

    async def security_events(self, *, limit: int = EVENT_LIMIT) -> tuple[SecurityEvent, ...]:
        answer = await self._get(_query(SECURITY_EVENTS, limit=limit), _Events)
        return tuple(sorted(answer.events, key=lambda event: event.sequence, reverse=True))

    # The workspace's lists.

    async def overview(self, *, branch_id: uuid.UUID | None = None, active: bool | None = None) -> Overview:
        users, branches, devices, roles, events = await _all(
            self.users(branch_id=branch_id, active=active),
            self.branches(),
            self.devices(),
            self.roles(),
            self.security_events(),
        )
        return Overview(users, branches, devices, roles, events)
