"""Staff accounts and signed-in clients for tests: provision an enrolled user straight into a
test database, and drive the identity API over real HTTP as a console would (device keys,
challenges, proofs, TOTP codes)."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from server.auth import totp
from server.auth.accounts import Actor, branch_by_code, create_branch
from server.auth.context import AuthContext, DeviceProof, Grant
from server.auth.demo import provision_account
from server.auth.keystore import ServerKeys
from server.auth.mfa import MfaCipher
from server.auth.passwords import Argon2Hasher, Argon2Parameters
from server.auth.proof import ProofAction, b64url_decode, b64url_encode, proof_message
from server.auth.refresh import RefreshRequest
from server.auth.signin import SignInRequest, sign_in
from server.config import Settings
from server.db.engine import Database
from shared.crypto import generate_private_key, public_key_to_raw, sign

FAST_ARGON2 = {"argon2_memory_kib": 19456, "argon2_time_cost": 2, "argon2_parallelism": 1}
"""OWASP's minimum Argon2id cost: still real Argon2id, quick enough for many tests."""
DEFAULT_PASSWORD = "correct horse battery staple 42"


@dataclass
class Staff:
    user_id: uuid.UUID
    username: str
    password: str
    totp_secret: str
    recovery_codes: list[str]
    roles: tuple[str, ...]
    last_step: int = -1

    def code(self, step_offset: int = 0, *, at: dt.datetime | None = None) -> str:
        """The TOTP code for the step of ``at`` (default now) plus an offset, without bookkeeping."""
        step = totp.time_step(at or dt.datetime.now(dt.UTC)) + step_offset
        return totp.code_at(self.totp_secret, step)

    def next_code(self) -> str:
        """A code for a step later than any this helper handed out (the server accepts each
        step once), waiting for the clock when the window is used up."""
        while True:
            current = totp.time_step(dt.datetime.now(dt.UTC))
            step = max(current, self.last_step + 1)
            if step <= current + 1:
                self.last_step = step
                return totp.code_at(self.totp_secret, step)
            time.sleep(0.5)


async def enroll_staff(
    database: Database,
    cipher: MfaCipher,
    password_hash: str,
    username: str,
    roles: tuple[str, ...],
    *,
    branch_code: str = "JHB01",
    password: str = DEFAULT_PASSWORD,
    now: dt.datetime | None = None,
) -> Staff:
    """An enrolled account (password, TOTP, recovery codes) written straight to the database."""
    now = now or dt.datetime.now(dt.UTC)
    async with database.transaction(write=True) as connection:
        branch = await branch_by_code(connection, branch_code)
        if branch is None:
            branch = await create_branch(
                connection,
                code=branch_code,
                name=f"Branch {branch_code}",
                region="Gauteng",
                actor=Actor.cli(),
                now=now,
            )
        account, secret, codes = await provision_account(
            connection,
            username=username,
            display_name=f"{username} (test)",
            branch_id=branch.id,
            roles=list(roles),
            password_hash=password_hash,
            cipher=cipher,
            actor=Actor.cli(),
            now=now,
        )
    return Staff(account.id, account.username, password, secret, codes, tuple(roles))


async def provision_async(
    settings: Settings,
    username: str,
    roles: tuple[str, ...],
    *,
    branch_code: str = "JHB01",
    password: str = DEFAULT_PASSWORD,
) -> Staff:
    """Provision into the database and with the keys a server with ``settings`` uses."""
    keys = ServerKeys.load(settings)
    hasher = Argon2Hasher(Argon2Parameters.from_settings(settings))
    database = Database(settings.effective_database_url())
    try:
        return await enroll_staff(
            database,
            MfaCipher(keys.mfa),
            hasher.hash_now(password),
            username,
            roles,
            branch_code=branch_code,
            password=password,
        )
    finally:
        await database.dispose()


def provision(settings: Settings, username: str, roles: tuple[str, ...], **options: Any) -> Staff:
    return asyncio.run(provision_async(settings, username, roles, **options))


