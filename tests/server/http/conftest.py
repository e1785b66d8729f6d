"""The test route table served by a bare HTTP listener over real TLS sockets."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from server.http.limits import Limits
from testkit.http_routes import Probe, build_router
from testkit.servers import RunningListener

ListenerFactory = Callable[..., RunningListener]


@pytest.fixture
def probe() -> Probe:
    return Probe()


@pytest.fixture
def serve(tmp_path: Path, probe: Probe) -> Iterator[ListenerFactory]:
    """``serve(**limits)`` starts the test route table with the given limits."""
    started: list[RunningListener] = []

    def start(**limits: float) -> RunningListener:
        running = RunningListener(build_router(probe), tmp_path, Limits(**limits))  # type: ignore[arg-type]
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()
