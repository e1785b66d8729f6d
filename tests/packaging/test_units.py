"""The systemd units, their environment file and the console's desktop entry, read as systemd
and a desktop would read them, and checked against the code they start."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from console.options import parse_options
from server.cli import EXIT_CONFIG, EXIT_KEYS, EXIT_SCHEMA, EXIT_TLS, build_parser
from server.config import Settings, describe_settings, load_settings
from server.customers.keys import key_database_url
from testkit.ci import unavailable

PACKAGING = Path(__file__).resolve().parents[2] / "packaging"
SYSTEMD = PACKAGING / "systemd"
SERVER_UNIT = SYSTEMD / "kluis-server.service"
MIGRATE_UNIT = SYSTEMD / "kluis-migrate.service"
ENV_EXAMPLE = SYSTEMD / "server.env.example"
DESKTOP = PACKAGING / "linux" / "kluis-console.desktop"

Sections = dict[str, list[tuple[str, str]]]


def parse_ini(path: Path) -> Sections:
    """Sections of (key, value) in file order, repeated keys kept: the shape both systemd unit
    files and desktop entries have."""
    sections: Sections = {}
    current: list[tuple[str, str]] | None = None
    for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", ";")):
            continue
        assert not stripped.endswith("\\"), f"{path.name}:{number}: no continuation lines, please"
        if stripped.startswith("[") and stripped.endswith("]"):
            current = sections.setdefault(stripped[1:-1], [])
            continue
        key, sep, value = stripped.partition("=")
        assert sep, f"{path.name}:{number}: not KEY=VALUE: {line!r}"
        assert current is not None, f"{path.name}:{number}: a setting before the first section"
        current.append((key.strip(), value.strip()))
    return sections


def values(sections: Sections, section: str, key: str) -> list[str]:
    return [value for name, value in sections.get(section, []) if name == key]


def last(sections: Sections, section: str, key: str) -> str:
    found = values(sections, section, key)
    assert found, f"[{section}] has no {key}="
    return found[-1]


def words(sections: Sections, section: str, key: str) -> list[str]:
    """A list setting: every assignment adds words, an empty one clears the list."""
    result: list[str] = []
    for value in values(sections, section, key):
        result = [*result, *value.split()] if value else []
    return result


def seconds(span: str) -> float:
    """A systemd time span such as ``45``, ``45s``, ``1min 30s`` or ``1h``."""
    units = {"": 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hr": 3600}
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]*)", span)
    assert parts, f"not a time span: {span!r}"
    return sum(float(number) * units[unit] for number, unit in parts)


@pytest.fixture(scope="module")
def server_unit() -> Sections:
    return parse_ini(SERVER_UNIT)


@pytest.fixture(scope="module")
def migrate_unit() -> Sections:
    return parse_ini(MIGRATE_UNIT)


def env_assignments() -> dict[str, str]:
    assignments = {}
    for line in ENV_EXAMPLE.read_text("utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, sep, value = line.partition("=")
            assert sep, f"not NAME=value: {line!r}"
            assert name == name.strip(), f"no spaces around the name: {line!r}"
            assert " #" not in value, f"systemd would keep a trailing comment in the value: {line!r}"
            assignments[name] = value
    return assignments


def test_server_unit_serves_as_kluis_from_the_state_directory(server_unit):
    command = shlex.split(last(server_unit, "Service", "ExecStart"))
    assert Path(command[0]).name == "kluis-server"
    assert Path(command[0]).is_absolute()
    args = build_parser().parse_args(command[1:])
    assert args.command == "serve"
    assert args.data_dir == Path("/var/lib") / last(server_unit, "Service", "StateDirectory")
    assert last(server_unit, "Service", "User") == "kluis"
    assert last(server_unit, "Service", "Group") == "kluis"
    # Without a leading "-": a missing settings file stops the start instead of being ignored.
    assert values(server_unit, "Service", "EnvironmentFile") == ["/etc/kluis/server.env"]
    assert last(server_unit, "Install", "WantedBy") == "multi-user.target"


def test_server_unit_stops_gracefully_and_restarts_only_what_a_restart_can_mend(server_unit):
    defaults = Settings()
    grace, drain = defaults.shutdown_grace, defaults.drain_delay
    assert last(server_unit, "Service", "KillSignal") == "SIGTERM"
    stop_timeout = seconds(last(server_unit, "Service", "TimeoutStopSec"))
    assert stop_timeout > grace + drain
    assert stop_timeout > 20
    assert last(server_unit, "Service", "Restart") == "on-failure"
    prevented = {int(code) for code in words(server_unit, "Service", "RestartPreventExitStatus")}
    assert prevented == {EXIT_CONFIG, EXIT_TLS, EXIT_KEYS}
    # A restart runs the migration again, which is what a schema behind head needs.
    assert EXIT_SCHEMA not in prevented
    max_connections = defaults.max_connections
    assert int(last(server_unit, "Service", "LimitNOFILE")) > max_connections


def test_migration_runs_before_every_server_start(server_unit, migrate_unit):
    assert last(migrate_unit, "Service", "Type") == "oneshot"
    assert "kluis-server.service" in words(migrate_unit, "Unit", "Before")
    assert "kluis-migrate.service" in words(server_unit, "Unit", "After")
    # Pulled in by Wants=: with Requires= a migration that failed once (database not up yet)
    # would fail the server's start job, and systemd's Restart= never retries such a start.
    assert "kluis-migrate.service" in words(server_unit, "Unit", "Wants")
    assert "kluis-migrate.service" not in words(server_unit, "Unit", "Requires")
    # Pulled in by the server on every start, so never enabled, nor left "active" after it ran.
    assert "Install" not in migrate_unit
    assert values(migrate_unit, "Service", "RemainAfterExit") in ([], ["no"])

    command = shlex.split(last(migrate_unit, "Service", "ExecStart"))
    args = build_parser().parse_args(command[1:])
    assert args.command == "migrate"
    server_command = shlex.split(last(server_unit, "Service", "ExecStart"))
    assert command[0] == server_command[0]
    assert args.data_dir == build_parser().parse_args(server_command[1:]).data_dir
    for key in ("User", "Group", "EnvironmentFile", "StateDirectory"):
        assert values(migrate_unit, "Service", key) == values(server_unit, "Service", key), key


HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectControlGroups": "yes",
    "RestrictNamespaces": "yes",
    "RestrictSUIDSGID": "yes",
    "LockPersonality": "yes",
    "SystemCallArchitectures": "native",
    "UMask": "0077",
}


@pytest.mark.parametrize("unit", [SERVER_UNIT, MIGRATE_UNIT], ids=lambda path: path.name)
def test_units_are_hardened(unit):
    sections = parse_ini(unit)
    for key, expected in HARDENING.items():
        assert last(sections, "Service", key) == expected, key
    # Present and empty: no capability at all, not "unset".
    assert last(sections, "Service", "CapabilityBoundingSet") == ""
    assert words(sections, "Service", "AmbientCapabilities") == []
    assert sorted(words(sections, "Service", "RestrictAddressFamilies")) == ["AF_INET", "AF_INET6", "AF_UNIX"]
    filters = values(sections, "Service", "SystemCallFilter")
    assert filters[0] == "@system-service"
    assert all(value.startswith("~") for value in filters[1:]), "later filters may only take away"
    assert last(sections, "Service", "User") != "root"


def test_env_example_names_only_real_settings_and_no_secrets():
    text = ENV_EXAMPLE.read_text("utf-8")
    known = {variable for variable, _, _ in describe_settings()}
    mentioned = set(re.findall(r"\bKLUIS_[A-Z0-9_]+", text))
    assert mentioned <= known, f"not settings of kluis-server: {sorted(mentioned - known)}"

    assignments = env_assignments()
    production = {
        "KLUIS_DATABASE_URL",
        "KLUIS_CUSTOMER_KEY_DATABASE_URL",
        "KLUIS_TLS_CERT_FILE",
        "KLUIS_TLS_KEY_FILE",
        "KLUIS_TOKEN_SIGNING_KEY_FILE",
        "KLUIS_MFA_SECRET_KEY_FILE",
        "KLUIS_AUDIT_SIGNING_KEY_FILE",
        "KLUIS_CUSTOMER_MASTER_KEY_FILE",
        "KLUIS_AUDIT_ORIGIN",
    }
    assert production <= assignments.keys(), f"missing: {sorted(production - assignments.keys())}"
    # The units pass --data-dir; a second data directory here would only mislead.
    assert "KLUIS_DATA_DIR" not in assignments
    for name in ("KLUIS_DATABASE_URL", "KLUIS_CUSTOMER_KEY_DATABASE_URL"):
        url = make_url(assignments[name])
        assert url.get_backend_name() == "postgresql"
        assert url.password is None, f"{name} carries a password"
    assert "PRIVATE KEY" not in text
    assert "kluis-sealing-key-v1:" not in text
    for name, value in assignments.items():
        if name.endswith(("_FILE", "_FILES")):
            assert all(Path(path).is_absolute() for path in value.split(",")), name


def test_env_example_is_a_configuration_the_server_accepts(tmp_path):
    environ = {name: value for name, value in env_assignments().items() if name.startswith("KLUIS_")}
    settings = load_settings(environ=environ, overrides={"data_dir": tmp_path})
    assert not settings.uses_development_tls
    assert settings.effective_database_url().startswith("postgresql+psycopg://")
    # Refused if it named the data database, or were missing beside PostgreSQL.
    assert key_database_url(settings) == environ["KLUIS_CUSTOMER_KEY_DATABASE_URL"]
    host, _ = settings.listen_address
    assert host == "0.0.0.0"


def test_desktop_entry_starts_the_console():
    entry = parse_ini(DESKTOP)
    assert list(entry) == ["Desktop Entry"]
    assert last(entry, "Desktop Entry", "Type") == "Application"
    assert last(entry, "Desktop Entry", "Name")
    assert last(entry, "Desktop Entry", "TryExec") == "kluis-console"
    command = shlex.split(last(entry, "Desktop Entry", "Exec"))
    assert command[0] == "kluis-console"
    assert not any(arg.startswith("%") for arg in command), "the console opens no files or URLs"
    options = parse_options(command[1:])
    assert options.servers, "without --server the console cannot pick a profile"
    assert all(server.startswith("https://") for server in options.servers)
    categories = last(entry, "Desktop Entry", "Categories")
    assert categories.endswith(";")
    assert {"Office", "Finance"} <= set(categories.split(";"))
    assert last(entry, "Desktop Entry", "Terminal") == "false"


def installed_tool(name: str, missing: str) -> str:
    """The path of ``name``.  Where it is not installed the test is skipped with ``missing``;
    in CI, whose ``.ci/run`` installs it, that is a failure."""
    found = shutil.which(name)
    if found is None:
        unavailable(missing)
    return found


def test_desktop_file_validate():
    validator = installed_tool(
        "desktop-file-validate",
        "desktop-file-validate is not installed (desktop-file-utils); the entry was parsed above",
    )
    result = subprocess.run([validator, str(DESKTOP)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not result.stdout.strip(), result.stdout


def fake_root(tmp_path: Path) -> Path:
    """A root directory holding the units where an operator installs them, the command they
    start, and this machine's own units (the targets they are ordered against)."""
    system_units = next(
        (path for path in (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system")) if path.is_dir()),
        None,
    )
    assert system_units is not None, "systemd-analyze is installed but the system's units are not"
    root = tmp_path / "root"
    shutil.copytree(system_units, root / "usr/lib/systemd/system", symlinks=True)
    (root / "etc/systemd/system").mkdir(parents=True)
    for unit in (SERVER_UNIT, MIGRATE_UNIT):
        shutil.copy(unit, root / "etc/systemd/system" / unit.name)
    command = Path(shlex.split(last(parse_ini(SERVER_UNIT), "Service", "ExecStart"))[0])
    stub = root / command.relative_to("/")
    stub.parent.mkdir(parents=True)
    stub.write_text("#!/bin/sh\n")
    stub.chmod(0o755)
    (root / "etc/kluis").mkdir()
    (root / "etc/kluis/server.env").write_text("")
    return root


def systemd_analyze() -> str:
    return installed_tool(
        "systemd-analyze", "systemd-analyze is not installed here, so `systemd-analyze verify` was not run"
    )


def test_systemd_analyze_verify(tmp_path):
    binary = systemd_analyze()
    root = fake_root(tmp_path)
    result = subprocess.run(
        [binary, "verify", f"--root={root}", SERVER_UNIT.name, MIGRATE_UNIT.name],
        capture_output=True,
        text=True,
        timeout=120,
    )
    # verify exits 0 on unknown or unparsable settings and only warns: any output is a finding.
    assert result.returncode == 0, result.stdout + result.stderr
    assert not (result.stdout + result.stderr).strip(), result.stdout + result.stderr


@pytest.mark.parametrize("unit", [SERVER_UNIT, MIGRATE_UNIT], ids=lambda path: path.name)
def test_systemd_analyze_security_rates_the_units_ok(tmp_path, unit):
    binary = systemd_analyze()
    version = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True).stdout
    if int(version.split()[1]) < 250:
        unavailable(f"this systemd-analyze ({version.split()[1]}) cannot rate unit files offline (250+)")
    root = fake_root(tmp_path)
    result = subprocess.run(
        [binary, "security", "--offline=yes", f"--root={root}", "--no-pager", unit.name],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    exposure = re.search(rf"Overall exposure level for {re.escape(unit.name)}: (\d+\.\d+)", result.stdout)
    assert exposure is not None, result.stdout
    # 0 is sealed, 10 unprotected; these units rate 1.4, and losing a directive shows here.
    assert float(exposure.group(1)) <= 2.0, result.stdout
