"""The device key: an Ed25519 key pair made on this computer at its first sign-in, enrolled
with the server and kept only inside the vault.  It proves the device to the server
(sign-in, enrollment, refresh) and signs the audit events the console records.

The proof message is the canonical JSON (RFC 8785) of exactly the members the server's
``server/auth/proof.py`` lists; a test checks the bytes against the server's own."""

from __future__ import annotations

import base64
import hashlib
import uuid
from enum import StrEnum

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared.canonical import dumps_canonical
from shared.crypto import (
    generate_private_key,
    private_key_from_raw,
    private_key_to_raw,
    public_key_to_raw,
    sign,
)

PROOF_CONTEXT = "kluis-device-proof-v1"


class ProofAction(StrEnum):
    ENROLL = "enroll"
    SIGN_IN = "sign-in"
    REFRESH = "refresh"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def proof_message(
    *,
    action: ProofAction,
    nonce: str,
    public_key: bytes,
    device_id: uuid.UUID | None = None,
    refresh_token: str | None = None,
) -> bytes:
    return dumps_canonical(
        {
            "action": action.value,
            "context": PROOF_CONTEXT,
            "device_id": str(device_id) if device_id is not None else "",
            "nonce": nonce,
            "public_key": b64url(public_key),
            "refresh_token_sha256": (
                hashlib.sha256(refresh_token.encode("ascii")).hexdigest() if refresh_token else ""
            ),
        }
    )


class DeviceKey:
    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._private = private
        self.public_key = public_key_to_raw(private)

    @classmethod
    def generate(cls) -> DeviceKey:
        return cls(generate_private_key())

    @classmethod
    def from_raw(cls, raw: bytes) -> DeviceKey:
        return cls(private_key_from_raw(raw))

    def public_key_b64(self) -> str:
        return b64url(self.public_key)

    def private_bytes(self) -> bytes:
        """The 32-byte seed, to be written into the vault and nowhere else."""
        return private_key_to_raw(self._private)

    def sign(self, message: bytes) -> bytes:
        return sign(self._private, message)

    def proof(
        self,
        action: ProofAction,
        nonce: str,
        *,
        device_id: uuid.UUID | None = None,
        refresh_token: str | None = None,
    ) -> str:
        """The base64url signature of the proof message for ``action``."""
        message = proof_message(
            action=action,
            nonce=nonce,
            public_key=self.public_key,
            device_id=device_id,
            refresh_token=refresh_token,
        )
        return b64url(self.sign(message))

    def __repr__(self) -> str:
        return f"DeviceKey(public_key={b64url(self.public_key)})"
