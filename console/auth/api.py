"""The identity API (/api/v1/auth) as the console calls it, over the shell's ServerClient.

Answers are parsed into models that keep tokens and secrets in ``SecretStr`` so that no
repr or log line can show them.  An error answer raises the shell's ``ServerHTTPError``
(status, code and the server's own message, which never echoes what was sent)."""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

import httpx
from pydantic import AwareDatetime, Field, SecretStr, ValidationError

from console.auth.device import DeviceKey, ProofAction
from console.net.client import ServerClient
from console.net.errors import InvalidResponse
from console.net.models import Answer

A = TypeVar("A", bound=Answer)
PREFIX = "/api/v1/auth"


class BranchAnswer(Answer):
    id: uuid.UUID
    code: str
    name: str


class UserAnswer(Answer):
    id: uuid.UUID
    username: str
    display_name: str
    branch: BranchAnswer
    roles: list[str] = Field(min_length=1)


class DeviceAnswer(Answer):
    id: uuid.UUID
    name: str


class SessionAnswer(Answer):
    access_token: SecretStr
    access_token_expires_at: AwareDatetime
    expires_in: int = Field(ge=0)
    refresh_token: SecretStr
    session_id: uuid.UUID
    session_expires_at: AwareDatetime
    idle_timeout_seconds: int
    offline_unlock_hours: int = Field(ge=0)
    offline_unlock_until: AwareDatetime
    user: UserAnswer
    permissions: list[str]
    device: DeviceAnswer
    recovery_codes_left: int
    recovery_codes: list[SecretStr] | None = None


class ChallengeAnswer(Answer):
    nonce: str = Field(min_length=1)


class PasswordPolicy(Answer):
    min_length: int
    max_length: int
    rules: dict[str, str]


class TotpParameters(Answer):
    algorithm: str
    digits: int
    period: int


class EnrollmentAnswer(Answer):
    username: str
    totp_secret: SecretStr
    otpauth_uri: SecretStr
    totp: TotpParameters
    password_policy: PasswordPolicy
    enrollment_code_expires_at: AwareDatetime


def server_of(response: httpx.Response) -> str:
    url = response.request.url
    return f"{url.scheme}://{url.netloc.decode('ascii')}"


class IdentityAPI:
    def __init__(self, client: ServerClient) -> None:
        self._client = client

    async def challenge(self) -> str:
        answer = await self._post("/challenge", None, ChallengeAnswer)
        return answer.nonce

    async def sign_in(
        self,
        username: str,
        password: str,
        *,
        totp_code: str | None,
        recovery_code: str | None,
        device: DeviceKey,
        device_id: uuid.UUID | None,
        device_name: str | None,
    ) -> SessionAnswer:
        """With ``device_id`` the enrolled device signs in; without it this key is enrolled
        as a new device called ``device_name``."""
        body: dict[str, Any] = {
            "username": username,
            "password": password,
            "device": await self._device_proof(device, device_id, device_name),
        }
        if recovery_code is not None:
            body["recovery_code"] = recovery_code
        else:
            body["totp_code"] = totp_code
        return await self._post("/sign-in", body, SessionAnswer)

    async def start_enrollment(self, username: str, enrollment_code: str) -> EnrollmentAnswer:
        body = {"username": username, "enrollment_code": enrollment_code}
        return await self._post("/enrollment/start", body, EnrollmentAnswer)

    async def complete_enrollment(
        self,
        username: str,
        enrollment_code: str,
        new_password: str,
        totp_code: str,
        *,
        device: DeviceKey,
        device_name: str,
    ) -> SessionAnswer:
        body = {
            "username": username,
            "enrollment_code": enrollment_code,
            "new_password": new_password,
            "totp_code": totp_code,
            "device": await self._device_proof(device, None, device_name),
        }
        return await self._post("/enrollment/complete", body, SessionAnswer)

    async def refresh(self, refresh_token: str, *, device: DeviceKey, device_id: uuid.UUID) -> SessionAnswer:
        nonce = await self.challenge()
        body = {
            "refresh_token": refresh_token,
            "device_id": str(device_id),
            "nonce": nonce,
            "signature": device.proof(
                ProofAction.REFRESH, nonce, device_id=device_id, refresh_token=refresh_token
            ),
        }
        return await self._post("/refresh", body, SessionAnswer)

    async def sign_out(self, access_token: str) -> None:
        response = await self._client.send(
            "POST", f"{PREFIX}/sign-out", headers={"authorization": f"Bearer {access_token}"}
        )
        if response.status_code != 204:
            raise self._client.http_error(response)

    async def _device_proof(
        self, device: DeviceKey, device_id: uuid.UUID | None, device_name: str | None
    ) -> dict[str, Any]:
        nonce = await self.challenge()
        proof: dict[str, Any] = {"nonce": nonce, "public_key": device.public_key_b64()}
        if device_id is None:
            proof["signature"] = device.proof(ProofAction.ENROLL, nonce)
            proof["name"] = device_name
        else:
            proof["signature"] = device.proof(ProofAction.SIGN_IN, nonce, device_id=device_id)
            proof["device_id"] = str(device_id)
        return proof

    async def _post(self, path: str, body: dict[str, Any] | None, model: type[A]) -> A:
        response = await self._client.send("POST", PREFIX + path, json=body)
        if response.status_code != 200:
            raise self._client.http_error(response)
        try:
            return model.model_validate_json(response.content)
        except ValidationError as exc:
            places = sorted(
                {".".join(str(part) for part in error["loc"]) or "body" for error in exc.errors()}
            )
            raise InvalidResponse(
                server_of(response), f"unexpected or missing fields: {', '.join(places[:5])}"
            ) from None
