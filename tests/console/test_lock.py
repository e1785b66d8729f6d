"""One console per profile."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from console.lock import ProfileInUse, ProfileLock


def test_a_second_console_on_the_same_profile_is_refused_with_the_owner_named(tmp_path):
    first = ProfileLock(tmp_path)
    first.acquire()
    try:
        with pytest.raises(ProfileInUse) as failure:
            ProfileLock(tmp_path).acquire()
        message = str(failure.value)
        assert f"process {os.getpid()} on {socket.gethostname()}" in message
        assert str(tmp_path) in message
        assert "--profile" in message
    finally:
        first.release()
    with ProfileLock(tmp_path):
        pass


DYING_CONSOLE = """
import os, sys
from pathlib import Path
from console.lock import ProfileLock

lock = ProfileLock(Path(sys.argv[1]))
lock.acquire()
os._exit(0)  # dies holding the lock: no unlock, no destructors
"""


def test_a_lock_left_by_a_dead_console_is_taken_over(tmp_path):
    subprocess.run([sys.executable, "-c", DYING_CONSOLE, str(tmp_path)], check=True, timeout=60)
    assert (tmp_path / "console.lock").exists()
    with ProfileLock(tmp_path) as lock:
        assert lock.path.read_text().startswith(f"{os.getpid()}\n")
