"""The server's own keys, each named by a purpose and identified by a key id.

* Signing keys (Ed25519): ``token-signing`` now; the audit log adds ``log-signing`` the same
  way (:func:`load_signing_key_ring` with another purpose and its own settings).  A key ring is
  the current private key plus the public keys still accepted while a rotation completes.
* Sealing keys (AES-256): ``mfa-secrets`` encrypts TOTP secrets at rest.

A configured file is loaded and must exist; without one the key lives in ``DATA_DIR/keys``
and is created, mode 0600 and atomically, on first start.  Several instances behind one
database must be configured with the same files."""

from __future__ import annotations

import base64
import hashlib
import logging
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from server.config import Settings
from server.files import write_private_file
from server.logs import fields
from shared.crypto import AES_KEY_SIZE, generate_aes_key, generate_private_key, key_id, public_key_to_raw

logger = logging.getLogger("kluis.keys")

TOKEN_SIGNING = "token-signing"  # noqa: S105 (the name of a key purpose)
MFA_SECRETS = "mfa-secrets"
_SEALING_HEADER = "kluis-sealing-key-v1:"


class KeySetupError(Exception):
    """A key file is missing, unreadable or not the right kind of key; the message names it."""


@dataclass(frozen=True)
class SigningKey:
    key_id: str
    private: Ed25519PrivateKey
    public_raw: bytes


@dataclass(frozen=True)
class SigningKeyRing:
    purpose: str
    current: SigningKey
    accepted: Mapping[str, Ed25519PublicKey]
    """Key id to public key, the current key included."""

    def public_key(self, kid: str) -> Ed25519PublicKey | None:
        return self.accepted.get(kid)

    @classmethod
    def ephemeral(cls, purpose: str) -> SigningKeyRing:
        """A ring with a fresh key held only in memory (tests, benchmarks)."""
        return _ring(purpose, _signing_key(generate_private_key()), [])


@dataclass(frozen=True)
class SealingKey:
    purpose: str
    key_id: str
    key: bytes

    @classmethod
    def ephemeral(cls, purpose: str) -> SealingKey:
        return _sealing_key(purpose, generate_aes_key())


@dataclass(frozen=True)
class ServerKeys:
    token: SigningKeyRing
    mfa: SealingKey

    @classmethod
    def load(cls, settings: Settings) -> ServerKeys:
        keys_dir = settings.data_dir / "keys"
        return cls(
            token=load_signing_key_ring(
                TOKEN_SIGNING,
                keys_dir=keys_dir,
                key_file=settings.token_signing_key_file,
                accepted_public_files=[Path(name) for name in settings.token_verification_key_files],
            ),
            mfa=load_sealing_key(MFA_SECRETS, keys_dir=keys_dir, key_file=settings.mfa_secret_key_file),
        )

    @classmethod
    def ephemeral(cls) -> ServerKeys:
        return cls(token=SigningKeyRing.ephemeral(TOKEN_SIGNING), mfa=SealingKey.ephemeral(MFA_SECRETS))


def _signing_key(private: Ed25519PrivateKey) -> SigningKey:
    public_raw = public_key_to_raw(private)
    return SigningKey(key_id=key_id(public_raw), private=private, public_raw=public_raw)


def _ring(purpose: str, current: SigningKey, others: Sequence[Ed25519PublicKey]) -> SigningKeyRing:
    accepted = {key_id(public_key_to_raw(public)): public for public in others}
    accepted[current.key_id] = current.private.public_key()
    return SigningKeyRing(purpose=purpose, current=current, accepted=accepted)


def _sealing_key(purpose: str, key: bytes) -> SealingKey:
    digest = hashlib.sha256(b"kluis/sealing-key-id\x00" + key).digest()
    return SealingKey(purpose=purpose, key_id=digest[:8].hex(), key=key)


def _read(path: Path, what: str) -> bytes:
    try:
        data = path.read_bytes()
        mode = path.stat().st_mode
    except OSError as exc:
        raise KeySetupError(f"cannot read the {what} {path}: {exc.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO) and what.endswith("private key"):
        logger.warning("a private key file is readable by other users", extra=fields(path=str(path)))
    return data


def _pem_private_key(path: Path, purpose: str) -> Ed25519PrivateKey:
    data = _read(path, f"{purpose} private key")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise KeySetupError(f"{path} is not an unencrypted PEM private key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeySetupError(f"{path} is not an Ed25519 private key")
    return key


def _pem_public_key(path: Path, purpose: str) -> Ed25519PublicKey:
    data = _read(path, f"{purpose} public key")
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise KeySetupError(f"{path} is not a PEM public key: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeySetupError(f"{path} is not an Ed25519 public key")
    return key


def load_signing_key_ring(
    purpose: str, *, keys_dir: Path, key_file: Path | None, accepted_public_files: Sequence[Path] = ()
) -> SigningKeyRing:
    """The ring for ``purpose``: the configured key, or ``keys_dir/<purpose>.pem`` (created on
    first use), plus the extra public keys accepted for verification."""
    if key_file is not None:
        private = _pem_private_key(key_file, purpose)
    else:
        path = keys_dir / f"{purpose}.pem"
        if path.exists():
            private = _pem_private_key(path, purpose)
        else:
            private = generate_private_key()
            pem = private.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            write_private_file(path, pem)
            logger.info(
                "created a signing key",
                extra=fields(kind=purpose, key_id=key_id(public_key_to_raw(private)), path=str(path)),
            )
    others = [_pem_public_key(path, purpose) for path in accepted_public_files]
    return _ring(purpose, _signing_key(private), others)


def load_sealing_key(purpose: str, *, keys_dir: Path, key_file: Path | None) -> SealingKey:
    """The AES-256 key for ``purpose``: a text file ``kluis-sealing-key-v1:<base64>``."""
    path = key_file if key_file is not None else keys_dir / f"{purpose}.key"
    if key_file is None and not path.exists():
        key = generate_aes_key()
        write_private_file(path, (_SEALING_HEADER + base64.b64encode(key).decode() + "\n").encode())
        sealing = _sealing_key(purpose, key)
        logger.info(
            "created a sealing key", extra=fields(kind=purpose, key_id=sealing.key_id, path=str(path))
        )
        return sealing
    text = _read(path, f"{purpose} private key").decode("ascii", "replace").strip()
    if not text.startswith(_SEALING_HEADER):
        raise KeySetupError(f"{path} is not a Kluis sealing key (it must start with {_SEALING_HEADER})")
    try:
        key = base64.b64decode(text[len(_SEALING_HEADER) :], validate=True)
    except ValueError:
        raise KeySetupError(f"{path} does not hold valid base64") from None
    if len(key) != AES_KEY_SIZE:
        raise KeySetupError(f"{path} must hold a {AES_KEY_SIZE}-byte key, not {len(key)} bytes")
    return _sealing_key(purpose, key)


def public_key_pem(ring: SigningKeyRing) -> bytes:
    """The current public key as PEM, for an operator to hand to other instances."""
    return ring.current.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
