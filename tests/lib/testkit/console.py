"""Console test helpers: in-memory keyring backends registered through keyring's own API,
cheap Argon2id parameters for vaults, and staff accounts created with an enrollment code."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import keyring
from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError
from PySide6.QtWidgets import QLabel, QLineEdit, QWidget

from console.app import Console
from console.net.client import ServerClient
from console.net.trust import load_trust_anchor
from console.profile import ProfileData
from server.auth import accounts, devices
from server.auth.accounts import Actor, branch_by_code, create_account, create_branch
from server.auth.keystore import ServerKeys
from server.auth.tokens import TokenCodec
from server.config import Settings
from server.db.engine import Database
from server.db.migrate import upgrade_to_head
from shared.crypto import KdfParams
from testkit.auth import FAST_ARGON2
from testkit.servers import RunningServer, server_settings

T = TypeVar("T")

FAST_KDF = KdfParams(time_cost=2, memory_cost=19456, parallelism=1)
"""OWASP's minimum Argon2id cost (the lowest a vault key file accepts): quick for tests."""


class MemoryKeyring(KeyringBackend):
    """A keyring that keeps entries in a dict.  Its negative priority keeps keyring from ever
    choosing it on its own; tests install it with :func:`installed_keyring`."""

    priority = -1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.entries.pop((service, username), None) is None:
            raise PasswordDeleteError("no such entry")


class OtherMemoryKeyring(MemoryKeyring):
    """A second backend, to stand for a keyring other than the one that stored a key."""


@contextmanager
def installed_keyring(backend: KeyringBackend) -> Iterator[KeyringBackend]:
    """Make ``backend`` the keyring (``keyring.set_keyring``), restoring the previous one."""
    previous = keyring.get_keyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)


async def _create_pending_account(
    settings: Settings, username: str, roles: tuple[str, ...], branch_code: str
) -> str:
    database = Database(settings.effective_database_url())
    now = dt.datetime.now(dt.UTC)
    try:
        async with database.transaction(write=True) as connection:
            branch = await branch_by_code(connection, branch_code)
            if branch is None:
                branch = await create_branch(
                    connection,
                    code=branch_code,
                    name=f"Branch {branch_code}",
                    region="Gauteng",
                    actor=Actor.cli(),
                    now=now,
                )
            _, code = await create_account(
                connection,
                username=username,
                display_name=f"{username.title()} (test)",
                branch_id=branch.id,
                roles=list(roles),
                enrollment_lifetime=dt.timedelta(hours=72),
                actor=Actor.cli(),
                now=now,
            )
    finally:
        await database.dispose()
    return code.code


def create_pending_account(
    settings: Settings, username: str, roles: tuple[str, ...] = ("teller",), *, branch_code: str = "JHB01"
) -> str:
    """A new account as an administrator makes one: no password, no MFA, and a one-time
    enrollment code, which is returned."""
    return asyncio.run(_create_pending_account(settings, username, roles, branch_code))


def start_auth_server(data_dir: Path, **overrides: Any) -> RunningServer:
    """A real server on SQLite with quick (still real) Argon2id for staff passwords."""
    data_dir.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{data_dir / 'kluis.db'}"
    upgrade_to_head(url)
    return RunningServer(server_settings(data_dir, url, shutdown_grace=1.0, **{**FAST_ARGON2, **overrides}))


async def _with_database(settings: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
    database = Database(settings.effective_database_url())
    try:
        return await work(database)
    finally:
        await database.dispose()


def revoke_device(settings: Settings, device_id: uuid.UUID) -> None:
    """What ``kluis-server admin revoke-device`` does."""

    async def work(database: Database) -> None:
        async with database.transaction(write=True) as connection:
            assert await devices.revoke_device(
                connection, device_id, actor_id=None, now=dt.datetime.now(dt.UTC)
            )

    asyncio.run(_with_database(settings, work))


def set_active(settings: Settings, user_id: uuid.UUID, active: bool) -> None:
    """What ``kluis-server admin disable`` / ``enable`` does."""

    async def work(database: Database) -> None:
        async with database.transaction(write=True) as connection:
            await accounts.set_active(
                connection, user_id, active, actor=Actor.cli(), now=dt.datetime.now(dt.UTC)
            )

    asyncio.run(_with_database(settings, work))


def device_count(settings: Settings, user_id: uuid.UUID) -> int:
    async def work(database: Database) -> int:
        async with database.transaction() as connection:
            return len(await devices.list_devices(connection, user_id))

    return asyncio.run(_with_database(settings, work))


def expired_access_token(
    settings: Settings,
    *,
    user_id: uuid.UUID,
    session_id: uuid.UUID,
    device_id: uuid.UUID,
    branch_id: uuid.UUID,
    roles: tuple[str, ...],
) -> str:
    """A genuine access token for the session, signed with the server's key, that expired an
    hour ago: the server answers it with 401 ``token_expired``."""
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    codec = TokenCodec(
        ServerKeys.load(settings).token,
        issuer=settings.token_issuer,
        audience=settings.token_audience,
        access_lifetime=dt.timedelta(seconds=settings.access_token_seconds),
        clock=lambda: past,
    )
    issued = codec.issue_access(
        user_id=user_id,
        session_id=session_id,
        device_id=device_id,
        branch_id=branch_id,
        roles=roles,
        user_epoch=0,
        device_epoch=0,
    )
    return issued.token


class RecordingClient(ServerClient):
    """The shell's client, noting each request's method, path and answer status."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sent: list[tuple[str, str, int]] = []

    async def send(self, method: str, path: str, **options: Any) -> httpx.Response:
        response = await super().send(method, path, **options)
        self.sent.append((method, path, response.status_code))
        return response

    def paths(self) -> list[str]:
        return [path for _, path, _ in self.sent]


class Clock:
    """A settable UTC clock; until set it follows the real one."""

    def __init__(self) -> None:
        self.now: dt.datetime | None = None

    def __call__(self) -> dt.datetime:
        return self.now or dt.datetime.now(dt.UTC)

    def set(self, moment: dt.datetime) -> None:
        self.now = moment


class Monotonic:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.value = 1000.0

    def __call__(self) -> float:
        return self.value


def console_for(
    loop: Any, server: RunningServer, profile_dir: Path, unexpected: list[BaseException], **options: Any
) -> Console:
    """A console with a profile (so with sign-in) for ``server``, quick vault KDF and checks."""
    trust = load_trust_anchor(server.ca_file)
    profile = ProfileData(ca_file=trust.ca_file, ca_fingerprint=trust.fingerprint, servers=(server.base_url,))
    profile_dir.mkdir(parents=True, exist_ok=True)
    options.setdefault("heartbeat", 0.2)
    options.setdefault("refresh", 30.0)
    options.setdefault("vault_kdf", FAST_KDF)
    return Console(
        loop,
        [server.base_url],
        trust,
        unexpected=unexpected.append,
        profile=(profile_dir, profile),
        **options,
    )


def shown_texts(root: QWidget) -> list[str]:
    """The text of every label and line edit under ``root``."""
    texts = [label.text() for label in root.findChildren(QLabel)]
    texts += [edit.text() for edit in root.findChildren(QLineEdit)]
    return texts
