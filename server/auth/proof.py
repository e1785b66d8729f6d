"""Device proof of possession: the bytes a device signs with its enrolled Ed25519 key.

The message is the canonical JSON (RFC 8785, :mod:`shared.canonical`) of an object with
exactly these members, every value a string::

    action                 "enroll", "sign-in" or "refresh"
    context                "kluis-device-proof-v1"
    device_id              the enrolled device's id, "" when enrolling
    nonce                  the nonce from POST /api/v1/auth/challenge, exactly as received
    public_key             the device's raw 32-byte public key, base64url without padding
    refresh_token_sha256   lower-case hex SHA-256 of the refresh token's ASCII, "" unless refreshing

docs/api-auth.md shows a worked example byte for byte."""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
from enum import StrEnum

from shared.canonical import dumps_canonical
from shared.crypto import verify

CONTEXT = "kluis-device-proof-v1"
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")


class ProofAction(StrEnum):
    ENROLL = "enroll"
    SIGN_IN = "sign-in"
    REFRESH = "refresh"


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Strict base64url without padding: ``ValueError`` for anything else, including
    encodings with stray low bits (so every value has exactly one spelling)."""
    if not _BASE64URL.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError("not base64url without padding")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if b64url_encode(data) != text:
        raise ValueError("not the canonical base64url spelling")
    return data


def refresh_token_digest(refresh_token: str) -> str:
    return hashlib.sha256(refresh_token.encode("ascii")).hexdigest()


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
            "context": CONTEXT,
            "device_id": str(device_id) if device_id is not None else "",
            "nonce": nonce,
            "public_key": b64url_encode(public_key),
            "refresh_token_sha256": refresh_token_digest(refresh_token) if refresh_token else "",
        }
    )


def proof_is_valid(public_key: bytes, message: bytes, signature: bytes) -> bool:
    return verify(public_key, message, signature)
