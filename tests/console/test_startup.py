"""Startup: the profile directory and its lock, the remembered servers and CA, and the
report of a previous crash."""

from __future__ import annotations

import faulthandler
import json
import sys
from contextlib import ExitStack
from pathlib import Path

import pytest
from PySide6.QtCore import QCoreApplication

from console.errors import StartupError
from console.lock import ProfileInUse
from console.options import Options, parse_options
from console.paths import set_application_names
from console.startup import prepare, resolve_profile_dir
from server.tls import ensure_development_tls

SERVER = "https://localhost:8443"


@pytest.fixture(autouse=True)
def _keep_pytest_faulthandler():
    """``prepare`` points faulthandler at the profile; give pytest its own back afterwards."""
    enabled = faulthandler.is_enabled()
    yield
    if enabled and not faulthandler.is_enabled():
        faulthandler.enable(file=sys.__stderr__)


@pytest.fixture
def ca(tmp_path) -> Path:
    return ensure_development_tls(tmp_path / "server-a", []).ca_file


@pytest.fixture
def other_ca(tmp_path) -> Path:
    return ensure_development_tls(tmp_path / "server-b", []).ca_file


@pytest.fixture
def profile(tmp_path) -> Path:
    return tmp_path / "profile"


def start(options: Options):
    stack = ExitStack()
    try:
        return prepare(options, stack), stack
    except BaseException:
        stack.close()
        raise


def test_the_first_start_needs_a_ca(profile):
    with pytest.raises(StartupError, match="--ca FILE"):
        start(Options(profile=profile, servers=(SERVER,), ca_file=None))
    assert not (profile / "console.lock").exists()


def test_the_profile_remembers_servers_and_ca_for_the_next_start(profile, ca):
    startup, stack = start(Options(profile=profile, servers=(SERVER, "https://backup:8443"), ca_file=ca))
    with stack:
        assert startup.servers == (SERVER, "https://backup:8443")
        assert startup.trust.ca_file == ca.resolve()
        assert startup.previous_crash is None
        stored = json.loads((profile / "profile.json").read_text())
        assert stored["ca"] == {"path": str(ca.resolve()), "fingerprint": startup.trust.fingerprint}
        assert stored["servers"] == [SERVER, "https://backup:8443"]
    again, stack = start(Options(profile=profile, servers=(), ca_file=None))
    with stack:
        assert again.servers == (SERVER, "https://backup:8443")
        assert again.trust.fingerprint == startup.trust.fingerprint


def test_a_second_console_on_the_profile_is_refused(profile, ca):
    options = Options(profile=profile, servers=(SERVER,), ca_file=ca)
    _, stack = start(options)
    with stack, pytest.raises(ProfileInUse, match="already using the profile"):
        start(options)
    _, stack = start(options)
    stack.close()


def test_a_ca_file_that_changed_under_the_profile_is_refused(profile, ca, other_ca):
    first, stack = start(Options(profile=profile, servers=(SERVER,), ca_file=ca))
    stack.close()
    ca.write_bytes(other_ca.read_bytes())
    with pytest.raises(StartupError) as failure:
        start(Options(profile=profile, servers=(), ca_file=None))
    message = str(failure.value)
    assert first.trust.fingerprint in message
    assert "no longer holds the CA this profile trusts" in message
    assert "--ca FILE" in message


def test_an_explicit_new_ca_replaces_the_remembered_one_and_says_so_in_the_log(profile, ca, other_ca):
    first, stack = start(Options(profile=profile, servers=(SERVER,), ca_file=ca))
    stack.close()
    second, stack = start(Options(profile=profile, servers=(), ca_file=other_ca))
    with stack:
        assert second.trust.fingerprint != first.trust.fingerprint
        assert (
            json.loads((profile / "profile.json").read_text())["ca"]["fingerprint"]
            == second.trust.fingerprint
        )
    lines = [json.loads(line) for line in (profile / "logs" / "console.jsonl").read_text().splitlines()]
    [replaced] = [line for line in lines if line["event"] == "trusted CA replaced"]
    assert replaced["previous_fingerprint"] == first.trust.fingerprint
    assert replaced["fingerprint"] == second.trust.fingerprint


def test_a_crash_log_from_the_previous_run_is_reported_once(profile, ca):
    (profile / "crash").mkdir(parents=True)
    (profile / "crash" / "faults.log").write_text('Fatal Python error: Aborted\n  File "x.py", line 1\n')
    options = Options(profile=profile, servers=(SERVER,), ca_file=ca)
    startup, stack = start(options)
    with stack:
        assert startup.previous_crash is not None
        assert startup.previous_crash.text.startswith("Fatal Python error: Aborted")
        assert startup.previous_crash.archived_to.exists()
    again, stack = start(options)
    with stack:
        assert again.previous_crash is None


def test_a_profile_from_a_newer_console_stops_the_start(profile, ca):
    profile.mkdir()
    (profile / "profile.json").write_text(json.dumps({"version": 99}))
    with pytest.raises(StartupError, match="newer Kluis console"):
        start(Options(profile=profile, servers=(SERVER,), ca_file=ca))


def test_without_server_or_profile_there_is_nothing_to_start():
    with pytest.raises(StartupError, match="--server https://HOST:PORT"):
        resolve_profile_dir(Options(profile=None, servers=(), ca_file=None))


def test_the_default_profile_is_per_server_under_the_application_data(qapp, tmp_path, monkeypatch):
    names = (QCoreApplication.organizationName(), QCoreApplication.applicationName())
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    set_application_names()
    try:
        directory = resolve_profile_dir(Options(profile=None, servers=(SERVER,), ca_file=None))
    finally:
        QCoreApplication.setOrganizationName(names[0])
        QCoreApplication.setApplicationName(names[1])
    assert directory == tmp_path / "data" / "Kluis" / "kluis-console" / "profiles" / "localhost_8443"


def test_options_accept_repeated_servers_in_order():
    options = parse_options(["--server", "https://a:1", "--server", "https://B:2/", "--ca", "ca.pem"])
    assert options == Options(profile=None, servers=("https://a:1", "https://b:2"), ca_file=Path("ca.pem"))


def test_a_bad_server_option_is_a_usage_error_that_does_not_repeat_it(capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse_options(["--server", "https://admin:secret@a:1"])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert "must not contain a user name or password" in error
    assert "secret" not in error
