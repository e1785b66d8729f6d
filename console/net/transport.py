"""The console's HTTP transport: httpx's own, with one repair.

httpcore closes a new connection whose TLS handshake fails with an error, but not one
whose handshake is cancelled (the console cancels requests when a user signs out or quits).
Such a socket stayed open until the garbage collector found it, and the server kept its
half of the handshake.  The connections made here are closed however the handshake ends.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable

import anyio
import httpcore
import httpx

# httpx's own default pool limits.
LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=5.0)


class HandshakeClosingStream(httpcore.AsyncNetworkStream):
    """A TCP stream that closes itself when ``start_tls`` does not succeed."""

    def __init__(self, stream: httpcore.AsyncNetworkStream) -> None:
        self._stream = stream

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109 - httpcore's signature
        return await self._stream.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109 - httpcore's signature
        await self._stream.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's signature
    ) -> httpcore.AsyncNetworkStream:
        try:
            return await self._stream.start_tls(ssl_context, server_hostname, timeout)
        except BaseException:
            # A cancelled task must still close the socket: closing in a cancelled scope
            # aborts the transport without waiting for anything.
            await anyio.aclose_forcefully(self._stream)  # type: ignore[arg-type]
            raise

    def get_extra_info(self, info: str) -> object:
        return self._stream.get_extra_info(info)


class HandshakeClosingBackend(httpcore.AnyIOBackend):
    """httpcore's asyncio backend, handing out :class:`HandshakeClosingStream` s."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's signature
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await super().connect_tcp(host, port, timeout, local_address, socket_options)
        return HandshakeClosingStream(stream)


def console_transport(ssl_context: ssl.SSLContext) -> httpx.AsyncHTTPTransport:
    """httpx's transport over a connection pool that uses :class:`HandshakeClosingBackend`.

    httpx has no parameter for the network backend, so its pool is replaced by an equal one
    that has it; ``tests/console/net/test_transport.py`` fails if httpx stops using it."""
    transport = httpx.AsyncHTTPTransport(verify=ssl_context, trust_env=False, limits=LIMITS)
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=ssl_context,
        max_connections=LIMITS.max_connections,
        max_keepalive_connections=LIMITS.max_keepalive_connections,
        keepalive_expiry=LIMITS.keepalive_expiry,
        network_backend=HandshakeClosingBackend(),
    )
    return transport
