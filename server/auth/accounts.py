"""Branches and staff accounts: create, list, disable, enable, reset MFA.  Used alike by the
admin API and by ``kluis-server bootstrap`` / ``admin`` / ``demo-data``.

A new account never gets a password from an administrator: it gets a one-time enrollment
code, with which its owner sets a password and enrolls TOTP.  Every change here is recorded
as a security event in the caller's transaction."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, Select, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from server.auth.codes import enrollment_code_hash, new_enrollment_code
from server.auth.dbutil import insert_if_absent
from server.auth.permissions import Role
from server.auth.security_events import EventKind, SecurityEvent, Source, record
from server.auth.sessions import RevokeReason, revoke_user_sessions
from server.auth.tables import branches, enrollment_codes, recovery_codes, user_roles, users

USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,62}[a-z0-9]")
BRANCH_CODE = re.compile(r"[A-Z0-9][A-Z0-9-]{0,15}")
NEW_ACCOUNT = "new_account"
MFA_RESET = "mfa_reset"


class AccountError(Exception):
    """A request about accounts cannot be carried out; ``code`` and ``status`` are what the
    API answers, the message is safe to show."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Branch:
    id: uuid.UUID
    code: str
    name: str
    region: str


@dataclass(frozen=True)
class Account:
    id: uuid.UUID
    username: str
    display_name: str
    branch: Branch
    roles: tuple[str, ...]
    active: bool
    mfa_enrolled: bool
    enrollment_pending: bool
    created_at: dt.datetime
    disabled_at: dt.datetime | None
    token_epoch: int


@dataclass(frozen=True)
class EnrollmentCode:
    code: str
    expires_at: dt.datetime


@dataclass(frozen=True)
class Actor:
    """Who makes a change: a signed-in administrator (API) or the operator (command line)."""

    user_id: uuid.UUID | None
    source: Source
    client_address: str | None = None

    @classmethod
    def cli(cls) -> Actor:
        return cls(None, Source.CLI)


def normalise_username(username: str) -> str:
    return username.strip().lower()


def _clean_text(value: str, field: str, limit: int) -> str:
    value = " ".join(value.split())
    if not value or len(value) > limit or not value.isprintable():
        raise AccountError(
            422, f"invalid_{field}", f"The {field.replace('_', ' ')} must be 1 to {limit} characters."
        )
    return value


def validate_username(username: str) -> str:
    username = normalise_username(username)
    if not USERNAME.fullmatch(username):
        raise AccountError(
            422,
            "invalid_username",
            "A username is 3 to 64 characters: lower-case letters, digits, '.', '_' or '-', "
            "starting and ending with a letter or digit.",
        )
    return username


def validate_roles(roles: Iterable[str]) -> tuple[str, ...]:
    chosen = sorted(set(roles))
    if not chosen:
        raise AccountError(422, "invalid_role", "Give the account at least one role.")
    known = {role.value for role in Role}
    unknown = [role for role in chosen if role not in known]
    if unknown:
        raise AccountError(422, "invalid_role", f"Unknown role; the roles are {', '.join(sorted(known))}.")
    return tuple(chosen)


# --- Branches -----------------------------------------------------------------------------


def _branch(row: Row[tuple[object, ...]]) -> Branch:
    mapping = row._mapping
    return Branch(id=mapping["id"], code=mapping["code"], name=mapping["name"], region=mapping["region"])


async def create_branch(
    connection: AsyncConnection, *, code: str, name: str, region: str, actor: Actor, now: dt.datetime
) -> Branch:
    code = code.strip().upper()
    if not BRANCH_CODE.fullmatch(code):
        raise AccountError(
            422, "invalid_branch_code", "A branch code is 1 to 16 upper-case letters, digits or '-'."
        )
    branch = Branch(
        uuid.uuid4(), code, _clean_text(name, "branch_name", 100), _clean_text(region, "region", 100)
    )
    inserted = await insert_if_absent(
        connection,
        branches,
        {"id": branch.id, "code": code, "name": branch.name, "region": branch.region, "created_at": now},
    )
    if not inserted:
        raise AccountError(409, "branch_code_taken", "A branch with that code exists.")
    await record(
        connection,
        SecurityEvent(
            EventKind.BRANCH_CREATED,
            actor_id=actor.user_id,
            source=actor.source,
            client_address=actor.client_address,
        ),
        now,
    )
    return branch


async def list_branches(connection: AsyncConnection) -> list[Branch]:
    rows = (await connection.execute(select(branches).order_by(branches.c.code))).all()
    return [_branch(row) for row in rows]


