import base64
import datetime as dt
import hashlib
import hmac
import json
import ssl
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from shared import crypto
from shared.crypto import (
    CertificateError,
    DecryptionError,
    KdfParams,
    KeyUnwrapper,
    certificate_fingerprint,
    derive_key_from_password,
    generate_aes_key,
    generate_private_key,
    key_id,
    keyed_hash,
    open_sealed,
    private_key_from_raw,
    private_key_to_raw,
    public_key_from_raw,
    public_key_to_raw,
    seal,
    sign,
    unwrap_key,
    verify,
    wrap_key,
)

VECTORS = Path(__file__).resolve().parents[2] / ".." / "shared" / "vectors"
RFC8032 = json.loads((VECTORS / "rfc8032-ed25519.json").read_text(encoding="utf-8"))["vectors"]
FAST_KDF = KdfParams(time_cost=1, memory_cost=64, parallelism=1)


# --- Ed25519 -------------------------------------------------------------------------------


@pytest.mark.parametrize("vector", RFC8032, ids=lambda v: v["message"] or "empty")
def test_rfc8032_vectors(vector: dict[str, str]) -> None:
    secret = bytes.fromhex(vector["secret_key"])
    public = bytes.fromhex(vector["public_key"])
    message = bytes.fromhex(vector["message"])
    signature = bytes.fromhex(vector["signature"])
    key = private_key_from_raw(secret)
    assert private_key_to_raw(key) == secret
    assert public_key_to_raw(key) == public
    assert public_key_to_raw(public_key_from_raw(public)) == public
    assert sign(secret, message) == signature
    assert sign(key, message) == signature
    assert verify(public, message, signature)


def test_verify_returns_false_for_anything_wrong() -> None:
    vector = RFC8032[1]
    public = bytes.fromhex(vector["public_key"])
    message = bytes.fromhex(vector["message"])
    signature = bytes.fromhex(vector["signature"])
    assert not verify(public, message + b"x", signature)
    assert not verify(public, message, signature[:-1] + bytes([signature[-1] ^ 1]))
    assert not verify(bytes.fromhex(RFC8032[0]["public_key"]), message, signature)
    assert not verify(public, message, signature[:63])
    assert not verify(public, message, signature + b"\x00")
    assert not verify(public[:31], message, signature)
    assert not verify(b"", message, b"")
    assert not verify(b"\xff" * 32, message, signature)
    assert not verify(public, message, b"\xff" * 64)


# The group order L of edwards25519 (RFC 8032, section 5.1).
ED25519_ORDER = 2**252 + 27742317777372353535851937790883648493


def test_verify_refuses_what_plain_verification_lets_through() -> None:
    vector = RFC8032[1]
    public = bytes.fromhex(vector["public_key"])
    message = bytes.fromhex(vector["message"])
    signature = bytes.fromhex(vector["signature"])
    # S + L passes the verification equation too; RFC 8032 requires S < L.
    s_plus_order = int.from_bytes(signature[32:], "little") + ED25519_ORDER
    assert not verify(public, message, signature[:32] + s_plus_order.to_bytes(32, "little"))
    # A small-order key (the identity) with R the identity and S = 0 "signs" everything.
    identity = b"\x01" + b"\x00" * 31
    for anything in (b"", message, b"another message"):
        assert not verify(identity, anything, identity + b"\x00" * 32)


def test_verify_raises_only_on_programmer_error() -> None:
    with pytest.raises(TypeError):
        verify("not bytes", b"", b"")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        verify(b"\x00" * 32, None, b"\x00" * 64)  # type: ignore[arg-type]


def test_generated_keys_sign_and_verify() -> None:
    key = generate_private_key()
    public = public_key_to_raw(key)
    assert len(private_key_to_raw(key)) == 32
    assert verify(public, b"hello", sign(key, b"hello"))
    assert private_key_to_raw(generate_private_key()) != private_key_to_raw(key)


def test_raw_import_rejects_wrong_length() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        private_key_from_raw(b"\x00" * 31)
    with pytest.raises(ValueError, match="32 bytes"):
        public_key_from_raw(b"\x00" * 33)


def test_key_id_is_truncated_sha256_of_raw_public_key() -> None:
    public = bytes.fromhex(RFC8032[0]["public_key"])
    assert key_id(public) == hashlib.sha256(public).hexdigest()[:16]
    assert len(key_id(public)) == 16


# --- AES-256-GCM -----------------------------------------------------------------------------


def test_seal_round_trip_and_layout() -> None:
    key = generate_aes_key()
    blob = seal(key, b"8001015009087", b"client:7/id_number")
    assert blob[0] == crypto.SEAL_VERSION
    assert len(blob) == 1 + 12 + len(b"8001015009087") + 16
    assert open_sealed(key, blob, b"client:7/id_number") == b"8001015009087"
    assert seal(key, b"x", b"") != seal(key, b"x", b""), "nonces must be random"


