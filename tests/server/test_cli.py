"""The `kluis-server` command as an operator runs it: a real process, real signals."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from server.config import describe_settings
from server.tls import client_context
from shared.crypto import certificate_fingerprint
from testkit.clients import RawClient

KLUIS_SERVER = [sys.executable, "-m", "server.cli"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run(args, env=None, **options):
    return subprocess.run(
        [*KLUIS_SERVER, *args], capture_output=True, text=True, timeout=120, env=env, **options
    )


def environment(database_url: str | None = None, key_dir: Path | None = None, **extra: str) -> dict[str, str]:
    """The environment of a server process.  On PostgreSQL customers' data keys must live in a
    database of their own: ``key_dir`` holds it."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("KLUIS_")}
    if database_url:
        env["KLUIS_DATABASE_URL"] = database_url
        if not database_url.startswith("sqlite"):
            assert key_dir is not None, "a PostgreSQL server needs a customer key database"
            env["KLUIS_CUSTOMER_KEY_DATABASE_URL"] = f"sqlite:///{key_dir / 'customer-keys.db'}"
    env.update(extra)
    return env


class ServerProcess:
    def __init__(self, data_dir: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        self.metrics_port = free_port()
        self.process = subprocess.Popen(
            [
                *KLUIS_SERVER,
                "serve",
                "--data-dir",
                str(data_dir),
                "--listen",
                f"127.0.0.1:{self.port}",
                "--metrics-listen",
                f"127.0.0.1:{self.metrics_port}",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.stdout_lines: list[str] = []
        deadline = time.monotonic() + 60
        while not any("listening on" in line for line in self.stdout_lines):
            line = self.process.stdout.readline()
            if not line:
                _, errors = self.process.communicate(timeout=60)
                raise AssertionError(f"server did not start: {errors}")
            self.stdout_lines.append(line)
            assert time.monotonic() < deadline
        # The banner ends with the CA fingerprint line.
        while not any("CA fingerprint" in line for line in self.stdout_lines):
            self.stdout_lines.append(self.process.stdout.readline())

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, str, str]:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        out, err = self.process.communicate(timeout=60)
        return self.process.returncode, "".join(self.stdout_lines) + out, err


@pytest.fixture
def migrated(tmp_path, database_url):
    return tmp_path / "data", environment(database_url, tmp_path)


def test_help_documents_every_setting():
    result = run(["--help"])
    assert result.returncode == 0
    for variable, _, description in describe_settings():
        assert variable in result.stdout
        assert description.split()[0] in result.stdout
    serve_help = run(["serve", "--help"]).stdout
    assert "--data-dir" in serve_help
    assert "--listen" in serve_help
    assert "KLUIS_DATABASE_URL" in serve_help


def test_invalid_setting_is_a_clear_error(tmp_path):
    result = run(["serve", "--data-dir", str(tmp_path)], env=environment(KLUIS_MAX_BODY_BYTES="lots"))
    assert result.returncode == 2
    assert "max_body_bytes" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_refuses_a_database_not_at_head_and_says_how_to_migrate(tmp_path, empty_database_url):
    result = run(
        ["serve", "--data-dir", str(tmp_path), "--listen", "127.0.0.1:0"],
        env=environment(empty_database_url, tmp_path),
    )
    assert result.returncode == 3
    assert "kluis-server migrate" in result.stderr
    assert "Traceback" not in result.stderr


def test_migrate_then_serve_then_sigterm(tmp_path, empty_database_url):
    data_dir = tmp_path / "data"
    env = environment(empty_database_url, tmp_path, KLUIS_DRAIN_DELAY="1.0")
    migrated = run(["migrate", "--data-dir", str(data_dir)], env=env)
    assert migrated.returncode == 0, migrated.stderr
    assert "is at head" in migrated.stdout

    server = ServerProcess(data_dir, env)
    try:
        ca_file = data_dir / "tls" / "ca.pem"
        fingerprint = certificate_fingerprint(ca_file.read_bytes())
        banner = "".join(server.stdout_lines)
        assert f"CA fingerprint {fingerprint}" in banner
        for key in ("ca-key.pem", "server-key.pem"):
            assert stat.S_IMODE((data_dir / "tls" / key).stat().st_mode) == 0o600

        with httpx.Client(verify=client_context(ca_file)) as client:
            assert client.get(f"https://localhost:{server.port}/readyz").status_code == 200
            metrics = client.get(f"https://localhost:{server.metrics_port}/metrics")
            assert metrics.status_code == 200

        keep_alive = RawClient(("127.0.0.1", server.port), ca_file)
        assert keep_alive.request("GET", "/livez").status == 200
        server.process.send_signal(signal.SIGTERM)
        # Idle connections close at once; during the drain delay a new connection is still
        # served, readiness fails, and the response closes the connection.
        assert keep_alive.is_closed()
        keep_alive.close()
        with RawClient(("127.0.0.1", server.port), ca_file) as late:
            readiness = late.request("GET", "/readyz")
            assert readiness.status == 503
            assert readiness.json()["status"] == "draining"
            assert readiness.header("connection") == "close"
            assert late.is_closed()
    finally:
        code, _, err = server.stop()
    assert code == 0, err
    assert '"event": "shutdown complete"' in err
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", server.port), timeout=1).close()


def test_sigint_also_shuts_down_gracefully(migrated):
    data_dir, env = migrated
    assert run(["migrate", "--data-dir", str(data_dir)], env=env).returncode == 0
    server = ServerProcess(data_dir, env)
    code, _, err = server.stop(signal.SIGINT)
    assert code == 0, err
    assert '"event": "shutdown complete"' in err


def test_second_start_reuses_the_development_ca(migrated):
    data_dir, env = migrated
    assert run(["migrate", "--data-dir", str(data_dir)], env=env).returncode == 0
    first = ServerProcess(data_dir, env)
    first.stop()
    ca = (data_dir / "tls" / "ca.pem").read_bytes()
    second = ServerProcess(data_dir, env)
    second.stop()
    assert (data_dir / "tls" / "ca.pem").read_bytes() == ca


def test_a_started_server_freezes_what_start_up_built(capsys):
    """Full collections then skip the modules, tables and keys the process keeps for life."""
    import gc
    import types

    from server import cli

    gc.unfreeze()  # whatever an earlier test froze (the console's sync engine freezes too)
    assert gc.get_freeze_count() == 0
    started = types.SimpleNamespace(
        api_address=("127.0.0.1", 8443), metrics_address=None, tls=None, state=None
    )
    try:
        cli._started(started)  # type: ignore[arg-type]
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
    assert "listening on https://127.0.0.1:8443" in capsys.readouterr().out
