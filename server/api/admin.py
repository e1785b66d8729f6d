"""/api/v1/admin: staff accounts, devices, branches and roles for the console's admin
workspace, and /api/v1/security-events for those who review them."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, ConfigDict, Field

from server.auth import accounts
from server.auth.accounts import AccountError, Actor
from server.auth.api_models import BranchOut, DeviceOut, UserOut
from server.auth.authorizer import Principal, principal_of
from server.auth.context import AuthContext
from server.auth.devices import get_device, list_devices, revoke_device
from server.auth.permissions import RULES, Permission, Role
from server.auth.security_events import EventKind, SecurityEvent, Source, recent, record
from server.http.errors import HTTPError
from server.http.messages import Request
from server.http.routing import Requires, Router

PREFIX = "/api/v1/admin"
TAGS = ["admin"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UsersQuery(_Body):
    branch_id: uuid.UUID | None = None
    active: bool | None = None


class UsersOut(BaseModel):
    users: list[UserOut]


class CreateUserIn(_Body):
    username: str = Field(
        min_length=3, max_length=64, description="Lower-case letters, digits, '.', '_', '-'."
    )
    display_name: str = Field(min_length=1, max_length=100)
    branch_id: uuid.UUID
    roles: list[Role] = Field(min_length=1, max_length=len(Role))


class EnrollmentCodeOut(BaseModel):
    user: UserOut
    enrollment_code: str = Field(description="Give it to the user in person; it is shown only now.")
    enrollment_code_expires_at: dt.datetime


class DevicesQuery(_Body):
    user_id: uuid.UUID | None = None


class DevicesOut(BaseModel):
    devices: list[DeviceOut]


class BranchIn(_Body):
    code: str = Field(min_length=1, max_length=16)
    name: str = Field(min_length=1, max_length=100)
    region: str = Field(min_length=1, max_length=100)


class BranchesOut(BaseModel):
    branches: list[BranchOut]


class PermissionOut(BaseModel):
    name: str
    description: str


class RoleOut(BaseModel):
    name: str
    permissions: list[PermissionOut]


class RolesOut(BaseModel):
    roles: list[RoleOut]


class SecurityEventsQuery(_Body):
    before: int | None = Field(None, ge=1, description="Return events older than this sequence number.")
    limit: int = Field(100, ge=1, le=500)
    user_id: uuid.UUID | None = None
    kind: EventKind | None = None


class SecurityEventOut(BaseModel):
    sequence: int
    event_id: uuid.UUID
    occurred_at: dt.datetime
    kind: str
    outcome: str
    reason: str | None
    user_id: uuid.UUID | None
    device_id: uuid.UUID | None
    session_id: uuid.UUID | None
    actor_id: uuid.UUID | None
    source: str
    client_address: str | None


class SecurityEventsOut(BaseModel):
    events: list[SecurityEventOut]


def _http(error: AccountError) -> HTTPError:
    return HTTPError(error.status, error.code, error.message)


def _actor(request: Request, principal: Principal) -> Actor:
    return Actor(principal.user_id, Source.API, request.client[0] if request.client else None)


def _not_self(principal: Principal, user_id: uuid.UUID) -> None:
    if principal.user_id == user_id:
        raise HTTPError(
            409, "cannot_change_self", "Ask another administrator to do this to your own account."
        )


def admin_routes(router: Router, context: AuthContext) -> None:
    database = context.database
    enrollment_lifetime = context.policy.enrollment_lifetime

    @router.get(
        f"{PREFIX}/users",
        access=Requires(Permission.USERS_READ),
        summary="Staff accounts, optionally of one branch or state.",
        tags=TAGS,
        query=UsersQuery,
    )
    async def admin_list_users(request: Request) -> UsersOut:
        query = request.query_as(UsersQuery)
        async with database.transaction() as connection:
            found = await accounts.list_accounts(connection, branch_id=query.branch_id, active=query.active)
        return UsersOut(users=[UserOut.of(account) for account in found])

    @router.post(
        f"{PREFIX}/users",
        access=Requires(Permission.USERS_MANAGE),
        summary="Create a staff account; answers its one-time enrollment code.",
        tags=TAGS,
        status=201,
        errors=[409],
    )
    async def admin_create_user(request: Request, body: CreateUserIn) -> EnrollmentCodeOut:
        actor = _actor(request, principal_of(request))
        try:
            async with database.transaction(write=True) as connection:
                account, code = await accounts.create_account(
                    connection,
                    username=body.username,
                    display_name=body.display_name,
                    branch_id=body.branch_id,
                    roles=[role.value for role in body.roles],
                    enrollment_lifetime=enrollment_lifetime,
                    actor=actor,
                    now=context.clock(),
                )
        except AccountError as error:
            raise _http(error) from None
        return EnrollmentCodeOut(
            user=UserOut.of(account), enrollment_code=code.code, enrollment_code_expires_at=code.expires_at
        )

    @router.get(
        f"{PREFIX}/users/{{user_id:uuid}}",
        access=Requires(Permission.USERS_READ),
        summary="One staff account.",
        tags=TAGS,
    )
    async def admin_get_user(request: Request) -> UserOut:
        try:
            async with database.transaction() as connection:
                account = await accounts.require_account(connection, request.path_params["user_id"])
        except AccountError as error:
            raise _http(error) from None
        return UserOut.of(account)

    async def _set_active(request: Request, active: bool) -> UserOut:
        principal = principal_of(request)
        user_id = request.path_params["user_id"]
        _not_self(principal, user_id)
        try:
            async with database.transaction(write=True) as connection:
                account = await accounts.set_active(
                    connection, user_id, active, actor=_actor(request, principal), now=context.clock()
                )
        except AccountError as error:
            raise _http(error) from None
        return UserOut.of(account)

    @router.post(
        f"{PREFIX}/users/{{user_id:uuid}}/disable",
        access=Requires(Permission.USERS_MANAGE),
        summary="Disable an account: its sessions and access tokens stop working at once.",
        tags=TAGS,
        errors=[409],
    )
    async def admin_disable_user(request: Request) -> UserOut:
        return await _set_active(request, False)

    @router.post(
        f"{PREFIX}/users/{{user_id:uuid}}/enable",
        access=Requires(Permission.USERS_MANAGE),
        summary="Enable a disabled account.",
        tags=TAGS,
        errors=[409],
    )
    async def admin_enable_user(request: Request) -> UserOut:
        return await _set_active(request, True)

    @router.post(
        f"{PREFIX}/users/{{user_id:uuid}}/reset-mfa",
        access=Requires(Permission.MFA_RESET),
        summary="Reset a user's password and MFA; answers a new enrollment code.",
        tags=TAGS,
        errors=[409],
    )
    async def admin_reset_mfa(request: Request) -> EnrollmentCodeOut:
        principal = principal_of(request)
        user_id = request.path_params["user_id"]
        _not_self(principal, user_id)
        try:
            async with database.transaction(write=True) as connection:
                code = await accounts.reset_mfa(
                    connection,
                    user_id,
                    enrollment_lifetime=enrollment_lifetime,
                    actor=_actor(request, principal),
                    now=context.clock(),
                )
                account = await accounts.require_account(connection, user_id)
        except AccountError as error:
            raise _http(error) from None
        return EnrollmentCodeOut(
            user=UserOut.of(account), enrollment_code=code.code, enrollment_code_expires_at=code.expires_at
        )

    @router.get(
        f"{PREFIX}/devices",
        access=Requires(Permission.DEVICES_READ),
        summary="Enrolled devices, optionally of one user.",
        tags=TAGS,
        query=DevicesQuery,
    )
    async def admin_list_devices(request: Request) -> DevicesOut:
        query = request.query_as(DevicesQuery)
        async with database.transaction() as connection:
            found = await list_devices(connection, query.user_id)
        return DevicesOut(devices=[DeviceOut.of(device) for device in found])

    @router.post(
        f"{PREFIX}/devices/{{device_id:uuid}}/revoke",
        access=Requires(Permission.DEVICES_MANAGE),
        summary="Revoke a device: its sessions end and it is told to wipe itself.",
        tags=TAGS,
    )
    async def admin_revoke_device(request: Request) -> DeviceOut:
        principal = principal_of(request)
        device_id = request.path_params["device_id"]
        now = context.clock()
        async with database.transaction(write=True) as connection:
            device = await get_device(connection, device_id)
            if device is None:
                raise HTTPError(404, "device_not_found", "No such device.")
            if await revoke_device(connection, device_id, actor_id=principal.user_id, now=now):
                await record(
                    connection,
                    SecurityEvent(
                        EventKind.DEVICE_REVOKED,
                        user_id=device.user_id,
                        device_id=device_id,
                        actor_id=principal.user_id,
                        client_address=request.client[0] if request.client else None,
                    ),
                    now,
                )
            device = await get_device(connection, device_id)
        assert device is not None
        return DeviceOut.of(device)

    @router.get(
        f"{PREFIX}/branches",
        access=Requires(Permission.BRANCHES_READ),
        summary="All branches.",
        tags=TAGS,
    )
    async def admin_list_branches(request: Request) -> BranchesOut:
        async with database.transaction() as connection:
            found = await accounts.list_branches(connection)
        return BranchesOut(branches=[BranchOut.of(branch) for branch in found])

    @router.post(
        f"{PREFIX}/branches",
        access=Requires(Permission.BRANCHES_MANAGE),
        summary="Create a branch.",
        tags=TAGS,
        status=201,
        errors=[409],
    )
    async def admin_create_branch(request: Request, body: BranchIn) -> BranchOut:
        actor = _actor(request, principal_of(request))
        try:
            async with database.transaction(write=True) as connection:
                branch = await accounts.create_branch(
                    connection,
                    code=body.code,
                    name=body.name,
                    region=body.region,
                    actor=actor,
                    now=context.clock(),
                )
        except AccountError as error:
            raise _http(error) from None
        return BranchOut.of(branch)

    @router.get(
        f"{PREFIX}/roles",
        access=Requires(Permission.ROLES_READ),
        summary="The roles and the permissions each holds.",
        tags=TAGS,
    )
    async def admin_list_roles(request: Request) -> RolesOut:
        return RolesOut(
            roles=[
                RoleOut(
                    name=role.value,
                    permissions=[
                        PermissionOut(name=permission.value, description=rule.description)
                        for permission, rule in RULES.items()
                        if role in rule.roles
                    ],
                )
                for role in Role
            ]
        )

    @router.get(
        "/api/v1/security-events",
        access=Requires(Permission.SECURITY_EVENTS_READ),
        summary="Security events, newest first.",
        tags=["security"],
        query=SecurityEventsQuery,
    )
    async def security_events_list(request: Request) -> SecurityEventsOut:
        query = request.query_as(SecurityEventsQuery)
        async with database.transaction() as connection:
            rows = await recent(
                connection,
                limit=query.limit,
                before=query.before,
                user_id=query.user_id,
                kind=query.kind.value if query.kind else None,
            )
        return SecurityEventsOut(
            events=[
                SecurityEventOut(
                    sequence=row.id,
                    event_id=row.event_id,
                    occurred_at=row.occurred_at,
                    kind=row.kind,
                    outcome=row.outcome,
                    reason=row.reason,
                    user_id=row.user_id,
                    device_id=row.device_id,
                    session_id=row.session_id,
                    actor_id=row.actor_id,
                    source=row.source,
                    client_address=row.client_address,
                )
                for row in rows
            ]
        )
