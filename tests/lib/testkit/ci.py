"""Whether the tests run in the project's CI (``.ci/run`` sets ``CI=true``).  There, what
CI provides (PostgreSQL, the packaging validators) must be present: its absence fails the
test instead of skipping it."""

from __future__ import annotations

import os


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"
