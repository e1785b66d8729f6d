"""Console test helpers: in-memory keyring backends registered through keyring's own API,
cheap Argon2id parameters for vaults, and staff accounts created with an enrollment code."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

import keyring
from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError

from server.auth.accounts import Actor, branch_by_code, create_account, create_branch
from server.config import Settings
from server.db.engine import Database
from shared.crypto import KdfParams

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