async def branch_by_code(connection: AsyncConnection, code: str) -> Branch | None:
    row = (await connection.execute(select(branches).where(branches.c.code == code.strip().upper()))).first()
    return _branch(row) if row is not None else None


async def branch_by_id(connection: AsyncConnection, branch_id: uuid.UUID) -> Branch | None:
    row = (await connection.execute(select(branches).where(branches.c.id == branch_id))).first()
    return _branch(row) if row is not None else None


# --- Accounts -----------------------------------------------------------------------------

_ACCOUNT_COLUMNS = (
    users.c.id,
    users.c.username,
    users.c.display_name,
    users.c.active,
    users.c.totp_secret.is_not(None).label("mfa_enrolled"),
    users.c.created_at,
    users.c.disabled_at,
    users.c.token_epoch,
    branches.c.id.label("branch_id"),
    branches.c.code.label("branch_code"),
    branches.c.name.label("branch_name"),
    branches.c.region.label("branch_region"),
    enrollment_codes.c.user_id.is_not(None).label("enrollment_pending"),
)


def _accounts_query() -> Select[Any]:
    return (
        select(*_ACCOUNT_COLUMNS)
        .select_from(
            users.join(branches, branches.c.id == users.c.branch_id).outerjoin(
                enrollment_codes, enrollment_codes.c.user_id == users.c.id
            )
        )
        .order_by(users.c.username)
    )


