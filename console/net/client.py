"""The console's HTTPS client: verified TLS 1.3 to the configured servers, in order,
starting with the last one that worked.

A request moves on to the next server only when the current one could not be used at all
(no connection, TLS refused) or, for requests that are safe to repeat, when the
connection broke before the answer was complete.  A server that answers, even with an
error, is the answer."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from console.net.errors import (
    InvalidResponse,
    NoServerAvailable,
    ServerError,
    ServerHTTPError,
    ServerUnreachable,
    TLSHandshakeFailed,
    TLSVerificationFailed,
)
from console.net.models import ErrorBody, Liveness, Readiness, ServerInfo
from console.net.transport import console_transport
from console.net.trust import TrustAnchor
from console.version import console_version

M = TypeVar("M", bound=BaseModel)
R = TypeVar("R")

DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
MAX_RESPONSE_BYTES = 8 * 1024 * 1024
REQUIRED_TLS_VERSION = "TLSv1.3"
SAFE_METHODS = frozenset({"GET", "HEAD"})
REQUEST_ID_HEADER = "x-request-id"


@dataclass(frozen=True)
class Reply(Generic[M]):
    """A successful answer and how it arrived."""

    server: str
    status: int
    body: M
    tls_version: str
    request_id: str | None
    sent_at: dt.datetime
    received_at: dt.datetime


@dataclass(frozen=True)
class _Exchange:
    """One request to one server, its answer read in full."""

    server: str
    response: httpx.Response
    body: bytes
    tls_version: str
    sent_at: dt.datetime
    received_at: dt.datetime


class _Failover(Exception):
    """Internal: this server failed in a way that lets the request try the next one."""

    def __init__(self, error: ServerError) -> None:
        self.error = error


def exception_chain(error: BaseException) -> Iterator[BaseException]:
    """``error`` and the exceptions it was raised from, innermost last."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


