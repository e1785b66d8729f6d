"""Staff passwords: Argon2id hashing in PHC strings, and the policy a new password must meet.

Hashing runs in worker threads (argon2 releases the GIL) behind a semaphore, so sign-ins
neither block the event loop nor take unbounded memory when many arrive at once."""

from __future__ import annotations

import asyncio
import functools
import os
import secrets
import unicodedata
from dataclasses import dataclass
from importlib import resources
from typing import Protocol

from argon2 import PasswordHasher as _Argon2
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from server.config import Settings

MIN_LENGTH = 12
MAX_LENGTH = 128


def normalise_password(password: str) -> str:
    """Passwords are compared as NFC so that the same characters typed on different keyboards
    (composed or decomposed accents) are the same password."""
    return unicodedata.normalize("NFC", password)


@dataclass(frozen=True)
class Argon2Parameters:
    """Argon2id costs.  The defaults are RFC 9106's second recommended option (t=3, 64 MiB,
    p=4), above OWASP's server minimum (t=2, 19 MiB, p=1), which settings may not go below."""

    memory_kib: int = 65536
    time_cost: int = 3
    parallelism: int = 4

    @classmethod
    def from_settings(cls, settings: Settings) -> Argon2Parameters:
        return cls(settings.argon2_memory_kib, settings.argon2_time_cost, settings.argon2_parallelism)


class PasswordHasher(Protocol):
    """What the sign-in code needs from a password hasher; tests wrap one to count calls."""

    @property
    def dummy_hash(self) -> str:
        """A hash of a random secret under the current parameters, verified in place of a real
        hash when the user does not exist or has no password, so that the work is the same."""
        ...

    async def hash(self, password: str) -> str: ...

    async def verify(self, stored_hash: str, password: str) -> bool: ...

    def needs_rehash(self, stored_hash: str) -> bool: ...


class Argon2Hasher:
    def __init__(self, parameters: Argon2Parameters, *, concurrency: int | None = None) -> None:
        self.parameters = parameters
        self._argon2 = _Argon2(
            time_cost=parameters.time_cost,
            memory_cost=parameters.memory_kib,
            parallelism=parameters.parallelism,
            hash_len=32,
            salt_len=16,
            type=Type.ID,
        )
        self._slots = asyncio.Semaphore(concurrency or max(2, os.cpu_count() or 2))
        self._dummy = self._argon2.hash(secrets.token_urlsafe(32))

    @property
    def dummy_hash(self) -> str:
        return self._dummy

    def hash_now(self, password: str) -> str:
        """Blocking form for the command line."""
        return self._argon2.hash(normalise_password(password))

    async def hash(self, password: str) -> str:
        async with self._slots:
            return await asyncio.to_thread(self.hash_now, password)

    def _verify(self, stored_hash: str, password: str) -> bool:
        try:
            return self._argon2.verify(stored_hash, normalise_password(password))
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    async def verify(self, stored_hash: str, password: str) -> bool:
        async with self._slots:
            return await asyncio.to_thread(self._verify, stored_hash, password)

    def needs_rehash(self, stored_hash: str) -> bool:
        try:
            return self._argon2.check_needs_rehash(stored_hash)
        except InvalidHashError:
            return True


# --- Policy ------------------------------------------------------------------------------


@functools.cache
def common_passwords() -> frozenset[str]:
    """The bundled list of common passwords, case-folded."""
    text = resources.files("resources").joinpath("common-passwords.txt").read_text("utf-8")
    return frozenset(
        line.strip().casefold() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


PASSWORD_RULES = {
    "too_short": f"Use at least {MIN_LENGTH} characters.",
    "too_long": f"Use at most {MAX_LENGTH} characters.",
    "common": "This password is on the list of common passwords; choose another.",
    "contains_username": "The password must not contain the username.",
}


def password_problems(password: str, username: str) -> list[str]:
    """The rule codes (keys of :data:`PASSWORD_RULES`) a proposed password breaks."""
    normalised = normalise_password(password)
    problems = []
    if len(normalised) < MIN_LENGTH:
        problems.append("too_short")
    if len(normalised) > MAX_LENGTH:
        problems.append("too_long")
    folded = normalised.casefold()
    if folded in common_passwords():
        problems.append("common")
    if username and username.casefold() in folded:
        problems.append("contains_username")
    return problems
