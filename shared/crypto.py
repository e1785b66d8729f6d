"""Typed wrappers over ``cryptography``, ``argon2-cffi`` and ``PyNaCl`` for the primitives Kluis uses.

* Ed25519 signatures with raw 32-byte keys (RFC 8032): made with ``cryptography`` (OpenSSL),
  checked with libsodium, which verifies about 1.7 times as fast on this project's machines
  and is stricter: it also refuses small-order keys and nonces and non-canonical encodings,
  so whatever Kluis accepts, OpenSSL-based tools accept too.
* AES-256-GCM sealing of field values in a small versioned envelope, and key wrapping on top.
* HMAC-SHA256 keyed hashes for exact-match search over encrypted fields.
* Argon2id (RFC 9106) for deriving the console's offline unlock key from a password.
* SHA-256 certificate fingerprints for pinning.

Programmer errors (wrong key length, wrong argument type) raise ``ValueError``/``TypeError``.
Untrusted input never does: :func:`verify` answers ``False`` and :func:`open_sealed` raises
:class:`DecryptionError`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import asdict, dataclass
from typing import Any, Final

from argon2.low_level import Type, hash_secret_raw
from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from nacl.bindings import crypto_sign_open
from nacl.exceptions import BadSignatureError

__all__ = [
    "AES_KEY_SIZE",
    "ED25519_KEY_SIZE",
    "ED25519_SIGNATURE_SIZE",
    "KDF_ARGON2ID_V19",
    "NONCE_SIZE",
    "SEAL_VERSION",
    "CertificateError",
    "DecryptionError",
    "KdfParams",
    "KeyUnwrapper",
    "certificate_fingerprint",
    "derive_key_from_password",
    "generate_aes_key",
    "generate_private_key",
    "key_id",
    "keyed_hash",
    "open_sealed",
    "private_key_from_raw",
    "private_key_to_raw",
    "public_key_from_raw",
    "public_key_to_raw",
    "seal",
    "sign",
    "unwrap_key",
    "verify",
    "wrap_key",
]

ED25519_KEY_SIZE: Final = 32
ED25519_SIGNATURE_SIZE: Final = 64
AES_KEY_SIZE: Final = 32
NONCE_SIZE: Final = 12
SEAL_VERSION: Final = 1
"""Envelope version 1: ``0x01 || nonce (12) || AES-256-GCM ciphertext || tag (16)``."""

_TAG_SIZE: Final = 16
_WRAP_LABEL: Final = b"kluis/wrap-key/v1\x00"
_KEYED_HASH_MIN_KEY: Final = 32


class DecryptionError(Exception):
    """A sealed blob could not be opened: tampered, wrong key, wrong associated data, or an
    envelope version this code does not know.  The message never says which."""


class CertificateError(ValueError):
    """Bytes given as a certificate are neither a PEM nor a DER X.509 certificate."""


_BYTES_LIKE: Final = (bytes, bytearray, memoryview)


def _require_bytes(value: object, name: str) -> bytes:
    if type(value) is bytes:
        return value
    if not isinstance(value, _BYTES_LIKE):
        raise TypeError(f"{name} must be bytes, not {type(value).__name__}")
    return bytes(value)


def _require_key(key: object, name: str, size: int) -> bytes:
    raw = _require_bytes(key, name)
    if len(raw) != size:
        raise ValueError(f"{name} must be {size} bytes, got {len(raw)}")
    return raw


# --- Ed25519 -------------------------------------------------------------------------------


def generate_private_key() -> Ed25519PrivateKey:
    """A fresh Ed25519 private key from the operating system's CSPRNG."""
    return Ed25519PrivateKey.generate()


def private_key_from_raw(raw: bytes) -> Ed25519PrivateKey:
    """Import the 32-byte RFC 8032 private key (the seed)."""
    return Ed25519PrivateKey.from_private_bytes(_require_key(raw, "Ed25519 private key", ED25519_KEY_SIZE))


def private_key_to_raw(key: Ed25519PrivateKey) -> bytes:
    """Export the 32-byte RFC 8032 private key (the seed)."""
    return key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )


def public_key_from_raw(raw: bytes) -> Ed25519PublicKey:
    """Import a 32-byte public key; ``ValueError`` if it is the wrong length or not a point."""
    return Ed25519PublicKey.from_public_bytes(_require_key(raw, "Ed25519 public key", ED25519_KEY_SIZE))


