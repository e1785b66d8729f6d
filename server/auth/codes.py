"""One-time codes people type: enrollment codes (given to a new user, or after an MFA reset)
and recovery codes (ten per user, each usable once instead of a TOTP code).

Both are random enough (100 and 80 bits) that a fast hash is safe to store; the hash is
bound to the user and to the kind of code, so a leaked table is useless."""

from __future__ import annotations

import hashlib
import secrets
import uuid

_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
"""No 0/o, 1/i/l: codes are read aloud and copied from paper."""
ENROLLMENT_GROUPS = 4
RECOVERY_GROUPS = 4
GROUP = 5
RECOVERY_CODE_COUNT = 10


def _code(groups: int) -> str:
    return "-".join("".join(secrets.choice(_ALPHABET) for _ in range(GROUP)) for _ in range(groups))


def new_enrollment_code() -> str:
    """20 characters from 31 (99 bits), as ``abcde-fghjk-mnpqr-stuvw``."""
    return _code(ENROLLMENT_GROUPS)


def new_recovery_codes(count: int = RECOVERY_CODE_COUNT) -> list[str]:
    """``count`` codes of 20 characters from 31 (99 bits) each."""
    return [_code(RECOVERY_GROUPS) for _ in range(count)]


def normalise(code: str) -> str:
    return "".join(char for char in code.lower() if char.isalnum())


def _hash(kind: bytes, user_id: uuid.UUID, code: str) -> bytes:
    return hashlib.sha256(b"kluis/" + kind + b"/v1\x00" + user_id.bytes + normalise(code).encode()).digest()


def enrollment_code_hash(user_id: uuid.UUID, code: str) -> bytes:
    return _hash(b"enrollment-code", user_id, code)


def recovery_code_hash(user_id: uuid.UUID, code: str) -> bytes:
    return _hash(b"recovery-code", user_id, code)
