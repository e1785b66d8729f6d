"""The wheel as an installer gets it: built from the working tree, it holds every file the
packages need, and unpacked on its own (outside the repository, beside nothing but the
dependencies) it migrates a database and serves.  And packaging/build-wheel.sh builds a commit
to the same bytes twice.

Building fetches the pinned setuptools and wheel (packaging/build-constraints.txt) from the
package index: the venv's own setuptools is too old for pyproject.toml."""

from __future__ import annotations

import configparser
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tarfile
import time
import tomllib
import zipfile
from pathlib import Path

import httpx
import pytest

from server.db.migrate import MIGRATIONS, head_revision
from server.tls import client_context

REPO = Path(__file__).resolve().parents[2]
PACKAGING = REPO / "packaging"
PACKAGES = ("console", "server", "shared", "resources")
SCRIPTS = {"kluis-server", "kluis-console", "kluis-verify"}

# What a console script wrapper does: find the entry point in the installed metadata, run it.
LAUNCH = (
    "import sys; from importlib.metadata import distribution; "
    "(ep,) = distribution('kluis').entry_points.select(group='console_scripts', name=sys.argv[1]); "
    "sys.argv = sys.argv[1:]; sys.exit(ep.load()())"
)


def git(*args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(REPO), *args], capture_output=True, text=True, check=True, timeout=60
    ).stdout