@dataclass
class Device:
    """A console's device key pair; ``device_id`` is set once the server enrolled it."""

    name: str = "Test workstation"
    private: Any = field(default_factory=generate_private_key)
    device_id: uuid.UUID | None = None

    @property
    def public_key(self) -> bytes:
        return public_key_to_raw(self.private)

    def signature(
        self,
        action: ProofAction,
        nonce: str,
        *,
        device_id: uuid.UUID | None = None,
        refresh_token: str | None = None,
    ) -> str:
        message = proof_message(
            action=action,
            nonce=nonce,
            public_key=self.public_key,
            device_id=device_id,
            refresh_token=refresh_token,
        )
        return b64url_encode(sign(self.private, message))

    def device_proof(self, nonce: str, *, action: ProofAction | None = None) -> DeviceProof:
        """The same proof as a service-level :class:`DeviceProof`."""
        fields = self.proof(nonce)
        return DeviceProof(
            nonce=nonce,
            signature=b64url_decode(fields["signature"]),
            public_key=self.public_key,
            device_id=self.device_id,
            name=fields.get("name"),
        )

    def proof(self, nonce: str) -> dict[str, Any]:
        """The ``device`` member of a sign-in or enrollment body."""
        if self.device_id is None:
            return {
                "nonce": nonce,
                "public_key": b64url_encode(self.public_key),
                "signature": self.signature(ProofAction.ENROLL, nonce),
                "name": self.name,
            }
        return {
            "nonce": nonce,
            "public_key": b64url_encode(self.public_key),
            "signature": self.signature(ProofAction.SIGN_IN, nonce, device_id=self.device_id),
            "device_id": str(self.device_id),
        }


class AuthClient:
    """The identity API as a console uses it."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http

    def challenge(self) -> str:
        response = self.http.post("/api/v1/auth/challenge")
        assert response.status_code == 200, response.text
        return str(response.json()["nonce"])

    def sign_in(
        self,
        staff: Staff,
        device: Device,
        *,
        code: str | None = None,
        recovery_code: str | None = None,
        password: str | None = None,
        username: str | None = None,
    ) -> httpx.Response:
        body: dict[str, Any] = {
            "username": username if username is not None else staff.username,
            "password": password if password is not None else staff.password,
            "device": device.proof(self.challenge()),
        }
        if recovery_code is not None:
            body["recovery_code"] = recovery_code
        elif code is not None:
            body["totp_code"] = code
        elif password is None and username is None:
            body["totp_code"] = staff.next_code()
        else:
            # A failing attempt needs no fresh time step.
            body["totp_code"] = staff.code()
        response = self.http.post("/api/v1/auth/sign-in", json=body)
        if response.status_code == 200:
            device.device_id = uuid.UUID(response.json()["device"]["id"])
        return response

    def session(
        self, staff: Staff, device: Device | None = None, *, recovery: bool = False
    ) -> dict[str, Any]:
        """Sign in (enrolling a fresh device unless one is given) and return the session.
        With ``recovery`` a recovery code is spent instead of a TOTP step, so a test can sign
        one user in many times without waiting for the clock."""
        code = staff.recovery_codes.pop() if recovery else None
        response = self.sign_in(staff, device or Device(), recovery_code=code)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def refresh(
        self,
        refresh_token: str,
        device: Device,
        *,
        device_id: uuid.UUID | None = None,
        nonce: str | None = None,
    ) -> httpx.Response:
        nonce = nonce or self.challenge()
        claimed = device_id or device.device_id
        assert claimed is not None
        signature = device.signature(
            ProofAction.REFRESH, nonce, device_id=claimed, refresh_token=refresh_token
        )
        return self.http.post(
            "/api/v1/auth/refresh",
            json={
                "refresh_token": refresh_token,
                "device_id": str(claimed),
                "nonce": nonce,
                "signature": signature,
            },
        )

    def get(self, path: str, access_token: str, **options: Any) -> httpx.Response:
        return self.http.get(path, headers={"authorization": f"Bearer {access_token}"}, **options)

    def post(self, path: str, access_token: str, **options: Any) -> httpx.Response:
        return self.http.post(path, headers={"authorization": f"Bearer {access_token}"}, **options)


async def service_sign_in(
    context: AuthContext,
    staff: Staff,
    device: Device,
    *,
    code: str | None = None,
    client: str | None = "10.0.0.9",
) -> Grant:
    """Sign in through the service (no HTTP) at the context's clock."""
    grant = await sign_in(
        context,
        SignInRequest(
            username=staff.username,
            password=staff.password,
            totp_code=code or staff.code(at=context.clock()),
            recovery_code=None,
            proof=device.device_proof(context.codec.issue_nonce().token),
            client=client,
        ),
    )
    device.device_id = grant.device.id
    return grant


def refresh_request(
    context: AuthContext,
    device: Device,
    refresh_token: str,
    *,
    device_id: uuid.UUID | None = None,
    client: str | None = "10.0.0.9",
) -> RefreshRequest:
    """A refresh request signed by ``device`` (claiming ``device_id``, default its own)."""
    nonce = context.codec.issue_nonce().token
    claimed = device_id or device.device_id
    assert claimed is not None
    signature = device.signature(ProofAction.REFRESH, nonce, device_id=claimed, refresh_token=refresh_token)
    proof = DeviceProof(nonce=nonce, signature=b64url_decode(signature), public_key=b"", device_id=claimed)
    return RefreshRequest(refresh_token=refresh_token, proof=proof, client=client)


def error_code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])
