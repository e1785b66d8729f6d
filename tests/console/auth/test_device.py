"""The console signs exactly the proof bytes the server checks."""

from __future__ import annotations

import uuid

import pytest

from console.auth import device as console_proof
from console.auth.device import DeviceKey, ProofAction
from server.auth import proof as server_proof
from shared.crypto import verify


@pytest.mark.parametrize("action", list(ProofAction))
def test_the_proof_message_is_byte_for_byte_the_servers(action):
    key = DeviceKey.generate()
    device_id = uuid.uuid4() if action is not ProofAction.ENROLL else None
    token = "krt1_abcdef" if action is ProofAction.REFRESH else None
    ours = console_proof.proof_message(
        action=action,
        nonce="nonce.value",
        public_key=key.public_key,
        device_id=device_id,
        refresh_token=token,
    )
    theirs = server_proof.proof_message(
        action=server_proof.ProofAction(action.value),
        nonce="nonce.value",
        public_key=key.public_key,
        device_id=device_id,
        refresh_token=token,
    )
    assert ours == theirs
    signature = server_proof.b64url_decode(
        key.proof(action, "nonce.value", device_id=device_id, refresh_token=token)
    )
    assert server_proof.proof_is_valid(key.public_key, theirs, signature)


def test_the_key_survives_the_vault_round_trip_and_never_shows_in_its_repr():
    key = DeviceKey.generate()
    again = DeviceKey.from_raw(key.private_bytes())
    assert again.public_key == key.public_key
    assert verify(key.public_key, b"m", again.sign(b"m"))
    assert key.private_bytes().hex() not in repr(key)
