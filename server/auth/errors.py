"""Every error the identity API answers with, in one place.  docs/api-auth.md lists them
with what a client should do about each; the messages never echo what the client sent."""

from __future__ import annotations

from collections.abc import Sequence

from server.http.errors import ErrorDetail, HTTPError

BEARER_CHALLENGE = ("www-authenticate", 'Bearer realm="kluis"')


def _unauthorised(code: str, message: str) -> HTTPError:
    return HTTPError(401, code, message, headers=[BEARER_CHALLENGE])


def unauthenticated() -> HTTPError:
    return _unauthorised("unauthenticated", "Sign in to use this endpoint.")


def invalid_token() -> HTTPError:
    return _unauthorised("invalid_token", "The access token is not valid; sign in again.")


def token_expired() -> HTTPError:
    return _unauthorised("token_expired", "The access token has expired; refresh it.")


def session_expired() -> HTTPError:
    return _unauthorised("session_expired", "The session has ended; sign in again.")


def session_revoked() -> HTTPError:
    return _unauthorised("session_revoked", "The session was ended; sign in again.")


def device_revoked() -> HTTPError:
    return _unauthorised(
        "device_revoked", "This device has been revoked; its local data must be removed before signing in."
    )


def forbidden(permission: str) -> HTTPError:
    return HTTPError(403, "forbidden", f"Your roles do not include the permission {permission}.")


def invalid_credentials() -> HTTPError:
    return HTTPError(401, "invalid_credentials", "The username, password or authentication code is wrong.")


def account_disabled() -> HTTPError:
    return HTTPError(403, "account_disabled", "This account is disabled; ask an administrator.")


def too_many_attempts(retry_after: int) -> HTTPError:
    return HTTPError(
        429,
        "too_many_attempts",
        f"Too many failed attempts; try again in {retry_after} seconds.",
        headers=[("retry-after", str(retry_after))],
    )


def invalid_enrollment_code() -> HTTPError:
    return HTTPError(
        401, "invalid_enrollment_code", "The username or enrollment code is wrong, used or expired."
    )


def enrollment_not_started() -> HTTPError:
    return HTTPError(409, "enrollment_not_started", "Start the enrollment first to get the TOTP secret.")


def invalid_mfa_code() -> HTTPError:
    # 400, not 401: the caller's session is fine, a value in the body is not.
    return HTTPError(400, "invalid_mfa_code", "The authentication code is wrong or was already used.")


def invalid_password() -> HTTPError:
    return HTTPError(400, "invalid_password", "The current password is wrong.")


def weak_password(problems: Sequence[tuple[str, str]], field: str) -> HTTPError:
    return HTTPError(
        422,
        "weak_password",
        "The new password does not meet the password policy.",
        details=[ErrorDetail(loc=f"body.{field}", msg=message, type=code) for code, message in problems],
    )


def invalid_device_proof() -> HTTPError:
    return _unauthorised(
        "invalid_device_proof",
        "The device proof is wrong: get a new challenge, sign it with this device's key, and retry.",
    )


def device_mismatch() -> HTTPError:
    return _unauthorised(
        "device_mismatch", "This refresh token belongs to another device; the session has been ended."
    )


def invalid_refresh_token() -> HTTPError:
    return _unauthorised("invalid_refresh_token", "The refresh token is not valid; sign in again.")


def refresh_token_reused() -> HTTPError:
    return _unauthorised(
        "refresh_token_reused", "This refresh token was already used; the session has been ended."
    )


def device_key_in_use() -> HTTPError:
    return HTTPError(
        409, "device_key_in_use", "That device key is already enrolled; generate a new key pair."
    )