class ServerClient:
    """One connection pool for all configured servers; close with :meth:`aclose`."""

    def __init__(
        self,
        servers: Sequence[str],
        trust: TrustAnchor,
        *,
        preferred: str | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        on_server_changed: Callable[[str], None] | None = None,
    ) -> None:
        if not servers:
            raise ValueError("at least one server is required")
        self._servers = tuple(dict.fromkeys(servers))
        self._current = preferred if preferred in self._servers else self._servers[0]
        self._trust = trust
        self._timeout = timeout
        self._on_server_changed = on_server_changed
        self._http = httpx.AsyncClient(
            transport=console_transport(trust.tls_context()),
            timeout=timeout,
            follow_redirects=False,
            trust_env=False,
            headers={"user-agent": f"kluis-console/{console_version()}", "accept": "application/json"},
        )

    @property
    def servers(self) -> tuple[str, ...]:
        return self._servers

    @property
    def current(self) -> str:
        """The server requests try first: the last one that answered."""
        return self._current

    @property
    def trust(self) -> TrustAnchor:
        return self._trust

    async def aclose(self) -> None:
        await self._http.aclose()

    async def liveness(self) -> Reply[Liveness]:
        return await self.get("/livez", Liveness)

    async def server_info(self) -> Reply[ServerInfo]:
        return await self.get("/api/v1/server-info", ServerInfo)

    async def readiness(self, *, server: str | None = None) -> Reply[Readiness]:
        """``/readyz`` answers 503 with the same body when the server is not ready."""
        return await self.get("/readyz", Readiness, accept=(200, 503), server=server)

    async def get(
        self,
        path: str,
        model: type[M],
        *,
        accept: Sequence[int] = (200,),
        server: str | None = None,
    ) -> Reply[M]:
        """GET ``path`` and parse the answer as ``model``.  With ``server``, ask only that
        server (for answers that must come from the same server as an earlier one)."""
        return await self._request("GET", path, model, accept=accept, only=server)

    def _order(self, only: str | None) -> list[str]:
        if only is not None:
            if only not in self._servers:
                raise ValueError(f"{only} is not one of the configured servers")
            return [only]
        return [self._current, *(server for server in self._servers if server != self._current)]

    async def send(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - httpx's read timeout for this request, not a deadline
    ) -> httpx.Response:
        """Send a request and return the server's answer, whatever its status, with its body
        read (at most :data:`MAX_RESPONSE_BYTES`).  Fails over like every other request;
        ``timeout`` (seconds) replaces the read timeout for answers that take long, such as
        a long poll.  ``response.request.url`` names the server that answered."""
        exchange = await self._each_server(
            None,
            lambda server: self._exchange(server, method, path, json=json, headers=headers, timeout=timeout),
        )
        answer = exchange.response
        return httpx.Response(
            answer.status_code,
            headers=answer.headers,
            content=exchange.body,
            request=answer.request,
        )

    def http_error(self, response: httpx.Response) -> ServerHTTPError:
        """The typed error for an error answer returned by :meth:`send`."""
        url = response.request.url
        server = f"{url.scheme}://{url.netloc.decode('ascii')}"
        return self._http_error(server, response, response.content, response.headers.get(REQUEST_ID_HEADER))

    async def _request(
        self, method: str, path: str, model: type[M], *, accept: Sequence[int], only: str | None
    ) -> Reply[M]:
        return await self._each_server(
            only, lambda server: self._attempt(server, method, path, model, accept)
        )

    async def _each_server(self, only: str | None, attempt: Callable[[str], Awaitable[R]]) -> R:
        failures: list[ServerError] = []
        for server in self._order(only):
            try:
                result = await attempt(server)
            except _Failover as failover:
                failures.append(failover.error)
                continue
            self._remember(server)
            return result
        if len(failures) == 1:
            raise failures[0]
        raise NoServerAvailable(failures)

    def _remember(self, server: str) -> None:
        if server != self._current:
            self._current = server
            if self._on_server_changed is not None:
                self._on_server_changed(server)

    async def _attempt(
        self, server: str, method: str, path: str, model: type[M], accept: Sequence[int]
    ) -> Reply[M]:
        exchange = await self._exchange(server, method, path)
        response = exchange.response
        request_id = response.headers.get(REQUEST_ID_HEADER)
        if response.status_code in accept:
            return Reply(
                server=server,
                status=response.status_code,
                body=self._parse(server, response, exchange.body, model),
                tls_version=exchange.tls_version,
                request_id=request_id,
                sent_at=exchange.sent_at,
                received_at=exchange.received_at,
            )
        if response.status_code >= 400:
            raise self._http_error(server, response, exchange.body, request_id)
        raise InvalidResponse(server, f"unexpected HTTP status {response.status_code} for {path}")

    async def _exchange(
        self,
        server: str,
        method: str,
        path: str,
        *,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - httpx's read timeout, as in send()
    ) -> _Exchange:
        if not path.startswith("/"):
            raise ValueError("paths are absolute")
        limits = self._timeout if timeout is None else httpx.Timeout(timeout, connect=self._timeout.connect)
        sent_at = dt.datetime.now(dt.UTC)
        try:
            async with self._http.stream(
                method, server + path, json=json, headers=headers, timeout=limits
            ) as response:
                tls_version = self._tls_version(server, response)
                body = await self._read_body(server, response)
        except httpx.TransportError as exc:
            error = self._transport_failure(server, exc)
            before_sending = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
            if before_sending or isinstance(error, TLSVerificationFailed | TLSHandshakeFailed):
                raise _Failover(error) from None
            if method in SAFE_METHODS:
                raise _Failover(error) from None
            raise error from None
        return _Exchange(server, response, body, tls_version, sent_at, dt.datetime.now(dt.UTC))

    def _tls_version(self, server: str, response: httpx.Response) -> str:
        stream = response.extensions.get("network_stream")
        ssl_object = stream.get_extra_info("ssl_object") if stream is not None else None
        version = ssl_object.version() if ssl_object is not None else None
        if version != REQUIRED_TLS_VERSION:
            raise TLSHandshakeFailed(
                server, f"the connection is not TLS 1.3 (negotiated {version or 'none'})"
            )
        return str(version)

    async def _read_body(self, server: str, response: httpx.Response) -> bytes:
        declared = response.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_RESPONSE_BYTES:
            raise InvalidResponse(server, f"the answer is larger than {MAX_RESPONSE_BYTES} bytes")
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > MAX_RESPONSE_BYTES:
                raise InvalidResponse(server, f"the answer is larger than {MAX_RESPONSE_BYTES} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    def _parse(self, server: str, response: httpx.Response, body: bytes, model: type[M]) -> M:
        media_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != "application/json":
            raise InvalidResponse(server, f"expected JSON, got {media_type or 'no content type'}")
        try:
            return model.model_validate_json(body)
        except ValidationError as exc:
            # Only the locations of the problems: the values may be personal information.
            places = sorted(
                {".".join(str(part) for part in error["loc"]) or "body" for error in exc.errors()}
            )
            shown = ", ".join(places[:5]) + (" and more" if len(places) > 5 else "")
            raise InvalidResponse(server, f"unexpected or missing fields: {shown}") from None

    def _http_error(
        self, server: str, response: httpx.Response, body: bytes, request_id: str | None
    ) -> ServerHTTPError:
        try:
            info = ErrorBody.model_validate_json(body).error
        except ValidationError:
            return ServerHTTPError(
                server,
                response.status_code,
                f"http_{response.status_code}",
                response.reason_phrase,
                request_id,
            )
        return ServerHTTPError(server, info.status, info.code, info.message, info.request_id or request_id)

    def _transport_failure(self, server: str, exc: httpx.TransportError) -> ServerError:
        for cause in exception_chain(exc):
            if isinstance(cause, ssl.SSLCertVerificationError):
                reason = cause.verify_message or "the certificate was rejected"
                return TLSVerificationFailed(server, self._trust.fingerprint, reason)
            if isinstance(cause, ssl.SSLError):
                return TLSHandshakeFailed(server, _handshake_reason(cause))
        if isinstance(exc, httpx.TimeoutException):
            return ServerUnreachable(server, "it did not answer in time")
        for cause in exception_chain(exc):
            if isinstance(cause, socket.gaierror):
                return ServerUnreachable(server, "its host name cannot be resolved")
            if isinstance(cause, ConnectionRefusedError):
                return ServerUnreachable(server, "the connection was refused")
            if isinstance(cause, OSError) and cause.strerror:
                return ServerUnreachable(server, cause.strerror.lower())
        if isinstance(exc, httpx.ConnectError):
            return ServerUnreachable(server, "no connection could be made")
        return ServerUnreachable(server, "the connection broke before the answer was complete")


def _handshake_reason(error: ssl.SSLError) -> str:
    reason = error.reason or type(error).__name__
    if "PROTOCOL_VERSION" in reason or "UNSUPPORTED_PROTOCOL" in reason:
        return f"the server does not offer TLS 1.3 ({reason})"
    return reason
