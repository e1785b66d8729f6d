"""TOTP (RFC 6238) as authenticator apps expect it: 30-second steps, 6 digits, HMAC-SHA-1.

This module only computes; whether a step was already used is the database's business
(``users.totp_last_step``, advanced with a conditional UPDATE by the caller)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Callable
from typing import Any

import pyotp

STEP_SECONDS = 30
DIGITS = 6
WINDOW = 1
"""Steps accepted either side of the current one, for clock drift and typing time."""
ISSUER = "Kluis"
SECRET_BYTES = 20
"""160 bits, the HMAC-SHA-1 block RFC 4226 recommends."""

Digest = Callable[..., Any]


def new_secret() -> str:
    """A fresh random secret, base32 without padding as authenticator apps want it."""
    return pyotp.random_base32(length=SECRET_BYTES * 8 // 5)


def time_step(moment: dt.datetime, step_seconds: int = STEP_SECONDS) -> int:
    return int(moment.timestamp()) // step_seconds


def code_at(secret: str, step: int, *, digits: int = DIGITS, digest: Digest = hashlib.sha1) -> str:
    """The code for one time step."""
    return str(pyotp.TOTP(secret, digits=digits, digest=digest, interval=STEP_SECONDS).generate_otp(step))


def code_for_time(
    secret: str, moment: dt.datetime, *, digits: int = DIGITS, digest: Digest = hashlib.sha1
) -> str:
    return code_at(secret, time_step(moment), digits=digits, digest=digest)


def normalise_code(code: str) -> str:
    return code.replace(" ", "").replace("-", "")


def matching_step(secret: str, code: str, moment: dt.datetime, *, window: int = WINDOW) -> int | None:
    """The time step within ``window`` of ``moment`` whose code is ``code``, or None.  Every
    candidate is compared (in constant time), so the answer's timing does not say which."""
    code = normalise_code(code)
    if len(code) != DIGITS or not code.isdigit():
        return None
    current = time_step(moment)
    matched = None
    for step in range(current - window, current + window + 1):
        if hmac.compare_digest(code_at(secret, step), code):
            matched = step
    return matched


def provisioning_uri(secret: str, username: str) -> str:
    """The ``otpauth://totp/...`` URI an authenticator app reads from a QR code."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=username, issuer_name=ISSUER
    )
