"""Why a request to the server failed, as types the screens can tell apart.

Messages name the server and the reason, never a request body, token or personal
information: the server's own error messages promise the same."""

from __future__ import annotations

from collections.abc import Sequence

from console.errors import ConsoleError


class ServerError(ConsoleError):
    """A request to ``server`` failed."""

    def __init__(self, server: str, message: str) -> None:
        self.server = server
        super().__init__(message)


class ServerUnreachable(ServerError):
    """No usable connection: refused, timed out, dropped, or the name does not resolve."""

    def __init__(self, server: str, reason: str) -> None:
        self.reason = reason
        super().__init__(server, f"Cannot reach {server}: {reason}.")


class TLSVerificationFailed(ServerError):
    """The server's certificate does not chain to the CA this console trusts, or does not
    name the server.  The console never continues past this."""

    def __init__(self, server: str, expected_fingerprint: str, reason: str) -> None:
        self.expected_fingerprint = expected_fingerprint
        self.reason = reason
        super().__init__(
            server,
            f"TLS verification failed for {server}: {reason}. The console trusts only the CA "
            f"with fingerprint {expected_fingerprint}; the server did not prove it is signed by it.",
        )


class TLSHandshakeFailed(ServerError):
    """The TLS handshake failed for a reason other than the certificate, such as a server
    that cannot speak TLS 1.3."""

    def __init__(self, server: str, reason: str) -> None:
        self.reason = reason
        super().__init__(server, f"TLS handshake with {server} failed: {reason}.")


class ServerHTTPError(ServerError):
    """The server answered with an error response."""

    def __init__(self, server: str, status: int, code: str, message: str, request_id: str | None) -> None:
        self.status = status
        self.code = code
        self.server_message = message
        self.request_id = request_id
        reference = f" (request {request_id})" if request_id else ""
        super().__init__(server, f"{server} answered {status} {code}: {message}{reference}")


class InvalidResponse(ServerError):
    """The server answered with something this console cannot use."""

    def __init__(self, server: str, reason: str) -> None:
        self.reason = reason
        super().__init__(server, f"{server} sent a response this console cannot use: {reason}.")


class NoServerAvailable(ServerError):
    """Every configured server failed; ``failures`` holds each one's error in the order tried."""

    def __init__(self, failures: Sequence[ServerError]) -> None:
        self.failures = tuple(failures)
        lines = "; ".join(str(failure) for failure in self.failures)
        super().__init__(self.failures[0].server, f"No server could be reached. {lines}")

    def tls_failure(self) -> TLSVerificationFailed | None:
        for failure in self.failures:
            if isinstance(failure, TLSVerificationFailed):
                return failure
        return None
