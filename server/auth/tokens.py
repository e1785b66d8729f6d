"""Access tokens and device-proof nonces: JWTs signed with the server's Ed25519 key.

Verification allows exactly one algorithm (EdDSA), picks the key by ``kid`` from the key
ring, and requires the header ``typ``, the issuer, the audience and every claim.  Expiry is
checked against the injected clock (PyJWT reads the wall clock), with a small leeway."""

from __future__ import annotations

import datetime as dt
import json
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from server.auth.clock import Clock
from server.auth.keystore import SigningKeyRing
from server.auth.proof import b64url_decode

ALGORITHM = "EdDSA"
ACCESS_TYP = "at+jwt"
"""RFC 9068's media type for access tokens, so no other JWT can pass as one."""
NONCE_TYP = "kluis-nonce+jwt"
LEEWAY = dt.timedelta(seconds=30)
NONCE_LIFETIME = dt.timedelta(seconds=120)
MAX_TOKEN_LENGTH = 4096
ACCESS_CLAIMS = ("iss", "aud", "sub", "exp", "iat", "jti", "sid", "did", "roles", "br", "uep", "dep")
NONCE_CLAIMS = ("iss", "aud", "exp", "iat", "jti")


class TokenError(Exception):
    """A token is not acceptable.  ``code`` is the API error code: ``invalid_token`` or
    ``token_expired``; the message is for logs and never contains the token."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class _AccessPayload(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    sub: uuid.UUID = Field(strict=False)
    sid: uuid.UUID = Field(strict=False)
    did: uuid.UUID = Field(strict=False)
    br: uuid.UUID = Field(strict=False)
    roles: list[str] = Field(max_length=16)
    uep: int = Field(ge=0)
    dep: int = Field(ge=0)
    jti: str = Field(min_length=16, max_length=64)
    iat: int
    exp: int


@dataclass(frozen=True)
class AccessClaims:
    user_id: uuid.UUID
    session_id: uuid.UUID
    device_id: uuid.UUID
    branch_id: uuid.UUID
    roles: tuple[str, ...]
    user_epoch: int
    device_epoch: int
    token_id: str
    issued_at: dt.datetime
    expires_at: dt.datetime


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_at: dt.datetime


def _unverified_header(token: str) -> dict[str, Any]:
    """The JOSE header, read to choose the key before PyJWT verifies everything (reading it
    here rather than with ``jwt.get_unverified_header`` spares a second full parse)."""
    segments = token.split(".")
    if len(segments) != 3:
        raise TokenError("invalid_token", "malformed token")
    try:
        header = json.loads(b64url_decode(segments[0]))
    except (ValueError, UnicodeDecodeError):
        raise TokenError("invalid_token", "malformed token header") from None
    if not isinstance(header, dict):
        raise TokenError("invalid_token", "malformed token header")
    return header


def _timestamp(moment: dt.datetime) -> int:
    return int(moment.timestamp())


def _from_timestamp(value: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(value, dt.UTC)


class TokenCodec:
    def __init__(
        self,
        keys: SigningKeyRing,
        *,
        issuer: str,
        audience: str,
        access_lifetime: dt.timedelta,
        clock: Clock,
    ) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.nonce_audience = f"{audience}#device-proof"
        self.access_lifetime = access_lifetime
        self.clock = clock

    def _sign(self, claims: dict[str, Any], typ: str) -> str:
        return jwt.encode(
            claims,
            self.keys.current.private,
            algorithm=ALGORITHM,
            headers={"typ": typ, "kid": self.keys.current.key_id},
        )

    def issue_access(
        self,
        *,
        user_id: uuid.UUID,
        session_id: uuid.UUID,
        device_id: uuid.UUID,
        branch_id: uuid.UUID,
        roles: tuple[str, ...],
        user_epoch: int,
        device_epoch: int,
    ) -> IssuedToken:
        now = self.clock()
        expires_at = now + self.access_lifetime
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": str(user_id),
            "iat": _timestamp(now),
            "exp": _timestamp(expires_at),
            "jti": secrets.token_urlsafe(16),
            "sid": str(session_id),
            "did": str(device_id),
            "br": str(branch_id),
            "roles": sorted(roles),
            "uep": user_epoch,
            "dep": device_epoch,
        }
        return IssuedToken(self._sign(claims, ACCESS_TYP), _from_timestamp(claims["exp"]))

    def issue_nonce(self) -> IssuedToken:
        now = self.clock()
        expires_at = now + NONCE_LIFETIME
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.nonce_audience,
            "iat": _timestamp(now),
            "exp": _timestamp(expires_at),
            "jti": secrets.token_hex(16),
        }
        return IssuedToken(self._sign(claims, NONCE_TYP), _from_timestamp(claims["exp"]))

    def _decode(self, token: str, *, typ: str, audience: str, required: tuple[str, ...]) -> dict[str, Any]:
        if not token or len(token) > MAX_TOKEN_LENGTH:
            raise TokenError("invalid_token", "token empty or too long")
        header = _unverified_header(token)
        if header.get("typ") != typ:
            raise TokenError("invalid_token", "wrong token type")
        if header.get("alg") != ALGORITHM:
            raise TokenError("invalid_token", "algorithm not allowed")
        kid = header.get("kid")
        key = self.keys.public_key(kid) if isinstance(kid, str) else None
        if key is None:
            raise TokenError("invalid_token", "unknown signing key")
        try:
            payload: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=audience,
                issuer=self.issuer,
                options={
                    "require": list(required),
                    "verify_signature": True,
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "verify_aud": True,
                    "verify_iss": True,
                },
            )
        except jwt.InvalidTokenError as exc:
            raise TokenError("invalid_token", f"token rejected: {type(exc).__name__}") from None
        exp, iat = payload.get("exp"), payload.get("iat")
        if not isinstance(exp, int) or not isinstance(iat, int) or isinstance(exp, bool) or iat > exp:
            raise TokenError("invalid_token", "bad time claims")
        now = self.clock()
        if _from_timestamp(iat) > now + LEEWAY:
            raise TokenError("invalid_token", "token issued in the future")
        if now >= _from_timestamp(exp) + LEEWAY:
            raise TokenError("token_expired", "token expired")
        return payload

    def verify_access(self, token: str) -> AccessClaims:
        payload = self._decode(token, typ=ACCESS_TYP, audience=self.audience, required=ACCESS_CLAIMS)
        try:
            claims = _AccessPayload.model_validate(payload)
        except ValidationError:
            raise TokenError("invalid_token", "malformed claims") from None
        return AccessClaims(
            user_id=claims.sub,
            session_id=claims.sid,
            device_id=claims.did,
            branch_id=claims.br,
            roles=tuple(claims.roles),
            user_epoch=claims.uep,
            device_epoch=claims.dep,
            token_id=claims.jti,
            issued_at=_from_timestamp(claims.iat),
            expires_at=_from_timestamp(claims.exp),
        )

    def verify_nonce(self, nonce: str) -> tuple[str, dt.datetime]:
        """The nonce's id and expiry; the caller marks the id spent."""
        payload = self._decode(nonce, typ=NONCE_TYP, audience=self.nonce_audience, required=NONCE_CLAIMS)
        jti = payload["jti"]
        if not isinstance(jti, str) or not 16 <= len(jti) <= 64:
            raise TokenError("invalid_token", "malformed nonce id")
        return jti, _from_timestamp(payload["exp"])
