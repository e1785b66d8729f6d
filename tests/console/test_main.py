"""``kluis-console`` as a process: it starts against a real server, reaches it over TLS 1.3,
and stops cleanly on SIGTERM or SIGINT, leaving its profile tidy."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest


def log_events(profile) -> list[dict]:
    path = profile / "logs" / "console.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def wait_for_event(process, profile, event: str, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in log_events(profile):
            if line["event"] == event:
                return line
        if process.poll() is not None:
            pytest.fail(f"the console exited with {process.returncode}: {process.stderr.read()}")
        time.sleep(0.1)
    pytest.fail(f"no {event!r} in the console log within {timeout} s")


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_the_console_runs_against_a_server_and_stops_cleanly_on_a_signal(server, tmp_path, stop_signal):
    profile = tmp_path / "profile"
    (profile / "crash").mkdir(parents=True)
    previous_crash = 'Fatal Python error: Segmentation fault\n  File "console/x.py", line 7 in paint\n'
    (profile / "crash" / "faults.log").write_text(previous_crash)
    environment = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "console.main",
            "--server",
            server.base_url,
            "--ca",
            str(server.ca_file),
            "--profile",
            str(profile),
        ],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        online = wait_for_event(process, profile, "link online")
        assert online["server"] == server.base_url
        assert (profile / "console.lock").exists()
        process.send_signal(stop_signal)
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
        process.stderr.close()
    events = [line["event"] for line in log_events(profile)]
    assert events[0] == "console starting"
    assert "previous run crashed" in events
    assert events[-1] == "console stopped"
    assert not (profile / "console.lock").exists()
    assert not (profile / "crash" / "faults.log").exists()
    [archived] = (profile / "crash" / "archive").iterdir()
    assert archived.read_text() == previous_crash
    assert json.loads((profile / "profile.json").read_text())["servers"] == [server.base_url]
