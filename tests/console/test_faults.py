"""A hard crash leaves a fault log; the next start reports it once and archives it."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from console.faults import FaultLog

CRASHING_CONSOLE = textwrap.dedent(
    """
    import faulthandler, sys
    from pathlib import Path
    from console.faults import FaultLog

    FaultLog(Path(sys.argv[1])).enable()
    faulthandler._sigsegv()
    """
)

CLEAN_CONSOLE = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from console.faults import FaultLog

    faults = FaultLog(Path(sys.argv[1]))
    faults.enable()
    faults.disable()
    """
)


def run_python(source: str, profile) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", source, str(profile)], capture_output=True, text=True, timeout=60, check=False
    )


def test_a_crash_is_reported_by_the_next_start_once_then_archived(tmp_path):
    crashed = run_python(CRASHING_CONSOLE, tmp_path)
    assert crashed.returncode != 0
    faults = FaultLog(tmp_path)
    previous = faults.take_previous()
    assert previous is not None
    assert "Fatal Python error: Segmentation fault" in previous.text
    assert "<module>" in previous.text
    assert previous.archived_to.parent == tmp_path / "crash" / "archive"
    assert previous.archived_to.read_text() == previous.text
    assert not faults.path.exists()
    assert FaultLog(tmp_path).take_previous() is None


def test_a_clean_run_leaves_nothing_to_report(tmp_path):
    assert run_python(CLEAN_CONSOLE, tmp_path).returncode == 0
    assert not (tmp_path / "crash" / "faults.log").exists()
    assert FaultLog(tmp_path).take_previous() is None


def test_an_empty_fault_log_is_not_a_crash(tmp_path):
    (tmp_path / "crash").mkdir()
    (tmp_path / "crash" / "faults.log").write_text("")
    assert FaultLog(tmp_path).take_previous() is None
