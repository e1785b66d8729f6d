"""Server keys: created once in the data directory, or loaded from configured files."""

from __future__ import annotations

import stat

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from server.auth.keystore import (
    KeySetupError,
    ServerKeys,
    load_sealing_key,
    load_signing_key_ring,
    public_key_pem,
)
from server.config import Settings
from shared.crypto import generate_private_key, key_id, public_key_to_raw


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_first_start_creates_private_keys_mode_0600_and_later_starts_reuse_them(tmp_path):
    settings = Settings(data_dir=tmp_path)
    first = ServerKeys.load(settings)
    assert mode(tmp_path / "keys" / "token-signing.pem") == 0o600
    assert mode(tmp_path / "keys" / "mfa-secrets.key") == 0o600
    again = ServerKeys.load(settings)
    assert again.token.current.key_id == first.token.current.key_id
    assert again.mfa.key == first.mfa.key
    assert first.token.current.key_id == key_id(first.token.current.public_raw)
    assert not list((tmp_path / "keys").glob(".*tmp"))


def test_configured_files_are_used_and_must_exist(tmp_path):
    private = generate_private_key()
    key_file = tmp_path / "signing.pem"
    key_file.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    ring = load_signing_key_ring("token-signing", keys_dir=tmp_path / "keys", key_file=key_file)
    assert ring.current.public_raw == public_key_to_raw(private)
    assert not (tmp_path / "keys").exists()
    with pytest.raises(KeySetupError, match="cannot read"):
        load_signing_key_ring("token-signing", keys_dir=tmp_path, key_file=tmp_path / "missing.pem")


def test_previous_public_keys_are_accepted_for_verification(tmp_path):
    previous = load_signing_key_ring("token-signing", keys_dir=tmp_path / "old", key_file=None)
    published = tmp_path / "previous.pub.pem"
    published.write_bytes(public_key_pem(previous))
    ring = load_signing_key_ring(
        "token-signing", keys_dir=tmp_path / "new", key_file=None, accepted_public_files=[published]
    )
    assert set(ring.accepted) == {ring.current.key_id, previous.current.key_id}
    assert ring.current.key_id != previous.current.key_id


def test_the_wrong_kind_of_key_is_refused_naming_the_file(tmp_path):
    ec_key = tmp_path / "ec.pem"
    ec_key.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    with pytest.raises(KeySetupError, match="not an Ed25519 private key"):
        load_signing_key_ring("token-signing", keys_dir=tmp_path, key_file=ec_key)
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("hello")
    with pytest.raises(KeySetupError, match=r"garbage\.pem"):
        load_signing_key_ring("token-signing", keys_dir=tmp_path, key_file=garbage)
    with pytest.raises(KeySetupError, match="not a Kluis sealing key"):
        load_sealing_key("mfa-secrets", keys_dir=tmp_path, key_file=garbage)
    short = tmp_path / "short.key"
    short.write_text("kluis-sealing-key-v1:AAAA\n")
    with pytest.raises(KeySetupError, match="32-byte"):
        load_sealing_key("mfa-secrets", keys_dir=tmp_path, key_file=short)


async def test_a_server_with_a_bad_key_file_does_not_start(tmp_path, database_url):
    from server.runtime import KluisServer
    from testkit.servers import server_settings

    bad = tmp_path / "bad.pem"
    bad.write_text("not a key")
    server = KluisServer(server_settings(tmp_path, database_url, token_signing_key_file=bad))
    with pytest.raises(KeySetupError, match=r"bad\.pem"):
        await server.start()
    assert server.listeners == []
