"""The demo launcher's orchestration with a real server and a stand-in for the console:
migrate, serve, wait for readiness over verified TLS, run the console, stop the server."""

from __future__ import annotations

import json
import os
import socket
import sys
import textwrap

import pytest

from console.demo import DemoError, run_demo
from server.tls import ensure_development_tls
from shared.crypto import certificate_fingerprint

STAND_IN = textwrap.dedent(
    """
    import argparse, json, os, signal, ssl, sys, time, urllib.request
    from pathlib import Path

    parser = argparse.ArgumentParser()
    parser.add_argument("--server", required=True)
    parser.add_argument("--ca", required=True)
    parser.add_argument("--profile", required=True)
    parser.add_argument("--exit", type=int, default=0)
    parser.add_argument("--interrupt-launcher", action="store_true")
    args = parser.parse_args()

    context = ssl.create_default_context(cafile=args.ca)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    with urllib.request.urlopen(args.server + "/api/v1/server-info", context=context) as response:
        info = json.load(response)
    profile = Path(args.profile)
    profile.mkdir(parents=True, exist_ok=True)
    report = {"argv": sys.argv[1:], "info": info, "pid": os.getpid()}
    (profile / "stand-in.json").write_text(json.dumps(report))
    if args.interrupt_launcher:
        time.sleep(0.5)
        os.kill(os.getppid(), signal.SIGINT)
        time.sleep(60)
    sys.exit(args.exit)
    """
)


@pytest.fixture
def environment():
    """The launcher's environment without any KLUIS_* settings of the machine running the tests."""
    return {name: value for name, value in os.environ.items() if not name.startswith("KLUIS_")}


def stand_in(*options: str) -> list[str]:
    return [sys.executable, "-c", STAND_IN, *options]


def refuses_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def report(data_dir) -> dict:
    return json.loads((data_dir / "console-profile" / "stand-in.json").read_text())


def served_port(seen: dict) -> int:
    argv = seen["argv"]
    return int(argv[argv.index("--server") + 1].rsplit(":", 1)[1])


def test_starts_the_server_runs_the_console_and_stops_the_server(tmp_path, environment):
    data_dir = tmp_path / "fresh" / "demo"
    result = run_demo(data_dir, "127.0.0.1:0", stand_in(), env=environment)
    assert result.console_returncode == 0
    assert result.server_returncode == 0
    seen = report(data_dir)
    ca_file = data_dir / "tls" / "ca.pem"
    assert seen["info"]["name"] == "kluis"
    assert seen["info"]["ca_fingerprint"] == certificate_fingerprint(ca_file.read_bytes())
    argv = seen["argv"]
    server_url = argv[argv.index("--server") + 1]
    assert server_url.startswith("https://localhost:")
    assert argv[argv.index("--ca") + 1] == str(ca_file)
    assert argv[argv.index("--profile") + 1] == str(data_dir / "console-profile")
    assert refuses_connections(served_port(seen))
    assert (data_dir / "server.log").exists()


def test_the_server_is_stopped_when_the_console_crashes(tmp_path, environment):
    result = run_demo(tmp_path / "demo", "127.0.0.1:0", stand_in("--exit", "3"), env=environment)
    assert result.console_returncode == 3
    assert result.server_returncode == 0
    assert refuses_connections(served_port(report(tmp_path / "demo")))


def test_the_server_is_stopped_when_the_launcher_is_interrupted(tmp_path, environment):
    with pytest.raises(KeyboardInterrupt):
        run_demo(tmp_path / "demo", "127.0.0.1:0", stand_in("--interrupt-launcher"), env=environment)
    seen = report(tmp_path / "demo")
    assert refuses_connections(served_port(seen))
    with pytest.raises(ProcessLookupError):
        os.kill(seen["pid"], 0)


def test_a_server_that_cannot_start_is_reported_with_its_last_words(tmp_path, environment):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(DemoError) as failure:
            run_demo(tmp_path / "demo", f"127.0.0.1:{port}", stand_in(), env=environment)
    message = str(failure.value)
    assert "exited with status" in message
    assert "address already in use" in message.lower()
    assert str(tmp_path / "demo" / "server.log") in message
    assert not (tmp_path / "demo" / "console-profile").exists()


def test_a_bad_listen_address_is_refused_before_anything_runs(tmp_path, environment):
    with pytest.raises(DemoError, match="HOST:PORT"):
        run_demo(tmp_path / "demo", "127.0.0.1:65535", stand_in(), env=environment)
    assert not (tmp_path / "demo").exists()


def test_readiness_is_only_accepted_over_tls_verified_against_the_data_directorys_ca(tmp_path, environment):
    data_dir = tmp_path / "demo"
    ensure_development_tls(data_dir, [])  # the CA the launcher will trust
    foreign = ensure_development_tls(tmp_path / "elsewhere", [])
    environment["KLUIS_TLS_CERT_FILE"] = str(foreign.cert_file)
    environment["KLUIS_TLS_KEY_FILE"] = str(foreign.key_file)
    with pytest.raises(DemoError, match=r"TLS to https://localhost:\d+ failed with the CA in") as failure:
        run_demo(data_dir, "127.0.0.1:0", stand_in(), env=environment)
    assert "CERTIFICATE_VERIFY_FAILED" in str(failure.value)
    assert not (data_dir / "console-profile").exists()
