"""/api/v1/auth: challenge, sign-in, first sign-in (enrollment), refresh, sign-out, and the
signed-in user's own account.  docs/api-auth.md is the client's guide to these routes."""

from __future__ import annotations

from server.auth.accounts import require_account
from server.auth.api_models import (
    ChallengeOut,
    ChangePasswordIn,
    EnrollmentCompleteIn,
    EnrollmentStartIn,
    EnrollmentStartOut,
    MeOut,
    RecoveryCodesIn,
    RecoveryCodesOut,
    RefreshIn,
    SessionOut,
    SignInIn,
    UserOut,
)
from server.auth.authorizer import principal_of
from server.auth.context import AuthContext, Grant
from server.auth.enrollment import CompleteEnrollment, complete_enrollment, start_enrollment
from server.auth.mfa import recovery_codes_left
from server.auth.permissions import Permission
from server.auth.refresh import RefreshRequest, refresh, sign_out
from server.auth.selfservice import Caller, change_password, replace_own_recovery_codes
from server.auth.signin import SignInRequest, sign_in
from server.http.messages import Request
from server.http.routing import Public, Requires, Router

PREFIX = "/api/v1/auth"
TAGS = ["auth"]


def client_address(request: Request) -> str | None:
    return request.client[0] if request.client else None


def auth_routes(router: Router, context: AuthContext) -> None:
    offline_hours = int(context.policy.offline_unlock.total_seconds() // 3600)

    def session(grant: Grant) -> SessionOut:
        return SessionOut.of(grant, offline_hours, context.clock())

    def caller(request: Request) -> Caller:
        principal = principal_of(request)
        return Caller(
            user_id=principal.user_id,
            username=principal.username,
            device_id=principal.device_id,
            session_id=principal.session_id,
            client=client_address(request),
        )

    @router.post(
        f"{PREFIX}/challenge",
        access=Public("a device needs a nonce to prove itself before it has a session"),
        summary="A single-use nonce for a device proof (sign-in, enrollment, refresh).",
        tags=TAGS,
    )
    async def auth_challenge(request: Request) -> ChallengeOut:
        issued = context.codec.issue_nonce()
        return ChallengeOut(nonce=issued.token, expires_at=issued.expires_at)

    @router.post(
        f"{PREFIX}/sign-in",
        access=Public("this is how a user signs in"),
        summary="Sign in with username, password and a TOTP or recovery code, from a device.",
        tags=TAGS,
        errors=[401, 403, 409, 429],
    )
    async def auth_sign_in(request: Request, body: SignInIn) -> SessionOut:
        grant = await sign_in(
            context,
            SignInRequest(
                username=body.username,
                password=body.password,
                totp_code=body.totp_code,
                recovery_code=body.recovery_code,
                proof=body.device.proof(),
                client=client_address(request),
            ),
        )
        return session(grant)

    @router.post(
        f"{PREFIX}/enrollment/start",
        access=Public("a new user has only an enrollment code"),
        summary="Check an enrollment code; get the TOTP secret to enroll.",
        tags=TAGS,
        errors=[401, 403, 429],
    )
    async def auth_enrollment_start(request: Request, body: EnrollmentStartIn) -> EnrollmentStartOut:
        started = await start_enrollment(
            context, body.username, body.enrollment_code, client_address(request)
        )
        return EnrollmentStartOut(
            username=started.username,
            totp_secret=started.totp_secret,
            otpauth_uri=started.otpauth_uri,
            enrollment_code_expires_at=started.code_expires_at,
        )

    @router.post(
        f"{PREFIX}/enrollment/complete",
        access=Public("a new user has only an enrollment code"),
        summary="Set the password, confirm TOTP, enroll the device; get recovery codes and a session.",
        tags=TAGS,
        errors=[400, 401, 403, 409, 429],
    )
    async def auth_enrollment_complete(request: Request, body: EnrollmentCompleteIn) -> SessionOut:
        grant = await complete_enrollment(
            context,
            CompleteEnrollment(
                username=body.username,
                code=body.enrollment_code,
                new_password=body.new_password,
                totp_code=body.totp_code,
                proof=body.device.proof(),
                client=client_address(request),
            ),
        )
        return session(grant)

    @router.post(
        f"{PREFIX}/refresh",
        access=Public("authenticated by the refresh token and the device's proof instead of a bearer token"),
        summary="Exchange the refresh token (signed for by the device) for new tokens.",
        tags=TAGS,
    )
    async def auth_refresh(request: Request, body: RefreshIn) -> SessionOut:
        grant = await refresh(
            context,
            RefreshRequest(
                refresh_token=body.refresh_token, proof=body.proof(), client=client_address(request)
            ),
        )
        return session(grant)

    @router.get(
        f"{PREFIX}/me",
        access=Requires(Permission.SESSION_SELF),
        summary="The signed-in user, their permissions and their session.",
        tags=TAGS,
    )
    async def auth_me(request: Request) -> MeOut:
        principal = principal_of(request)
        async with context.database.transaction() as connection:
            account = await require_account(connection, principal.user_id)
            left = await recovery_codes_left(connection, principal.user_id)
        return MeOut(
            user=UserOut.of(account),
            permissions=sorted(principal.permissions),
            device_id=principal.device_id,
            session_id=principal.session_id,
            session_expires_at=principal.session_expires_at,
            offline_unlock_hours=offline_hours,
            recovery_codes_left=left,
        )

    @router.post(
        f"{PREFIX}/sign-out",
        access=Requires(Permission.SESSION_SELF),
        summary="End this session: its access and refresh tokens stop working.",
        tags=TAGS,
        status=204,
    )
    async def auth_sign_out(request: Request) -> None:
        principal = principal_of(request)
        await sign_out(
            context,
            session_id=principal.session_id,
            user_id=principal.user_id,
            device_id=principal.device_id,
            client=client_address(request),
        )

    @router.post(
        f"{PREFIX}/password",
        access=Requires(Permission.SESSION_SELF),
        summary="Change one's own password; other sessions end.",
        tags=TAGS,
        status=204,
        errors=[400, 429],
    )
    async def auth_change_password(request: Request, body: ChangePasswordIn) -> None:
        await change_password(context, caller(request), body.current_password, body.new_password)

    @router.post(
        f"{PREFIX}/recovery-codes",
        access=Requires(Permission.SESSION_SELF),
        summary="Replace one's recovery codes, confirming with a TOTP code.",
        tags=TAGS,
        errors=[400, 429],
    )
    async def auth_recovery_codes(request: Request, body: RecoveryCodesIn) -> RecoveryCodesOut:
        codes = await replace_own_recovery_codes(context, caller(request), body.totp_code)
        return RecoveryCodesOut(recovery_codes=codes)
