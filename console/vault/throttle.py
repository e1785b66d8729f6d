"""Local throttling of wrong vault passwords, with delays that grow with each failure.

The failures are counted in ``unlock-failures.json`` beside the vault: they must be written
while the vault is still locked, so they cannot live inside it.  The file holds only times.
The next successful unlock hands the failures over to be recorded as audit events and
clears them.  Deleting the file resets the count; someone able to do that can also copy the
files and guess offline, which only the Argon2id cost of every guess slows down."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from console.files import write_atomically
from console.vault.errors import UnlockThrottled

THROTTLE_FILE = "unlock-failures.json"
THROTTLE_FORMAT = "kluis-console-unlock-failures"
FREE_FAILURES = 2
FIRST_DELAY_SECONDS = 5
MAX_DELAY_SECONDS = 15 * 60
KEPT_FAILURES = 100


def delay_after(failures: int) -> int:
    """Seconds to wait after ``failures`` wrong passwords in a row: none for the first two,
    then 5 s, doubling up to 15 minutes."""
    if failures <= FREE_FAILURES:
        return 0
    return int(min(MAX_DELAY_SECONDS, FIRST_DELAY_SECONDS * 2 ** (failures - FREE_FAILURES - 1)))


class UnlockThrottle:
    def __init__(self, directory: Path, clock: Callable[[], dt.datetime]) -> None:
        self.path = directory / THROTTLE_FILE
        self._clock = clock

    def failures(self) -> list[dt.datetime]:
        try:
            document: Any = json.loads(self.path.read_bytes())
            return [dt.datetime.fromisoformat(moment).astimezone(dt.UTC) for moment in document["failures"]]
        except FileNotFoundError:
            return []
        except (OSError, ValueError, TypeError, KeyError):
            return []  # an unreadable record counts as none; the next failure rewrites it

    def check(self) -> None:
        """Raise :class:`UnlockThrottled` while the delay after the last failure runs."""
        failures = self.failures()
        delay = delay_after(len(failures))
        if not delay:
            return
        waited = (self._clock() - failures[-1]).total_seconds()
        if waited < delay:
            # A clock set back does not make anyone wait longer than the delay itself.
            raise UnlockThrottled(max(1, min(delay, math.ceil(delay - waited))))

    def failed(self) -> None:
        failures = [*self.failures(), self._clock()][-KEPT_FAILURES:]
        self._write(failures)

    def succeeded(self) -> list[dt.datetime]:
        """Clear the count; returns the failures since the last success."""
        failures = self.failures()
        if failures:
            self.path.unlink(missing_ok=True)
        return failures

    def _write(self, failures: list[dt.datetime]) -> None:
        document = {
            "format": THROTTLE_FORMAT,
            "version": 1,
            "failures": [moment.astimezone(dt.UTC).isoformat() for moment in failures],
        }
        if self.path.parent.exists():
            write_atomically(self.path, json.dumps(document).encode() + b"\n")
