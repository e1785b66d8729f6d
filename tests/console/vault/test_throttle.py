"""Wrong vault passwords wait longer and longer, counted in a file outside the vault."""

from __future__ import annotations

import datetime as dt

import pytest

from console.vault.errors import UnlockThrottled
from console.vault.throttle import UnlockThrottle, delay_after

START = dt.datetime(2025, 3, 1, 8, 0, tzinfo=dt.UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


def test_the_delays_grow_and_stop_at_fifteen_minutes():
    assert [delay_after(failures) for failures in range(9)] == [0, 0, 0, 5, 10, 20, 40, 80, 160]
    assert delay_after(40) == 900


def test_failures_make_the_next_attempt_wait_and_a_success_hands_them_over(tmp_path):
    clock = Clock()
    throttle = UnlockThrottle(tmp_path, clock)
    throttle.check()
    throttle.failed()
    throttle.failed()
    throttle.check()
    throttle.failed()
    with pytest.raises(UnlockThrottled) as waiting:
        throttle.check()
    assert waiting.value.retry_after == 5
    assert "5 seconds" in str(waiting.value)
    clock.advance(4)
    with pytest.raises(UnlockThrottled) as waiting:
        throttle.check()
    assert waiting.value.retry_after == 1
    clock.advance(1)
    throttle.check()
    throttle.failed()
    with pytest.raises(UnlockThrottled) as waiting:
        UnlockThrottle(tmp_path, clock).check()  # the count survives a restart
    assert waiting.value.retry_after == 10

    failures = throttle.succeeded()
    assert len(failures) == 4
    assert failures[0] == START
    assert all(moment.tzinfo is not None for moment in failures)
    throttle.check()
    assert throttle.failures() == []


def test_a_clock_set_back_does_not_lock_anyone_out_for_longer(tmp_path):
    clock = Clock()
    throttle = UnlockThrottle(tmp_path, clock)
    for _ in range(3):
        throttle.failed()
    clock.advance(-3600)
    with pytest.raises(UnlockThrottled) as waiting:
        throttle.check()
    assert waiting.value.retry_after == 5


def test_an_unreadable_record_counts_as_none(tmp_path):
    (tmp_path / "unlock-failures.json").write_text("{not json")
    throttle = UnlockThrottle(tmp_path, Clock())
    throttle.check()
    throttle.failed()
    assert len(throttle.failures()) == 1