def build(
    *args: str, timeout: float = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, env=env)
    assert result.returncode == 0, f"{args[:3]} failed:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # A copy of the working tree (tracked and new files), so that no build/ left in the
    # checkout can add stale modules to the wheel.
    source = tmp_path_factory.mktemp("source")
    for name in git("ls-files", "-z", "--cached", "--others", "--exclude-standard").split("\0"):
        if name and (REPO / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    out = tmp_path_factory.mktemp("wheel")
    build(
        *(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--disable-pip-version-check"),
        *("--build-constraint", str(PACKAGING / "build-constraints.txt"), "-w", str(out), str(source)),
    )
    (built,) = out.glob("kluis-*.whl")
    return built


@pytest.fixture(scope="module")
def unpacked(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("unpacked")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(target)
    return target


def outside_repo_env(unpacked: Path, **settings: str) -> dict[str, str]:
    """Python finds the unpacked wheel and then the venv's dependencies, nothing else."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("KLUIS_", "PYTHON"))}
    paths = dict.fromkeys([str(unpacked), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env.update(settings)
    return env


def python_outside_repo(cwd: Path, *args: str) -> list[str]:
    # -S: no site, so no .pth file (the venv's editable install of this checkout) adds a path;
    # -P: not the current directory either.
    assert not cwd.resolve().is_relative_to(REPO)
    return [sys.executable, "-S", "-P", *args]


def run_outside_repo(
    unpacked: Path, cwd: Path, *args: str, **settings: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        python_outside_repo(cwd, *args),
        cwd=cwd,
        env=outside_repo_env(unpacked, **settings),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_wheel_holds_every_file_of_every_package(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    listed = git("ls-files", "--cached", "--others", "--exclude-standard", "--", *PACKAGES).splitlines()
    sources = {name for name in listed if (REPO / name).is_file()}
    assert sources
    missing = sorted(sources - names)
    assert not missing, "files of the packages that the wheel lacks"

    migrations = MIGRATIONS.relative_to(REPO).as_posix()
    versions = sorted(path.name for path in (MIGRATIONS / "versions").glob("*.py"))
    assert versions
    needed = [
        f"{migrations}/env.py",
        f"{migrations}/script.py.mako",
        *(f"{migrations}/versions/{name}" for name in versions),
        "resources/common-passwords.txt",
        "console/py.typed",
        "server/py.typed",
        "shared/py.typed",
    ]
    assert not [name for name in needed if name not in names]

    (dist_info,) = {name.split("/")[0] for name in names if ".dist-info/" in name}
    assert {name.split("/")[0] for name in names} == {*PACKAGES, dist_info}
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]


@pytest.mark.slow
def test_wheel_declares_the_three_commands(wheel):
    with zipfile.ZipFile(wheel) as archive:
        (entry_points,) = [
            name for name in archive.namelist() if name.endswith(".dist-info/entry_points.txt")
        ]
        parser = configparser.ConfigParser()
        parser.read_string(archive.read(entry_points).decode())
    declared = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))["project"]["scripts"]
    assert dict(parser["console_scripts"]) == declared
    assert set(declared) == SCRIPTS


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_each_command_starts_from_the_unpacked_wheel(unpacked, tmp_path, script):
    result = run_outside_repo(unpacked, tmp_path, "-c", LAUNCH, script, "--help", QT_QPA_PLATFORM="offscreen")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: {script}")


@pytest.mark.slow
def test_the_migrations_ship_in_the_wheel(unpacked, tmp_path):
    result = run_outside_repo(
        unpacked,
        tmp_path,
        "-c",
        "import importlib.metadata as m, server.db.migrate as db; "
        "print(db.head_revision()); print(db.MIGRATIONS); print(m.distribution('kluis').locate_file(''))",
    )
    assert result.returncode == 0, result.stderr
    head, location, metadata = result.stdout.split()
    assert head == head_revision()
    assert Path(location).is_relative_to(unpacked)
    assert Path(metadata) == unpacked


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_the_unpacked_wheel_migrates_and_serves_with_shared_key_files(unpacked, tmp_path):
    keys = tmp_path / "keys"
    build("bash", str(PACKAGING / "make-keys.sh"), str(keys), timeout=60)
    data = tmp_path / "data"
    settings = {
        "KLUIS_TOKEN_SIGNING_KEY_FILE": str(keys / "token-signing.pem"),
        "KLUIS_MFA_SECRET_KEY_FILE": str(keys / "mfa-secrets.key"),
        "KLUIS_AUDIT_SIGNING_KEY_FILE": str(keys / "log-signing.pem"),
        "KLUIS_CUSTOMER_MASTER_KEY_FILE": str(keys / "customer-master.key"),
    }
    migrated = run_outside_repo(
        unpacked, tmp_path, "-c", LAUNCH, "kluis-server", "migrate", "--data-dir", str(data), **settings
    )
    assert migrated.returncode == 0, migrated.stderr
    assert "is at head" in migrated.stdout

    port, metrics_port = free_port(), free_port()
    command = [
        *python_outside_repo(tmp_path, "-c", LAUNCH),
        *("kluis-server", "serve", "--data-dir", str(data)),
        *("--listen", f"127.0.0.1:{port}", "--metrics-listen", f"127.0.0.1:{metrics_port}"),
    ]
    server = subprocess.Popen(
        command,
        cwd=tmp_path,
        env=outside_repo_env(unpacked, **settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        banner = ""
        while "CA fingerprint" not in banner:
            line = server.stdout.readline()
            if not line:
                _, errors = server.communicate(timeout=60)
                raise AssertionError(f"the server did not start: {errors}")
            banner += line
        with httpx.Client(verify=client_context(data / "tls" / "ca.pem"), timeout=30) as client:
            assert client.get(f"https://localhost:{port}/readyz").status_code == 200
        # The shared key files were used: none was made in the data directory.
        assert not [path.name for path in (data / "keys").glob("*") if path.suffix in {".pem", ".key"}]
        started = time.monotonic()
        server.send_signal(signal.SIGTERM)
        _, errors = server.communicate(timeout=60)
        assert server.returncode == 0, errors
        assert time.monotonic() - started < 20
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
def test_build_script_builds_a_commit_to_the_same_bytes_twice(tmp_path):
    commit = git("rev-parse", "HEAD").strip()
    epoch = int(git("log", "-1", "--format=%ct", commit))
    outs = [tmp_path / "first", tmp_path / "second"]
    for out in outs:
        build(
            "bash",
            str(PACKAGING / "build-wheel.sh"),
            str(out),
            commit,
            env={**os.environ, "PYTHON": sys.executable},
        )
    sums = [(out / "SHA256SUMS").read_text() for out in outs]
    assert sums[0] == sums[1]

    first = outs[0]
    listed = {name: digest for digest, name in (line.split() for line in sums[0].splitlines())}
    assert {name for name in listed if name.endswith(".whl")} == {path.name for path in first.glob("*.whl")}
    assert len(listed) == 3
    for name, digest in listed.items():
        assert sha256(first / name) == digest, name
    assert (first / "constraints.txt").read_text() == git("show", f"{commit}:constraints.txt")

    (wheel,) = first.glob("kluis-*.whl")
    (sdist,) = first.glob("kluis-*.tar.gz")
    # Zip times have a resolution of two seconds.
    stamp = time.gmtime(epoch - epoch % 2)[:6]
    with zipfile.ZipFile(wheel) as archive:
        assert {info.date_time for info in archive.infolist()} == {stamp}
        names = set(archive.namelist())
    committed = git("ls-tree", "-r", "--name-only", commit, "--", *PACKAGES).splitlines()
    assert set(committed) <= names
    with tarfile.open(sdist) as archive:
        members = archive.getmembers()
    assert {member.mtime for member in members} == {epoch}
    assert {(member.uid, member.gid, member.uname, member.gname) for member in members} == {(0, 0, "", "")}
    assert [member.name for member in members] == sorted(member.name for member in members)


def test_make_dist_runs_the_build_script():
    result = subprocess.run(["make", "-n", "dist"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "packaging/build-wheel.sh dist" in result.stdout