@given(plaintext=st.binary(max_size=200), aad=st.binary(max_size=50))
@settings(max_examples=50)
def test_seal_round_trip_property(plaintext: bytes, aad: bytes) -> None:
    key = bytes(range(32))
    assert open_sealed(key, seal(key, plaintext, aad), aad) == plaintext


def test_open_sealed_rejects_tampering() -> None:
    key = generate_aes_key()
    blob = seal(key, b"secret", b"ctx")
    for position in range(len(blob)):
        tampered = bytearray(blob)
        tampered[position] ^= 0x01
        with pytest.raises(DecryptionError):
            open_sealed(key, bytes(tampered), b"ctx")
    with pytest.raises(DecryptionError):
        open_sealed(generate_aes_key(), blob, b"ctx")
    with pytest.raises(DecryptionError):
        open_sealed(key, blob, b"other ctx")
    with pytest.raises(DecryptionError):
        open_sealed(key, blob[:-1], b"ctx")
    with pytest.raises(DecryptionError, match="too short"):
        open_sealed(key, blob[:28], b"ctx")
    with pytest.raises(DecryptionError, match="version 2"):
        open_sealed(key, b"\x02" + blob[1:], b"ctx")


def test_seal_rejects_wrong_key_size() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        seal(b"\x00" * 16, b"x", b"")
    with pytest.raises(ValueError, match="32 bytes"):
        open_sealed(b"\x00" * 16, b"\x01" + b"\x00" * 40, b"")


def test_wrap_and_unwrap_key() -> None:
    kek, dek = generate_aes_key(), generate_aes_key()
    wrapped = wrap_key(kek, dek, "tenant:1/field:id_number")
    assert unwrap_key(kek, wrapped, "tenant:1/field:id_number") == dek
    assert unwrap_key(kek, wrap_key(kek, dek, b"raw ctx"), b"raw ctx") == dek
    with pytest.raises(DecryptionError):
        unwrap_key(kek, wrapped, "tenant:2/field:id_number")
    with pytest.raises(DecryptionError):
        unwrap_key(generate_aes_key(), wrapped, "tenant:1/field:id_number")


def test_key_unwrapper_reuses_one_kek_for_many_keys() -> None:
    kek = generate_aes_key()
    unwrapper = KeyUnwrapper(kek)
    keys = {f"customer:{n}": generate_aes_key() for n in range(5)}
    wrapped = {context: wrap_key(kek, dek, context) for context, dek in keys.items()}
    assert {context: unwrapper.unwrap(blob, context) for context, blob in wrapped.items()} == keys
    assert unwrapper.unwrap(bytearray(wrapped["customer:0"]), memoryview(b"customer:0")) == keys["customer:0"]
    with pytest.raises(DecryptionError):
        unwrapper.unwrap(wrapped["customer:0"], "customer:1")
    with pytest.raises(DecryptionError):
        KeyUnwrapper(generate_aes_key()).unwrap(wrapped["customer:0"], "customer:0")
    with pytest.raises(TypeError, match="sealed blob must be bytes"):
        unwrapper.unwrap("not bytes", "customer:0")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="32 bytes"):
        KeyUnwrapper(b"short")


def test_wrapped_key_is_not_a_sealed_field() -> None:
    kek, dek = generate_aes_key(), generate_aes_key()
    wrapped = wrap_key(kek, dek, "ctx")
    with pytest.raises(DecryptionError):
        open_sealed(kek, wrapped, b"ctx")
    with pytest.raises(DecryptionError):
        unwrap_key(kek, seal(kek, dek, b"ctx"), "ctx")


def test_wrap_key_requires_a_32_byte_data_key() -> None:
    with pytest.raises(ValueError, match="data key"):
        wrap_key(generate_aes_key(), b"short", "ctx")


# --- Keyed hash ------------------------------------------------------------------------------


def test_keyed_hash_definition() -> None:
    key = bytes(range(32))
    expected = hmac.new(key, b"\x00\x09id_number" + b"8001015009087", hashlib.sha256).digest()
    assert keyed_hash(key, "8001015009087", "id_number") == expected
    assert keyed_hash(key, b"8001015009087", "id_number") == expected


def test_keyed_hash_separates_domains_and_keys() -> None:
    key = bytes(range(32))
    base = keyed_hash(key, "value", "email")
    assert keyed_hash(key, "value", "phone") != base
    assert keyed_hash(bytes(32), "value", "email") != base
    # The length prefix keeps the domain/value boundary unambiguous.
    assert keyed_hash(key, "ab", "x") != keyed_hash(key, "b", "xa")


