"""Whether the tests run in the project's CI (``.ci/run`` sets ``CI=true``).  There, what
CI provides (PostgreSQL, the packaging validators) must be present: its absence fails the
test instead of skipping it."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def unavailable(reason: str) -> NoReturn:
    """A test cannot run for want of what ``reason`` names: skipped here, failed in CI,
    which provides it."""
    if in_ci():
        pytest.fail(f"CI provides this, yet: {reason}")
    pytest.skip(reason)
