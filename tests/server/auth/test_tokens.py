"""Access tokens and nonces: every way of forging or bending one is refused."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from server.auth.keystore import SigningKeyRing
from server.auth.tokens import ACCESS_CLAIMS, ACCESS_TYP, NONCE_TYP, TokenCodec, TokenError
from shared.crypto import public_key_to_raw

NOW = dt.datetime(2026, 11, 28, 8, 0, tzinfo=dt.UTC)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ring() -> SigningKeyRing:
    return SigningKeyRing.ephemeral("token-signing")


@pytest.fixture
def codec(ring, clock) -> TokenCodec:
    return TokenCodec(
        ring, issuer="kluis", audience="kluis-api", access_lifetime=dt.timedelta(minutes=5), clock=clock
    )


def issue(codec: TokenCodec) -> str:
    return codec.issue_access(
        user_id=uuid.uuid4(),
        session_id=uuid.uuid4(),
        device_id=uuid.uuid4(),
        branch_id=uuid.uuid4(),
        roles=("teller",),
        user_epoch=3,
        device_epoch=1,
    ).token


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def parts(token: str) -> tuple[dict, dict, str]:
    header, payload, signature = token.split(".")
    pad = lambda text: text + "=" * (-len(text) % 4)  # noqa: E731
    return (
        json.loads(base64.urlsafe_b64decode(pad(header))),
        json.loads(base64.urlsafe_b64decode(pad(payload))),
        signature,
    )


def assemble(header: dict, payload: dict, signature: str) -> str:
    encode = lambda value: b64(json.dumps(value, separators=(",", ":")).encode())  # noqa: E731
    return f"{encode(header)}.{encode(payload)}.{signature}"


def rejected(codec: TokenCodec, token: str, code: str = "invalid_token") -> None:
    with pytest.raises(TokenError) as caught:
        codec.verify_access(token)
    assert caught.value.code == code


def test_a_genuine_token_verifies_with_all_its_claims(codec, ring):
    token = issue(codec)
    header, payload, _ = parts(token)
    assert header == {"alg": "EdDSA", "typ": "at+jwt", "kid": ring.current.key_id}
    assert set(payload) == set(ACCESS_CLAIMS)
    claims = codec.verify_access(token)
    assert claims.roles == ("teller",)
    assert (claims.user_epoch, claims.device_epoch) == (3, 1)
    assert claims.expires_at - claims.issued_at == dt.timedelta(minutes=5)


def test_alg_none_is_refused(codec):
    header, payload, _ = parts(issue(codec))
    rejected(codec, assemble({**header, "alg": "none"}, payload, ""))
    rejected(
        codec, jwt.encode(payload, None, algorithm="none", headers={"typ": ACCESS_TYP, "kid": header["kid"]})
    )


def test_hs256_keyed_with_the_public_key_is_refused(codec, ring):
    header, payload, _ = parts(issue(codec))
    public_raw = public_key_to_raw(ring.current.private)
    forged_header = {**header, "alg": "HS256"}
    public_pem = ring.current.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    for secret in (public_raw, public_pem):
        signing_input = assemble(forged_header, payload, "").rsplit(".", 1)[0]
        mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        rejected(codec, f"{signing_input}.{b64(mac)}")


def test_a_token_signed_by_another_key_is_refused(codec, clock):
    stranger = TokenCodec(
        SigningKeyRing.ephemeral("token-signing"),
        issuer="kluis",
        audience="kluis-api",
        access_lifetime=dt.timedelta(minutes=5),
        clock=clock,
    )
    rejected(codec, issue(stranger))
    # The same stranger's token carrying our key id: the signature does not verify.
    header, payload, signature = parts(issue(stranger))
    rejected(codec, assemble({**header, "kid": codec.keys.current.key_id}, payload, signature))


def test_a_tampered_payload_is_refused(codec):
    header, payload, signature = parts(issue(codec))
    rejected(codec, assemble(header, {**payload, "roles": ["admin"]}, signature))


def test_expiry_is_checked_against_the_clock_with_a_small_leeway(codec, clock):
    token = issue(codec)
    clock.now = NOW + dt.timedelta(minutes=5, seconds=29)
    codec.verify_access(token)
    clock.now = NOW + dt.timedelta(minutes=5, seconds=30)
    rejected(codec, token, "token_expired")


def test_a_token_from_the_future_is_refused(codec, clock):
    token = issue(codec)
    clock.now = NOW - dt.timedelta(minutes=1)
    rejected(codec, token)


@pytest.mark.parametrize(("field", "value"), [("aud", "another-api"), ("iss", "someone-else")])
def test_wrong_audience_or_issuer_is_refused(codec, ring, field, value):
    header, payload, _ = parts(issue(codec))
    payload[field] = value
    rejected(codec, jwt.encode(payload, ring.current.private, algorithm="EdDSA", headers=header))


@pytest.mark.parametrize("claim", ACCESS_CLAIMS)
def test_every_claim_is_required(codec, ring, claim):
    header, payload, _ = parts(issue(codec))
    del payload[claim]
    rejected(codec, jwt.encode(payload, ring.current.private, algorithm="EdDSA", headers=header))


@pytest.mark.parametrize(
    ("claim", "value"),
    [
        ("sub", "not-a-uuid"),
        ("roles", "teller"),
        ("uep", -1),
        ("dep", "1"),
        ("exp", "soon"),
        ("jti", "short"),
    ],
)
def test_malformed_claims_are_refused(codec, ring, claim, value):
    header, payload, _ = parts(issue(codec))
    payload[claim] = value
    rejected(codec, jwt.encode(payload, ring.current.private, algorithm="EdDSA", headers=header))


@pytest.mark.parametrize("typ", [None, "JWT", NONCE_TYP])
def test_the_token_type_must_be_an_access_token(codec, ring, typ):
    header, payload, _ = parts(issue(codec))
    if typ is None:
        del header["typ"]
    else:
        header["typ"] = typ
    rejected(codec, jwt.encode(payload, ring.current.private, algorithm="EdDSA", headers=header))


def test_an_unknown_key_id_is_refused(codec, ring):
    header, payload, _ = parts(issue(codec))
    rejected(
        codec,
        jwt.encode(payload, ring.current.private, algorithm="EdDSA", headers={**header, "kid": "0" * 16}),
    )


def test_garbage_and_oversized_tokens_are_refused(codec):
    for token in ("", "abc", "a.b.c", "é.é.é", "x" * 5000):
        rejected(codec, token)


def test_a_nonce_is_not_an_access_token_and_an_access_token_is_not_a_nonce(codec):
    nonce = codec.issue_nonce().token
    rejected(codec, nonce)
    with pytest.raises(TokenError):
        codec.verify_nonce(issue(codec))
    jti, expires_at = codec.verify_nonce(nonce)
    assert len(jti) == 32
    assert expires_at == NOW + dt.timedelta(seconds=120)


def test_keys_in_the_accepted_list_verify_during_a_rotation(clock):
    old = SigningKeyRing.ephemeral("token-signing")
    new_with_old_accepted = SigningKeyRing(
        purpose="token-signing",
        current=SigningKeyRing.ephemeral("token-signing").current,
        accepted={},
    )
    accepted = {
        new_with_old_accepted.current.key_id: new_with_old_accepted.current.private.public_key(),
        old.current.key_id: old.current.private.public_key(),
    }
    rotated = SigningKeyRing("token-signing", new_with_old_accepted.current, accepted)
    old_codec = TokenCodec(
        old, issuer="kluis", audience="kluis-api", access_lifetime=dt.timedelta(minutes=5), clock=clock
    )
    new_codec = TokenCodec(
        rotated, issuer="kluis", audience="kluis-api", access_lifetime=dt.timedelta(minutes=5), clock=clock
    )
    new_codec.verify_access(issue(old_codec))
    assert parts(issue(new_codec))[0]["kid"] == rotated.current.key_id
