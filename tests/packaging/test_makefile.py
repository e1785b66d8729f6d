"""The Makefile's choice of Qt platform, run through the real Makefile with a stand-in
virtual environment whose programs report what they were started with."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from testkit.ci import unavailable

ROOT = Path(__file__).resolve().parents[2]
REPORT = '#!/bin/sh\necho "QT_QPA_PLATFORM=${QT_QPA_PLATFORM-unset}"\n'


@pytest.fixture
def venv(tmp_path: Path) -> Path:
    """A directory the Makefile takes for an installed .venv: its stamp is newer than the
    pinned dependencies, and python and pytest only print the platform they were given."""
    if shutil.which("make") is None:
        unavailable("make is not installed")
    bin_dir = tmp_path / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    for name in ("python", "pytest"):
        program = bin_dir / name
        program.write_text(REPORT)
        program.chmod(0o755)
    stamp = tmp_path / "venv" / ".kluis-installed"
    stamp.touch()
    newest = max((ROOT / name).stat().st_mtime for name in ("pyproject.toml", "constraints.txt"))
    os.utime(stamp, (newest + 60, newest + 60))
    return tmp_path / "venv"


def run_make(target: str, venv: Path, **environment: str) -> list[str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM", "MAKEFLAGS", "MFLAGS", "MAKELEVEL"}
    }
    env.update(environment)
    done = subprocess.run(
        ["make", "--no-print-directory", "-s", "-C", str(ROOT), target, f"VENV={venv}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_demo_without_a_display_draws_offscreen_and_says_why(venv: Path) -> None:
    lines = run_make("demo", venv)
    assert lines == [
        "make demo: no display here (neither DISPLAY nor WAYLAND_DISPLAY is set), "
        "so the console window is drawn offscreen",
        "QT_QPA_PLATFORM=offscreen",
    ]


@pytest.mark.parametrize("display", [{"DISPLAY": ":77"}, {"WAYLAND_DISPLAY": "wayland-0"}])
def test_demo_with_a_display_opens_a_real_window(venv: Path, display: dict[str, str]) -> None:
    assert run_make("demo", venv, **display) == ["QT_QPA_PLATFORM=unset"]


def test_demo_honours_an_explicit_offscreen_with_a_display_and_names_the_reason(venv: Path) -> None:
    lines = run_make("demo", venv, DISPLAY=":77", QT_QPA_PLATFORM="offscreen")
    assert lines == [
        "make demo: QT_QPA_PLATFORM=offscreen is set, so the console window is drawn offscreen",
        "QT_QPA_PLATFORM=offscreen",
    ]


def test_demo_keeps_a_platform_the_user_chose(venv: Path) -> None:
    assert run_make("demo", venv, QT_QPA_PLATFORM="xcb") == ["QT_QPA_PLATFORM=xcb"]


@pytest.mark.parametrize("target", ["pytest", "bench"])
def test_tests_and_benchmarks_draw_offscreen_even_with_a_display(venv: Path, target: str) -> None:
    assert run_make(target, venv, DISPLAY=":77") == ["QT_QPA_PLATFORM=offscreen"]
