"""When the console may open a vault without the server: within the period the server
announced at the last online sign-in, counted on this computer's clock from the time of that
sign-in, and only if the clock has not been set back behind the vault's last use."""

from __future__ import annotations

import datetime as dt

from console.errors import ConsoleError
from console.ui.format import utc_timestamp
from console.vault.records import OnlineSignIn

CLOCK_TOLERANCE = dt.timedelta(minutes=5)


class OfflineUnlockRefused(ConsoleError):
    """The vault may not be opened without the server now; the message says why."""


def offline_unlock_until(record: OnlineSignIn | None, now: dt.datetime) -> dt.datetime:
    """The end of the offline period, if ``now`` is within it; else :class:`OfflineUnlockRefused`."""
    if record is None:
        raise OfflineUnlockRefused(
            "This computer has no record of an online sign-in for this user, so it cannot be "
            "unlocked without the server. Sign in when the server can be reached."
        )
    if now + CLOCK_TOLERANCE < record.last_used_at:
        raise OfflineUnlockRefused(
            "This computer's clock is earlier than the last time the vault was used "
            f"({utc_timestamp(record.last_used_at)}). Correct the clock, or sign in when the "
            "server can be reached."
        )
    until = record.offline_until
    if now >= until:
        raise OfflineUnlockRefused(
            f"Offline use ended at {utc_timestamp(until)}: the server allows {record.offline_unlock_hours} "
            "hours without an online sign-in. Sign in when the server can be reached."
        )
    return until
