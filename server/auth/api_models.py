"""The identity API's request and response bodies (docs/api-auth.md describes each)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from server.auth.accounts import Account, Branch
from server.auth.context import DeviceProof, Grant
from server.auth.devices import Device
from server.auth.passwords import MAX_LENGTH, MIN_LENGTH, PASSWORD_RULES
from server.auth.permissions import permissions_of
from server.auth.proof import b64url_decode, b64url_encode
from shared.crypto import ED25519_KEY_SIZE, ED25519_SIGNATURE_SIZE

BASE64URL = r"^[A-Za-z0-9_-]*$"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _decode(value: str, size: int, what: str) -> str:
    try:
        raw = b64url_decode(value)
    except ValueError:
        raise ValueError(f"{what} must be base64url without padding") from None
    if len(raw) != size:
        raise ValueError(f"{what} must encode exactly {size} bytes")
    return value


class DeviceProofIn(_Body):
    """A device's signature over a challenge nonce (see "Device proof" in docs/api-auth.md)."""

    nonce: str = Field(min_length=1, max_length=2048, description="From POST /api/v1/auth/challenge.")
    public_key: str = Field(
        pattern=BASE64URL, description="The device's raw 32-byte Ed25519 public key, base64url, no padding."
    )
    signature: str = Field(
        pattern=BASE64URL, description="The 64-byte Ed25519 signature of the proof message, base64url."
    )
    device_id: uuid.UUID | None = Field(
        None, description="The enrolled device's id; omit to enroll this key as a new device."
    )
    name: str | None = Field(
        None, min_length=1, max_length=100, description="A name for a new device, e.g. the computer's."
    )

    @field_validator("public_key")
    @classmethod
    def _public_key(cls, value: str) -> str:
        return _decode(value, ED25519_KEY_SIZE, "public_key")

    @field_validator("signature")
    @classmethod
    def _signature(cls, value: str) -> str:
        return _decode(value, ED25519_SIGNATURE_SIZE, "signature")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is None:
            return None
        name = " ".join(value.split())
        if not name or not name.isprintable():
            raise ValueError("name must be printable text")
        return name

    def proof(self) -> DeviceProof:
        return DeviceProof(
            nonce=self.nonce,
            signature=b64url_decode(self.signature),
            public_key=b64url_decode(self.public_key),
            device_id=self.device_id,
            name=self.name,
        )


class ChallengeOut(BaseModel):
    nonce: str = Field(description="Sign it once, within its lifetime; it cannot be used twice.")
    expires_at: dt.datetime


class SignInIn(_Body):
    username: str = Field(min_length=1, max_length=256)
    password: str = Field(min_length=1, max_length=1024)
    totp_code: str | None = Field(None, max_length=16, description="Six digits from the authenticator.")
    recovery_code: str | None = Field(None, max_length=64, description="One unused recovery code.")
    device: DeviceProofIn

    @model_validator(mode="after")
    def _one_second_factor(self) -> SignInIn:
        if (self.totp_code is None) == (self.recovery_code is None):
            raise ValueError("give exactly one of totp_code and recovery_code")
        return self


class EnrollmentStartIn(_Body):
    username: str = Field(min_length=1, max_length=256)
    enrollment_code: str = Field(min_length=1, max_length=64)


class PasswordPolicyOut(BaseModel):
    min_length: int = MIN_LENGTH
    max_length: int = MAX_LENGTH
    rules: dict[str, str] = Field(default_factory=lambda: dict(PASSWORD_RULES))


class TotpParametersOut(BaseModel):
    algorithm: Literal["SHA1"] = "SHA1"
    digits: Literal[6] = 6
    period: Literal[30] = 30


class EnrollmentStartOut(BaseModel):
    username: str
    totp_secret: str = Field(description="Base32; show it under the QR code for manual entry.")
    otpauth_uri: str = Field(description="Render as a QR code for the authenticator app.")
    totp: TotpParametersOut = Field(default_factory=TotpParametersOut)
    password_policy: PasswordPolicyOut = Field(default_factory=PasswordPolicyOut)
    enrollment_code_expires_at: dt.datetime


class EnrollmentCompleteIn(_Body):
    username: str = Field(min_length=1, max_length=256)
    enrollment_code: str = Field(min_length=1, max_length=64)
    new_password: str = Field(min_length=1, max_length=1024)
    totp_code: str = Field(min_length=1, max_length=16)
    device: DeviceProofIn


