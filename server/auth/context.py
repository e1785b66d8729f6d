"""What every identity flow shares: settings turned into policy, the token codec, the
password hasher, the MFA cipher, the clock, and the steps common to several flows (spending
a nonce, checking a device proof, opening a session)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncConnection

from server.auth import errors, totp
from server.auth.accounts import Account
from server.auth.clock import Clock, utc_now
from server.auth.dbutil import insert_if_absent
from server.auth.devices import Device
from server.auth.keystore import ServerKeys
from server.auth.mfa import MfaCipher, recovery_codes_left
from server.auth.passwords import Argon2Hasher, Argon2Parameters, PasswordHasher
from server.auth.proof import ProofAction, proof_is_valid, proof_message
from server.auth.sessions import start_session
from server.auth.tables import used_nonces
from server.auth.throttle import ThrottleKey, ThrottlePolicy
from server.auth.tokens import IssuedToken, TokenCodec, TokenError
from server.config import Settings
from server.db.engine import Database


@dataclass(frozen=True)
class AuthPolicy:
    access_lifetime: dt.timedelta
    session_lifetime: dt.timedelta
    idle_timeout: dt.timedelta
    offline_unlock: dt.timedelta
    enrollment_lifetime: dt.timedelta
    usernames: ThrottlePolicy
    addresses: ThrottlePolicy

    @classmethod
    def from_settings(cls, settings: Settings) -> AuthPolicy:
        return cls(
            access_lifetime=dt.timedelta(seconds=settings.access_token_seconds),
            session_lifetime=dt.timedelta(hours=settings.session_hours),
            idle_timeout=dt.timedelta(minutes=settings.session_idle_minutes),
            offline_unlock=dt.timedelta(hours=settings.offline_unlock_hours),
            enrollment_lifetime=dt.timedelta(hours=settings.enrollment_code_hours),
            usernames=ThrottlePolicy.for_usernames(settings),
            addresses=ThrottlePolicy.for_addresses(settings),
        )


@dataclass(frozen=True)
class DeviceProof:
    """A device's signature over a server nonce.  ``device_id`` is None when the device is
    being enrolled (then ``name`` names it)."""

    nonce: str
    signature: bytes
    public_key: bytes
    device_id: uuid.UUID | None = None
    name: str | None = None


@dataclass(frozen=True)
class Grant:
    """A signed-in session: what the sign-in, enrollment and refresh endpoints answer."""

    account: Account
    device: Device
    session_id: uuid.UUID
    session_expires_at: dt.datetime
    idle_timeout: dt.timedelta
    refresh_token: str
    access: IssuedToken
    offline_unlock_until: dt.datetime
    recovery_codes_left: int
    recovery_codes: list[str] | None = None


@dataclass
class AuthContext:
    database: Database
    policy: AuthPolicy
    codec: TokenCodec
    hasher: PasswordHasher
    cipher: MfaCipher
    clock: Clock = utc_now
    # Checked in place of a real secret when the user does not exist, for the same work.
    dummy_totp_secret: str = field(default_factory=totp.new_secret)

    @classmethod
    def create(
        cls,
        database: Database,
        settings: Settings,
        keys: ServerKeys,
        *,
        clock: Clock = utc_now,
        hasher: PasswordHasher | None = None,
    ) -> AuthContext:
        policy = AuthPolicy.from_settings(settings)
        return cls(
            database=database,
            policy=policy,
            codec=TokenCodec(
                keys.token,
                issuer=settings.token_issuer,
                audience=settings.token_audience,
                access_lifetime=policy.access_lifetime,
                clock=clock,
            ),
            hasher=hasher or Argon2Hasher(Argon2Parameters.from_settings(settings)),
            cipher=MfaCipher(keys.mfa),
            clock=clock,
        )

    def guards(self, username: str, client: str | None) -> list[tuple[ThrottleKey, ThrottlePolicy]]:
        return [
            (ThrottleKey.username(username), self.policy.usernames),
            (ThrottleKey.address(client), self.policy.addresses),
        ]

    async def spend_nonce(self, nonce: str) -> None:
        """Accept a challenge nonce once: it must be ours, unexpired and unused."""
        try:
            jti, expires_at = self.codec.verify_nonce(nonce)
        except TokenError:
            raise errors.invalid_device_proof() from None
        now = self.clock()
        async with self.database.transaction(write=True) as connection:
            await connection.execute(delete(used_nonces).where(used_nonces.c.expires_at < now))
            fresh = await insert_if_absent(connection, used_nonces, {"jti": jti, "expires_at": expires_at})
        if not fresh:
            raise errors.invalid_device_proof()

    @staticmethod
    def proof_holds(
        proof: DeviceProof,
        action: ProofAction,
        *,
        public_key: bytes,
        device_id: uuid.UUID | None,
        refresh_token: str | None = None,
    ) -> bool:
        message = proof_message(
            action=action,
            nonce=proof.nonce,
            public_key=public_key,
            device_id=device_id,
            refresh_token=refresh_token,
        )
        return proof_is_valid(public_key, message, proof.signature)

    async def open_session(
        self,
        connection: AsyncConnection,
        account: Account,
        device: Device,
        now: dt.datetime,
        *,
        recovery_codes: list[str] | None = None,
    ) -> Grant:
        started = await start_session(
            connection,
            user_id=account.id,
            device_id=device.id,
            lifetime=self.policy.session_lifetime,
            now=now,
        )
        return Grant(
            account=account,
            device=device,
            session_id=started.session_id,
            session_expires_at=started.expires_at,
            idle_timeout=self.policy.idle_timeout,
            refresh_token=started.refresh_token,
            access=self.access_token(account, device, started.session_id),
            offline_unlock_until=now + self.policy.offline_unlock,
            recovery_codes_left=await recovery_codes_left(connection, account.id),
            recovery_codes=recovery_codes,
        )

    def access_token(self, account: Account, device: Device, session_id: uuid.UUID) -> IssuedToken:
        return self.codec.issue_access(
            user_id=account.id,
            session_id=session_id,
            device_id=device.id,
            branch_id=account.branch.id,
            roles=account.roles,
            user_epoch=account.token_epoch,
            device_epoch=device.token_epoch,
        )
