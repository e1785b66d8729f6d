"""Processes left behind: run a script that SIGKILLs itself, and wait for the processes it
started to end on their own."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def run_killed_script(tmp_path: Path, source: str) -> str:
    """Run ``source`` from the project root; it must end by SIGKILLing itself. Its output.

    The output pipe closes only when every process holding it has ended, so a child that
    outlives the script makes this time out rather than pass."""
    script = tmp_path / "killed.py"
    script.write_text(source)
    process = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert process.returncode == -signal.SIGKILL, process.stderr
    return process.stdout


def still_running(pids: list[int], within: float = 15.0) -> list[int]:
    """The pids that have not ended ``within`` seconds from now."""
    deadline = time.monotonic() + within
    left = [pid for pid in pids if Path(f"/proc/{pid}").exists()]
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = [pid for pid in left if Path(f"/proc/{pid}").exists()]
    return left