class RefreshIn(_Body):
    refresh_token: str = Field(min_length=1, max_length=256)
    device_id: uuid.UUID
    nonce: str = Field(min_length=1, max_length=2048)
    signature: str = Field(pattern=BASE64URL)

    @field_validator("signature")
    @classmethod
    def _signature(cls, value: str) -> str:
        return _decode(value, ED25519_SIGNATURE_SIZE, "signature")

    def proof(self) -> DeviceProof:
        return DeviceProof(
            nonce=self.nonce,
            signature=b64url_decode(self.signature),
            public_key=b"",
            device_id=self.device_id,
        )


class ChangePasswordIn(_Body):
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=1, max_length=1024)


class RecoveryCodesIn(_Body):
    totp_code: str = Field(min_length=1, max_length=16)


class RecoveryCodesOut(BaseModel):
    recovery_codes: list[str] = Field(description="Shown once; each works once instead of a TOTP code.")


class BranchOut(BaseModel):
    id: uuid.UUID
    code: str
    name: str
    region: str

    @classmethod
    def of(cls, branch: Branch) -> BranchOut:
        return cls(id=branch.id, code=branch.code, name=branch.name, region=branch.region)


class UserOut(BaseModel):
    id: uuid.UUID
    username: str
    display_name: str
    branch: BranchOut
    roles: list[str]
    active: bool
    mfa_enrolled: bool
    enrollment_pending: bool = Field(description="An unused enrollment code exists for this account.")
    created_at: dt.datetime
    disabled_at: dt.datetime | None

    @classmethod
    def of(cls, account: Account) -> UserOut:
        return cls(
            id=account.id,
            username=account.username,
            display_name=account.display_name,
            branch=BranchOut.of(account.branch),
            roles=list(account.roles),
            active=account.active,
            mfa_enrolled=account.mfa_enrolled,
            enrollment_pending=account.enrollment_pending,
            created_at=account.created_at,
            disabled_at=account.disabled_at,
        )


class DeviceOut(BaseModel):
    id: uuid.UUID
    user_id: uuid.UUID
    name: str
    public_key: str = Field(description="Raw Ed25519 public key, base64url.")
    created_at: dt.datetime
    last_seen_at: dt.datetime | None
    revoked_at: dt.datetime | None
    active: bool

    @classmethod
    def of(cls, device: Device) -> DeviceOut:
        return cls(
            id=device.id,
            user_id=device.user_id,
            name=device.name,
            public_key=b64url_encode(device.public_key),
            created_at=device.created_at,
            last_seen_at=device.last_seen_at,
            revoked_at=device.revoked_at,
            active=device.active,
        )


class SessionOut(BaseModel):
    """A signed-in session: from sign-in, enrollment and refresh."""

    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 (the OAuth token type name)
    access_token: str
    access_token_expires_at: dt.datetime
    expires_in: int = Field(description="Seconds until the access token expires.")
    refresh_token: str = Field(description="Keep it secret; it is replaced by every refresh.")
    session_id: uuid.UUID
    session_expires_at: dt.datetime = Field(description="The absolute end of the session (the shift).")
    idle_timeout_seconds: int = Field(description="The session ends if not refreshed for this long.")
    offline_unlock_hours: int = Field(description="How long after sign-in the console may unlock offline.")
    offline_unlock_until: dt.datetime
    user: UserOut
    permissions: list[str]
    device: DeviceOut
    recovery_codes_left: int
    recovery_codes: list[str] | None = Field(
        None, description="Only when enrollment completes: ten codes, shown once."
    )

    @classmethod
    def of(cls, grant: Grant, offline_unlock_hours: int, now: dt.datetime) -> SessionOut:
        return cls(
            access_token=grant.access.token,
            access_token_expires_at=grant.access.expires_at,
            expires_in=max(0, int((grant.access.expires_at - now).total_seconds())),
            refresh_token=grant.refresh_token,
            session_id=grant.session_id,
            session_expires_at=grant.session_expires_at,
            idle_timeout_seconds=int(grant.idle_timeout.total_seconds()),
            offline_unlock_hours=offline_unlock_hours,
            offline_unlock_until=grant.offline_unlock_until,
            user=UserOut.of(grant.account),
            permissions=sorted(permissions_of(grant.account.roles)),
            device=DeviceOut.of(grant.device),
            recovery_codes_left=grant.recovery_codes_left,
            recovery_codes=grant.recovery_codes,
        )


class MeOut(BaseModel):
    user: UserOut
    permissions: list[str]
    device_id: uuid.UUID
    session_id: uuid.UUID
    session_expires_at: dt.datetime
    offline_unlock_hours: int
    recovery_codes_left: int
