"""Sign-in throttling, shared by every server instance through the database.

Two counters guard each attempt: one for the username as typed (whether or not such a user
exists, so the answers cannot tell them apart) and one for the client address.  An attempt
is charged as a failure *before* the password is checked, in a transaction that locks the
counters, so concurrent guesses cannot slip past the limits; a successful sign-in then
clears the username's counter.

Per username: failures past the first few wait an exponentially growing delay; after
``lockout_failures`` in a row the username is locked for ``lockout_minutes``; never more than
``max_failures_per_hour`` failures in an hour.  Per address: failures in an hour past
``address_free_failures`` wait a growing delay (no lockout, so one attacker cannot lock out a
whole branch behind one address)."""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, case, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from server.auth.dbutil import insert_if_absent
from server.auth.tables import auth_throttle
from server.config import Settings

USERNAME = "username"
ADDRESS = "address"
HOUR = dt.timedelta(hours=1)
FORGET_AFTER = dt.timedelta(days=1)
ACCOUNT_FREE_FAILURES = 3
MAX_DELAY = dt.timedelta(seconds=60)


@dataclass(frozen=True)
class ThrottlePolicy:
    free_failures: int
    max_delay: dt.timedelta
    lock_after: int | None = None
    lock_for: dt.timedelta = dt.timedelta(0)
    hourly_cap: int | None = None
    counts_per_hour: bool = False
    """Whether the failure count restarts every hour (addresses) or only on success (usernames)."""

    def delay_after(self, failures: int) -> dt.timedelta:
        if failures < self.free_failures:
            return dt.timedelta(0)
        return min(dt.timedelta(seconds=2 ** min(failures - self.free_failures, 16)), self.max_delay)

    @classmethod
    def for_usernames(cls, settings: Settings) -> ThrottlePolicy:
        return cls(
            free_failures=ACCOUNT_FREE_FAILURES,
            max_delay=MAX_DELAY,
            lock_after=settings.lockout_failures,
            lock_for=dt.timedelta(minutes=settings.lockout_minutes),
            hourly_cap=settings.max_failures_per_hour,
        )

    @classmethod
    def for_addresses(cls, settings: Settings) -> ThrottlePolicy:
        return cls(free_failures=settings.address_free_failures, max_delay=MAX_DELAY, counts_per_hour=True)


@dataclass(frozen=True)
class ThrottleKey:
    scope: str
    key_hash: str

    @classmethod
    def of(cls, scope: str, value: str) -> ThrottleKey:
        digest = hashlib.sha256(f"kluis/throttle/v1\x00{scope}\x00{value}".encode()).hexdigest()
        return cls(scope, digest)

    @classmethod
    def username(cls, username: str) -> ThrottleKey:
        return cls.of(USERNAME, username.strip().casefold())

    @classmethod
    def address(cls, address: str | None) -> ThrottleKey:
        return cls.of(ADDRESS, address or "unknown")


class ThrottleRefused(Exception):
    """Not now: try again in ``retry_after`` seconds."""

    def __init__(self, retry_after: int, locked: bool) -> None:
        super().__init__(f"retry after {retry_after} s")
        self.retry_after = retry_after
        self.locked = locked


@dataclass(frozen=True)
class Charge:
    """The attempt, provisionally counted as a failure: what happens if it does fail."""

    key: ThrottleKey
    failures: int
    locks: bool


def _seconds_until(moment: dt.datetime, now: dt.datetime) -> int:
    return max(1, math.ceil((moment - now).total_seconds()))


async def charge_attempt(
    connection: AsyncConnection, guards: Sequence[tuple[ThrottleKey, ThrottlePolicy]], now: dt.datetime
) -> list[Charge]:
    """Refuse (``ThrottleRefused``) if any guard says wait; otherwise count the attempt as a
    failure on every guard.  Call inside a write transaction."""
    await connection.execute(
        delete(auth_throttle).where(
            auth_throttle.c.updated_at < now - FORGET_AFTER,
            or_(auth_throttle.c.locked_until.is_(None), auth_throttle.c.locked_until < now),
        )
    )
    ordered = sorted(guards, key=lambda guard: (guard[0].scope, guard[0].key_hash))
    states = []
    refusals: list[ThrottleRefused] = []
    for key, policy in ordered:
        await insert_if_absent(
            connection,
            auth_throttle,
            {
                "scope": key.scope,
                "key_hash": key.key_hash,
                "failures": 0,
                "hour_started_at": now,
                "hour_failures": 0,
                "updated_at": now,
            },
        )
        row = (
            await connection.execute(
                select(auth_throttle)
                .where(auth_throttle.c.scope == key.scope, auth_throttle.c.key_hash == key.key_hash)
                .with_for_update()
            )
        ).one()
        failures, hour_started, hour_failures = row.failures, row.hour_started_at, row.hour_failures
        locked_until, next_attempt = row.locked_until, row.next_attempt_at
        if locked_until is not None and locked_until <= now:
            failures, locked_until, next_attempt = 0, None, None
        if hour_started + HOUR <= now:
            hour_started, hour_failures = now, 0
            if policy.counts_per_hour:
                failures, next_attempt = 0, None
        if locked_until is not None:
            refusals.append(ThrottleRefused(_seconds_until(locked_until, now), locked=True))
        elif policy.hourly_cap is not None and hour_failures >= policy.hourly_cap:
            refusals.append(ThrottleRefused(_seconds_until(hour_started + HOUR, now), locked=True))
        elif next_attempt is not None and next_attempt > now:
            refusals.append(ThrottleRefused(_seconds_until(next_attempt, now), locked=False))
        states.append((key, policy, failures, hour_started, hour_failures))
    if refusals:
        raise max(refusals, key=lambda refusal: (refusal.locked, refusal.retry_after))
    charges = []
    for key, policy, failures, hour_started, hour_failures in states:
        failures += 1
        locks = policy.lock_after is not None and failures >= policy.lock_after
        await connection.execute(
            update(auth_throttle)
            .where(auth_throttle.c.scope == key.scope, auth_throttle.c.key_hash == key.key_hash)
            .values(
                failures=failures,
                hour_started_at=hour_started,
                hour_failures=hour_failures + 1,
                next_attempt_at=now + delay if (delay := policy.delay_after(failures)) else None,
                locked_until=now + policy.lock_for if locks else None,
                updated_at=now,
            )
        )
        charges.append(Charge(key, failures, locks))
    return charges


async def record_success(
    connection: AsyncConnection, charge: Charge, policy: ThrottlePolicy, now: dt.datetime
) -> None:
    """The charged attempt succeeded: it is no longer a failure.  A username starts afresh;
    an address keeps its other failures for the hour, so signing in with one account cannot
    wipe the record of guesses at others."""
    key = charge.key
    where = and_(auth_throttle.c.scope == key.scope, auth_throttle.c.key_hash == key.key_hash)
    hour_failures = case((auth_throttle.c.hour_failures > 0, auth_throttle.c.hour_failures - 1), else_=0)
    values: dict[str, Any]
    if policy.counts_per_hour:
        failures = case((auth_throttle.c.failures > 0, auth_throttle.c.failures - 1), else_=0)
        values = {"failures": failures, "hour_failures": hour_failures, "updated_at": now}
    else:
        values = {
            "failures": 0,
            "hour_failures": hour_failures,
            "next_attempt_at": None,
            "locked_until": None,
            "updated_at": now,
        }
    await connection.execute(update(auth_throttle).where(where).values(values))
