"""How the console writes times, durations and fingerprints for people."""

from __future__ import annotations

import datetime as dt

CLOCK_SKEW_WARNING = dt.timedelta(seconds=30)
IN_STEP = dt.timedelta(seconds=2)
NOT_YET = "—"


def utc_timestamp(moment: dt.datetime | None) -> str:
    if moment is None:
        return NOT_YET
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def utc_clock(moment: dt.datetime | None) -> str:
    if moment is None:
        return NOT_YET
    return moment.astimezone(dt.UTC).strftime("%H:%M:%S UTC")


def clock_skew(skew: dt.timedelta) -> str:
    seconds = skew.total_seconds()
    if abs(skew) <= IN_STEP:
        return f"{seconds:+.1f} s (in step)"
    side = "server ahead" if seconds > 0 else "server behind"
    return f"{seconds:+.1f} s ({side})"


def fingerprint_lines(fingerprint: str, per_line: int = 16) -> str:
    """``SHA256:`` and the 32 hex pairs split over lines of ``per_line`` pairs."""
    algorithm, _, digest = fingerprint.partition(":")
    pairs = digest.split(":")
    rows = [":".join(pairs[start : start + per_line]) for start in range(0, len(pairs), per_line)]
    return f"{algorithm}:" + ("\n" + " " * (len(algorithm) + 1)).join(rows)


def short_fingerprint(fingerprint: str) -> str:
    """The first four and last two pairs, enough to compare by eye; the tooltip has all."""
    algorithm, _, digest = fingerprint.partition(":")
    pairs = digest.split(":")
    if len(pairs) <= 6:
        return fingerprint
    return f"{algorithm}:{':'.join(pairs[:4])}…{':'.join(pairs[-2:])}"
