"""packaging/make-keys.sh makes the key files server.env.example names, in the formats the
server loads, readable by their owner only, and never replaces one."""

from __future__ import annotations

import logging
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from server.audit.keys import AuditKeys
from server.auth.keystore import ServerKeys, load_sealing_key
from server.config import load_settings
from server.customers.service import CUSTOMER_MASTER_KEY

PACKAGING = Path(__file__).resolve().parents[2] / "packaging"
MAKE_KEYS = PACKAGING / "make-keys.sh"
ENV_EXAMPLE = PACKAGING / "systemd" / "server.env.example"
DEFAULT_KEY_DIR = Path("/etc/kluis/keys")
SHARED_KEYS = {
    "KLUIS_TOKEN_SIGNING_KEY_FILE",
    "KLUIS_MFA_SECRET_KEY_FILE",
    "KLUIS_AUDIT_SIGNING_KEY_FILE",
    "KLUIS_CUSTOMER_MASTER_KEY_FILE",
}


def key_files_in_env_example() -> dict[str, Path]:
    files = {}
    for line in ENV_EXAMPLE.read_text("utf-8").splitlines():
        name, sep, value = line.partition("=")
        if sep and name in SHARED_KEYS:
            files[name] = Path(value)
    assert files.keys() == SHARED_KEYS
    return files


def make_keys(directory: Path) -> subprocess.CompletedProcess[str]:
    if shutil.which("openssl") is None:
        pytest.fail("make-keys.sh needs openssl, and this machine has none")
    return subprocess.run(
        ["bash", str(MAKE_KEYS), str(directory)], capture_output=True, text=True, timeout=60, check=True
    )


def test_env_example_names_the_files_make_keys_makes_where_it_makes_them(tmp_path):
    make_keys(tmp_path / "keys")
    made = {path.name for path in (tmp_path / "keys").iterdir()}
    named = key_files_in_env_example()
    assert {path.name for path in named.values()} == made
    assert {path.parent for path in named.values()} == {DEFAULT_KEY_DIR}
    assert f"dir=${{1:-{DEFAULT_KEY_DIR}}}" in MAKE_KEYS.read_text("utf-8")


def test_the_server_loads_every_key_without_a_warning(tmp_path, caplog):
    keys = tmp_path / "keys"
    make_keys(keys)
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    for path in keys.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name

    environ = {name: str(keys / path.name) for name, path in key_files_in_env_example().items()}
    settings = load_settings(environ=environ, overrides={"data_dir": tmp_path / "data"})
    with caplog.at_level(logging.INFO, logger="kluis"):
        server_keys = ServerKeys.load(settings)
        audit = AuditKeys.load(settings)
        assert settings.customer_master_key_file is not None
        master = load_sealing_key(
            CUSTOMER_MASTER_KEY, keys_dir=tmp_path / "unused", key_file=settings.customer_master_key_file
        )
    # Loaded from the files, none created in the data directory, and no "readable by others".
    assert not (tmp_path / "data").exists()
    assert not [record for record in caplog.records if record.levelno >= logging.INFO]
    assert len(master.key) == 32
    assert len(server_keys.mfa.key) == 32
    assert server_keys.mfa.key != master.key
    assert server_keys.token.current.key_id != audit.key_id


def test_existing_keys_are_never_replaced(tmp_path):
    keys = tmp_path / "keys"
    make_keys(keys)
    before = {path.name: path.read_bytes() for path in keys.iterdir()}
    again = make_keys(keys)
    assert {path.name: path.read_bytes() for path in keys.iterdir()} == before
    for name in before:
        assert f"{keys / name} exists; left as it is" in again.stderr
