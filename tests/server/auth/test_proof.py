"""The device proof message, byte for byte, and strict base64url."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from server.auth.proof import ProofAction, b64url_decode, b64url_encode, proof_is_valid, proof_message
from shared.crypto import private_key_from_raw, public_key_to_raw, sign

SEED = bytes(range(32))


def test_the_refresh_message_is_canonical_json_with_exactly_these_bytes():
    key = private_key_from_raw(SEED)
    public = public_key_to_raw(key)
    message = proof_message(
        action=ProofAction.REFRESH,
        nonce="n0nce",
        public_key=public,
        device_id=uuid.UUID("00000000-0000-4000-8000-000000000001"),
        refresh_token="krt1_abc",
    )
    assert message == (
        b'{"action":"refresh","context":"kluis-device-proof-v1",'
        b'"device_id":"00000000-0000-4000-8000-000000000001","nonce":"n0nce",'
        b'"public_key":"A6EHv_POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg",'
        b'"refresh_token_sha256":"8e1325ff1746cb19b383ee3801cc42e3641e9a657dd291dd9aed339942fd3ae9"}'
    )
    # Ed25519 is deterministic: docs/api-auth.md quotes this signature for the same example.
    signature = sign(key, message)
    assert b64url_encode(signature) == (
        "mDeZhLMTV70YcYUgNIplodW0GWgPQsLDA7q-ncawAWm_tCq5Q7KIZdZswVISBlLc5sx24l-Z0prqBP0PzsQgDA"
    )
    assert proof_is_valid(public, message, signature)
    guide = (Path(__file__).resolve().parents[3] / "docs" / "api-auth.md").read_text()
    assert message.decode() in guide
    assert b64url_encode(signature) in guide


def test_the_enroll_message_has_empty_device_and_token_fields():
    key = private_key_from_raw(SEED)
    message = proof_message(action=ProofAction.ENROLL, nonce="n", public_key=public_key_to_raw(key))
    assert b'"device_id":""' in message
    assert b'"refresh_token_sha256":""' in message
    assert b'"action":"enroll"' in message


def test_a_signature_over_another_action_or_nonce_does_not_hold():
    key = private_key_from_raw(SEED)
    public = public_key_to_raw(key)
    signed = sign(key, proof_message(action=ProofAction.ENROLL, nonce="n", public_key=public))
    for other in (
        proof_message(action=ProofAction.SIGN_IN, nonce="n", public_key=public),
        proof_message(action=ProofAction.ENROLL, nonce="m", public_key=public),
    ):
        assert not proof_is_valid(public, other, signed)


def test_a_small_order_key_cannot_prove_possession():
    """The identity point as a key, with R the identity and S = 0, satisfies the plain
    verification equation for every message (OpenSSL accepts it): enrolling such a key would
    let anyone make events that verify as that device's."""
    identity = b"\x01" + b"\x00" * 31
    message = proof_message(action=ProofAction.ENROLL, nonce="n", public_key=identity)
    assert not proof_is_valid(identity, message, identity + b"\x00" * 32)


@pytest.mark.parametrize("text", ["AA==", "A", "A+/A", "AB", "A B", "Zm9v="])
def test_base64url_is_strict(text):
    with pytest.raises(ValueError, match="base64url"):
        b64url_decode(text)


def test_base64url_round_trips():
    for size in range(0, 70):
        data = bytes(range(size))
        assert b64url_decode(b64url_encode(data)) == data


@pytest.mark.parametrize(
    ("action", "device_id", "expected"),
    [
        (
            ProofAction.ENROLL,
            None,
            "GygdjqkOUlBvErFksbw9_zZuxh8Vtvfm0yYdFVNyITbUPd1j0XU-lnIIBw3XLvTl-JPhlmdedSV-VxGbiPQ3AQ",
        ),
        (
            ProofAction.SIGN_IN,
            uuid.UUID("00000000-0000-4000-8000-000000000001"),
            "thz9L1W0GAjB5z1O4XnF3wAoI9v_LXKjX08pDm3PCjZ5z5zX3dl4c_s60yZDvC2ylBSqNp1Z7YmilsX5qVABAQ",
        ),
    ],
)
def test_the_worked_examples_in_the_api_guide(action, device_id, expected):
    """docs/api-auth.md quotes these messages and signatures."""
    key = private_key_from_raw(SEED)
    message = proof_message(
        action=action, nonce="n0nce", public_key=public_key_to_raw(key), device_id=device_id
    )
    guide = (Path(__file__).resolve().parents[3] / "docs" / "api-auth.md").read_text()
    assert message.decode() in guide
    assert b64url_encode(sign(key, message)) == expected
    assert expected in guide