def public_key_to_raw(key: Ed25519PublicKey | Ed25519PrivateKey) -> bytes:
    """Export the 32-byte public key of a public or private key."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def sign(private: Ed25519PrivateKey | bytes, message: bytes) -> bytes:
    """The 64-byte Ed25519 signature of *message*; deterministic per RFC 8032."""
    key = private if isinstance(private, Ed25519PrivateKey) else private_key_from_raw(private)
    return key.sign(_require_bytes(message, "message"))


def verify(public_raw: bytes, message: bytes, signature: bytes) -> bool:
    """Whether *signature* is a valid Ed25519 signature of *message* by *public_raw*.

    Any malformed key or signature simply yields ``False``; only non-bytes arguments raise.
    """
    public_raw = _require_bytes(public_raw, "public key")
    message = _require_bytes(message, "message")
    signature = _require_bytes(signature, "signature")
    return _ed25519_valid(public_raw, message, signature)


def _ed25519_valid(public_raw: bytes, message: bytes, signature: bytes) -> bool:
    # libsodium reads exactly 32 key bytes and takes the first 64 signed bytes as the
    # signature, so both lengths are checked here, before it sees them.
    if len(public_raw) != ED25519_KEY_SIZE or len(signature) != ED25519_SIGNATURE_SIZE:
        return False
    try:
        crypto_sign_open(signature + message, public_raw)
    except BadSignatureError:
        return False
    return True


def key_id(public_raw: bytes) -> str:
    """Short identifier of a public key for logs and key lists: the first 8 bytes of
    SHA-256 over the raw 32-byte public key, as 16 lower-case hex digits.

    It names a key; it does not authenticate one (collisions can be forged in ~2**32 work
    with birthday search), so never use it in place of comparing the full key.
    """
    raw = _require_key(public_raw, "Ed25519 public key", ED25519_KEY_SIZE)
    return hashlib.sha256(raw).digest()[:8].hex()


# --- AES-256-GCM envelope --------------------------------------------------------------------


def generate_aes_key() -> bytes:
    """A fresh random 32-byte AES-256 key."""
    return secrets.token_bytes(AES_KEY_SIZE)


def seal(key: bytes, plaintext: bytes, associated_data: bytes) -> bytes:
    """Encrypt and authenticate *plaintext*, binding it to *associated_data*.

    The result is ``version (1) || nonce (12) || ciphertext || tag (16)``.  Nonces are random,
    so one key must not seal more than about 2**32 messages (NIST SP 800-38D section 8.3).
    The version byte is authenticated too, by prefixing it to the associated data.
    """
    aes = AESGCM(_require_key(key, "AES key", AES_KEY_SIZE))
    header = bytes([SEAL_VERSION])
    nonce = secrets.token_bytes(NONCE_SIZE)
    aad = header + _require_bytes(associated_data, "associated data")
    return header + nonce + aes.encrypt(nonce, _require_bytes(plaintext, "plaintext"), aad)


def open_sealed(key: bytes, blob: bytes, associated_data: bytes) -> bytes:
    """Reverse :func:`seal`; :class:`DecryptionError` for anything that does not authenticate."""
    return _open(AESGCM(_require_key(key, "AES key", AES_KEY_SIZE)), blob, associated_data)


def _open(aes: AESGCM, blob: bytes, associated_data: bytes) -> bytes:
    blob = _require_bytes(blob, "sealed blob")
    associated_data = _require_bytes(associated_data, "associated data")
    if len(blob) < 1 + NONCE_SIZE + _TAG_SIZE:
        raise DecryptionError("sealed blob is too short")
    if blob[0] != SEAL_VERSION:
        raise DecryptionError(f"unknown sealed envelope version {blob[0]}")
    nonce = blob[1 : 1 + NONCE_SIZE]
    try:
        return aes.decrypt(nonce, blob[1 + NONCE_SIZE :], blob[:1] + associated_data)
    except InvalidTag:
        raise DecryptionError("sealed blob failed authentication") from None


def _wrap_aad(context: str | bytes) -> bytes:
    raw = context.encode("utf-8") if isinstance(context, str) else _require_bytes(context, "context")
    # The label keeps a wrapped key from ever opening as a sealed field with the same context.
    return _WRAP_LABEL + raw


def wrap_key(kek: bytes, dek: bytes, context: str | bytes) -> bytes:
    """Seal the 32-byte data key *dek* under the key-encryption key *kek*.

    *context* (for example ``"tenant:42/field:id_number"``) is authenticated, so a wrapped key
    only unwraps for the purpose it was made for.
    """
    return seal(kek, _require_key(dek, "data key", AES_KEY_SIZE), _wrap_aad(context))


def unwrap_key(kek: bytes, wrapped: bytes, context: str | bytes) -> bytes:
    """Reverse :func:`wrap_key`; :class:`DecryptionError` on any mismatch."""
    return KeyUnwrapper(kek).unwrap(wrapped, context)


class KeyUnwrapper:
    """:func:`unwrap_key` under one key-encryption key, set up once for many data keys."""

    def __init__(self, kek: bytes) -> None:
        self._aes = AESGCM(_require_key(kek, "AES key", AES_KEY_SIZE))

    def unwrap(self, wrapped: bytes, context: str | bytes) -> bytes:
        dek = _open(self._aes, wrapped, _wrap_aad(context))
        if len(dek) != AES_KEY_SIZE:
            raise DecryptionError("unwrapped key has the wrong length")
        return dek


# --- Keyed hash -----------------------------------------------------------------------------


def keyed_hash(key: bytes, value: str | bytes, domain: str) -> bytes:
    """HMAC-SHA256 of *value* under *key*, separated by *domain*, for blind exact-match search.

    The HMAC input is ``len(domain) as 2 bytes big-endian || domain (UTF-8) || value``, so
    equal values in different domains (``"id_number"``, ``"email"``) never collide.  Strings are
    hashed as UTF-8 without normalisation: callers must normalise (case, spaces, NFC) first.
    """
    raw_key = _require_bytes(key, "key")
    if len(raw_key) < _KEYED_HASH_MIN_KEY:
        raise ValueError(f"keyed hash key must be at least {_KEYED_HASH_MIN_KEY} bytes")
    label = domain.encode("utf-8")
    if not label or len(label) > 0xFFFF:
        raise ValueError("domain must be a non-empty string of at most 65535 UTF-8 bytes")
    data = value.encode("utf-8") if isinstance(value, str) else _require_bytes(value, "value")
    mac = hmac.new(raw_key, len(label).to_bytes(2, "big"), hashlib.sha256)
    mac.update(label)
    mac.update(data)
    return mac.digest()


# --- Password-based key derivation ----------------------------------------------------------

KDF_ARGON2ID_V19: Final = "argon2id-v19"
"""Version tag: Argon2id, algorithm version 0x13 (19), 32-byte output."""

_KDF_OUTPUT_SIZE: Final = 32
_MIN_SALT_SIZE: Final = 16
# Floors and ceilings for parameters read back from storage: below the OWASP minimum is a
# downgrade, above the ceilings a stored file could make the console hang or run out of memory.
_FLOOR = {"time_cost": 2, "memory_cost": 19 * 1024, "parallelism": 1}
_CEILING = {"time_cost": 20, "memory_cost": 1024 * 1024, "parallelism": 16}


@dataclass(frozen=True)
class KdfParams:
    """Argon2id cost parameters, stored beside the salt so a vault can always be reopened.

    The defaults are the second recommended option of RFC 9106 section 4: t=3 passes over
    m=64 MiB with p=4 lanes.  The console derives this key once per offline unlock on a desktop
    machine, so a few hundred milliseconds and 64 MiB are affordable, and they cost an attacker
    guessing passwords more than OWASP's server-side minimum (m=19 MiB, t=2, p=1), which is
    sized for servers doing many logins at once.  :meth:`from_dict` refuses anything below that
    minimum.
    """

    time_cost: int = 3
    memory_cost: int = 64 * 1024
    """In KiB."""
    parallelism: int = 4
    version: str = KDF_ARGON2ID_V19

    def __post_init__(self) -> None:
        for name in ("time_cost", "memory_cost", "parallelism"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"KdfParams.{name} must be a positive integer, got {value!r}")
        if self.memory_cost < 8 * self.parallelism:
            raise ValueError("Argon2 needs memory_cost >= 8 * parallelism KiB")
        if self.version != KDF_ARGON2ID_V19:
            raise ValueError(f"unknown KDF version tag {self.version!r}")

    def to_dict(self) -> dict[str, int | str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> KdfParams:
        """Rebuild stored parameters, refusing unknown fields and unsafe or absurd costs."""
        expected = {"time_cost", "memory_cost", "parallelism", "version"}
        if set(data) != expected:
            raise ValueError(f"KDF parameters must have exactly the fields {sorted(expected)}")
        params = cls(**data)
        for name, floor in _FLOOR.items():
            value = getattr(params, name)
            if not floor <= value <= _CEILING[name]:
                raise ValueError(f"KDF {name}={value} is outside {floor}..{_CEILING[name]}")
        return params


def derive_key_from_password(password: str, salt: bytes, params: KdfParams) -> bytes:
    """A 32-byte key from *password* with Argon2id; *salt* must be at least 16 random bytes.

    The password is encoded as UTF-8 exactly as given; normalise it (NFC) before calling if it
    may be typed on different keyboards.
    """
    salt = _require_bytes(salt, "salt")
    if len(salt) < _MIN_SALT_SIZE:
        raise ValueError(f"salt must be at least {_MIN_SALT_SIZE} bytes")
    if not isinstance(params, KdfParams):
        raise TypeError("params must be KdfParams")
    return hash_secret_raw(
        secret=password.encode("utf-8"),
        salt=salt,
        time_cost=params.time_cost,
        memory_cost=params.memory_cost,
        parallelism=params.parallelism,
        hash_len=_KDF_OUTPUT_SIZE,
        type=Type.ID,
        version=19,
    )


# --- Certificates ---------------------------------------------------------------------------


def certificate_fingerprint(pem_or_der: bytes) -> str:
    """``SHA256:AB:CD:...``: SHA-256 of the certificate's DER encoding, upper-case hex pairs.

    Accepts one PEM certificate (recognised by its ``-----BEGIN`` armour) or raw DER.
    """
    data = _require_bytes(pem_or_der, "certificate")
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            certificate = x509.load_pem_x509_certificate(data)
        else:
            certificate = x509.load_der_x509_certificate(data)
    except ValueError as exc:
        raise CertificateError(f"not an X.509 certificate: {exc}") from exc
    digest = certificate.fingerprint(hashes.SHA256())
    return "SHA256:" + ":".join(f"{byte:02X}" for byte in digest)