async def _roles(connection: AsyncConnection, user_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
    found: dict[uuid.UUID, list[str]] = defaultdict(list)
    if not user_ids:
        return found
    rows = await connection.execute(
        select(user_roles.c.user_id, user_roles.c.role)
        .where(user_roles.c.user_id.in_(user_ids))
        .order_by(user_roles.c.role)
    )
    for user_id, role in rows.all():
        found[user_id].append(role)
    return found


def _account(row: Row[tuple[object, ...]], roles: list[str]) -> Account:
    mapping = row._mapping
    return Account(
        id=mapping["id"],
        username=mapping["username"],
        display_name=mapping["display_name"],
        branch=Branch(
            mapping["branch_id"], mapping["branch_code"], mapping["branch_name"], mapping["branch_region"]
        ),
        roles=tuple(roles),
        active=mapping["active"],
        mfa_enrolled=bool(mapping["mfa_enrolled"]),
        enrollment_pending=bool(mapping["enrollment_pending"]),
        created_at=mapping["created_at"],
        disabled_at=mapping["disabled_at"],
        token_epoch=mapping["token_epoch"],
    )


async def list_accounts(
    connection: AsyncConnection, *, branch_id: uuid.UUID | None = None, active: bool | None = None
) -> list[Account]:
    query = _accounts_query()
    if branch_id is not None:
        query = query.where(users.c.branch_id == branch_id)
    if active is not None:
        query = query.where(users.c.active == active)
    rows = (await connection.execute(query)).all()
    roles = await _roles(connection, [row.id for row in rows])
    return [_account(row, roles[row.id]) for row in rows]


async def get_account(connection: AsyncConnection, user_id: uuid.UUID) -> Account | None:
    row = (await connection.execute(_accounts_query().where(users.c.id == user_id))).first()
    if row is None:
        return None
    return _account(row, (await _roles(connection, [user_id]))[user_id])


async def account_by_username(connection: AsyncConnection, username: str) -> Account | None:
    query = _accounts_query().where(users.c.username == normalise_username(username))
    row = (await connection.execute(query)).first()
    if row is None:
        return None
    return _account(row, (await _roles(connection, [row.id]))[row.id])


async def require_account(connection: AsyncConnection, user_id: uuid.UUID) -> Account:
    account = await get_account(connection, user_id)
    if account is None:
        raise AccountError(404, "user_not_found", "No such user.")
    return account


async def count_active_admins(connection: AsyncConnection) -> int:
    count = await connection.scalar(
        select(func.count())
        .select_from(users.join(user_roles, user_roles.c.user_id == users.c.id))
        .where(users.c.active.is_(True), user_roles.c.role == Role.ADMIN.value)
    )
    return int(count or 0)


async def count_admins(connection: AsyncConnection) -> int:
    count = await connection.scalar(
        select(func.count()).select_from(user_roles).where(user_roles.c.role == Role.ADMIN.value)
    )
    return int(count or 0)


async def issue_enrollment_code(
    connection: AsyncConnection,
    user_id: uuid.UUID,
    *,
    purpose: str,
    lifetime: dt.timedelta,
    actor: Actor,
    now: dt.datetime,
) -> EnrollmentCode:
    """A fresh one-time code replacing any earlier one; only its hash is kept."""
    code = new_enrollment_code()
    expires_at = now + lifetime
    await connection.execute(delete(enrollment_codes).where(enrollment_codes.c.user_id == user_id))
    await connection.execute(
        enrollment_codes.insert().values(
            user_id=user_id,
            code_hash=enrollment_code_hash(user_id, code),
            purpose=purpose,
            created_at=now,
            expires_at=expires_at,
            created_by=actor.user_id,
        )
    )
    return EnrollmentCode(code, expires_at)


async def create_account(
    connection: AsyncConnection,
    *,
    username: str,
    display_name: str,
    branch_id: uuid.UUID,
    roles: Iterable[str],
    enrollment_lifetime: dt.timedelta,
    actor: Actor,
    now: dt.datetime,
) -> tuple[Account, EnrollmentCode]:
    username = validate_username(username)
    display_name = _clean_text(display_name, "display_name", 100)
    chosen = validate_roles(roles)
    if await branch_by_id(connection, branch_id) is None:
        raise AccountError(422, "unknown_branch", "No such branch.")
    user_id = uuid.uuid4()
    inserted = await insert_if_absent(
        connection,
        users,
        {
            "id": user_id,
            "username": username,
            "display_name": display_name,
            "branch_id": branch_id,
            "active": True,
            "totp_last_step": 0,
            "token_epoch": 0,
            "created_at": now,
            "updated_at": now,
        },
    )
    if not inserted:
        raise AccountError(409, "username_taken", "That username is taken.")
    await connection.execute(user_roles.insert(), [{"user_id": user_id, "role": role} for role in chosen])
    code = await issue_enrollment_code(
        connection, user_id, purpose=NEW_ACCOUNT, lifetime=enrollment_lifetime, actor=actor, now=now
    )
    await record(
        connection,
        SecurityEvent(
            EventKind.USER_CREATED,
            user_id=user_id,
            actor_id=actor.user_id,
            source=actor.source,
            client_address=actor.client_address,
        ),
        now,
    )
    return await require_account(connection, user_id), code


async def set_active(
    connection: AsyncConnection, user_id: uuid.UUID, active: bool, *, actor: Actor, now: dt.datetime
) -> Account:
    """Enable or disable an account.  Disabling raises the user's token epoch and revokes
    every session, so the user's access tokens fail on their next request."""
    account = await require_account(connection, user_id)
    if account.active == active:
        return account
    values: dict[str, Any]
    if active:
        values = {"active": True, "disabled_at": None, "updated_at": now}
    else:
        values = {
            "active": False,
            "disabled_at": now,
            "updated_at": now,
            "token_epoch": users.c.token_epoch + 1,
        }
    await connection.execute(update(users).where(users.c.id == user_id).values(values))
    if not active:
        await revoke_user_sessions(connection, user_id, RevokeReason.USER_DISABLED, now)
    await record(
        connection,
        SecurityEvent(
            EventKind.USER_ENABLED if active else EventKind.USER_DISABLED,
            user_id=user_id,
            actor_id=actor.user_id,
            source=actor.source,
            client_address=actor.client_address,
        ),
        now,
    )
    return await require_account(connection, user_id)


async def reset_mfa(
    connection: AsyncConnection,
    user_id: uuid.UUID,
    *,
    enrollment_lifetime: dt.timedelta,
    actor: Actor,
    now: dt.datetime,
) -> EnrollmentCode:
    """Forget the user's password, TOTP secret and recovery codes, end their sessions and
    issue an enrollment code: the user enrolls again as if new."""
    await require_account(connection, user_id)
    await connection.execute(
        update(users)
        .where(users.c.id == user_id)
        .values(
            password_hash=None,
            totp_secret=None,
            totp_pending_secret=None,
            totp_last_step=0,
            mfa_enrolled_at=None,
            token_epoch=users.c.token_epoch + 1,
            updated_at=now,
        )
    )
    await connection.execute(delete(recovery_codes).where(recovery_codes.c.user_id == user_id))
    await revoke_user_sessions(connection, user_id, RevokeReason.MFA_RESET, now)
    code = await issue_enrollment_code(
        connection, user_id, purpose=MFA_RESET, lifetime=enrollment_lifetime, actor=actor, now=now
    )
    await record(
        connection,
        SecurityEvent(
            EventKind.MFA_RESET,
            user_id=user_id,
            actor_id=actor.user_id,
            source=actor.source,
            client_address=actor.client_address,
        ),
        now,
    )
    return code