def test_keyed_hash_rejects_weak_arguments() -> None:
    with pytest.raises(ValueError, match="at least 32"):
        keyed_hash(b"short", "v", "d")
    with pytest.raises(ValueError, match="domain"):
        keyed_hash(bytes(32), "v", "")


# --- Argon2id --------------------------------------------------------------------------------


def test_default_kdf_params_are_rfc9106_second_recommendation() -> None:
    params = KdfParams()
    assert (params.time_cost, params.memory_cost, params.parallelism) == (3, 65536, 4)


def test_derive_key_is_argon2id_with_the_given_parameters() -> None:
    salt = b"0123456789abcdef"
    key = derive_key_from_password("correct horse", salt, FAST_KDF)
    assert len(key) == 32
    assert key == derive_key_from_password("correct horse", salt, FAST_KDF)
    salt_b64 = base64.b64encode(salt).decode().rstrip("=")
    key_b64 = base64.b64encode(key).decode().rstrip("=")
    encoded = f"$argon2id$v=19$m=64,t=1,p=1${salt_b64}${key_b64}"
    assert PasswordHasher().verify(encoded, "correct horse")


def test_derive_key_depends_on_every_input() -> None:
    salt = b"0123456789abcdef"
    base = derive_key_from_password("pw", salt, FAST_KDF)
    assert derive_key_from_password("pw2", salt, FAST_KDF) != base
    assert derive_key_from_password("pw", b"fedcba9876543210", FAST_KDF) != base
    assert derive_key_from_password("pw", salt, KdfParams(time_cost=2, memory_cost=64, parallelism=1)) != base


def test_derive_key_rejects_short_salt() -> None:
    with pytest.raises(ValueError, match="salt"):
        derive_key_from_password("pw", b"short", FAST_KDF)


def test_kdf_params_dict_round_trip() -> None:
    params = KdfParams()
    data = params.to_dict()
    assert data == {"time_cost": 3, "memory_cost": 65536, "parallelism": 4, "version": "argon2id-v19"}
    assert KdfParams.from_dict(json.loads(json.dumps(data))) == params
    owasp = KdfParams(time_cost=2, memory_cost=19456, parallelism=1)
    assert KdfParams.from_dict(owasp.to_dict()) == owasp


@pytest.mark.parametrize(
    "data",
    [
        {"time_cost": 1, "memory_cost": 65536, "parallelism": 4, "version": "argon2id-v19"},
        {"time_cost": 3, "memory_cost": 1024, "parallelism": 1, "version": "argon2id-v19"},
        {"time_cost": 3, "memory_cost": 65536 * 1024, "parallelism": 4, "version": "argon2id-v19"},
        {"time_cost": 3, "memory_cost": 65536, "parallelism": 4, "version": "argon2i-v19"},
        {"time_cost": "3", "memory_cost": 65536, "parallelism": 4, "version": "argon2id-v19"},
        {"time_cost": True, "memory_cost": 65536, "parallelism": 4, "version": "argon2id-v19"},
        {"time_cost": 3, "memory_cost": 65536, "parallelism": 4},
        {"time_cost": 3, "memory_cost": 65536, "parallelism": 4, "version": "argon2id-v19", "x": 1},
    ],
)
def test_kdf_params_from_dict_rejects_bad_data(data: dict[str, Any]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - several distinct messages
        KdfParams.from_dict(data)


def test_kdf_params_reject_impossible_costs() -> None:
    with pytest.raises(ValueError, match="positive"):
        KdfParams(time_cost=0)
    with pytest.raises(ValueError, match="8 \\* parallelism"):
        KdfParams(memory_cost=16, parallelism=4)


# --- Certificates ----------------------------------------------------------------------------


def _self_signed_certificate() -> x509.Certificate:
    key = Ed25519PrivateKey.generate()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kluis.test")])
    now = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, None)
    )


def test_certificate_fingerprint_of_pem_and_der() -> None:
    certificate = _self_signed_certificate()
    der = certificate.public_bytes(serialization.Encoding.DER)
    pem = certificate.public_bytes(serialization.Encoding.PEM)
    digest = hashlib.sha256(der).digest()
    expected = "SHA256:" + ":".join(f"{b:02X}" for b in digest)
    assert certificate_fingerprint(der) == expected
    assert certificate_fingerprint(pem) == expected
    assert hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem.decode())).digest() == digest
    assert certificate.fingerprint(hashes.SHA256()) == digest
    assert len(expected) == len("SHA256:") + 32 * 3 - 1


@pytest.mark.parametrize("data", [b"", b"not a certificate", b"-----BEGIN CERTIFICATE-----\nAAAA\n"])
def test_certificate_fingerprint_rejects_garbage(data: bytes) -> None:
    with pytest.raises(CertificateError):
        certificate_fingerprint(data)
