"""A TLS listening socket and the connections it accepted, with orderly shutdown."""

from __future__ import annotations

import asyncio
import logging
import ssl
from asyncio.sslproto import SSLProtocol

from server.http.connection import HTTPConnection, RequestObserver
from server.http.dispatch import Dispatcher
from server.http.headers import HttpDate
from server.http.limits import Limits

logger = logging.getLogger("kluis.http")


class ServerTLS(SSLProtocol):
    """asyncio's TLS layer, keeping the socket's transport so that shutdown can abort a
    connection still in its handshake (its HTTP connection does not exist yet)."""

    socket_transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.socket_transport = transport
        super().connection_made(transport)

    def abort_handshake(self) -> None:
        if self.socket_transport is not None and not self.socket_transport.is_closing():
            assert isinstance(self.socket_transport, asyncio.Transport)
            self.socket_transport.abort()


class ListenerEvents:
    """Hooks for metrics and the access log; the defaults do nothing."""

    def request_finished(self, request_id: str, method: str, route: str, status: int, seconds: float) -> None:
        return None

    def connection_opened(self) -> None:
        return None

    def connection_closed(self) -> None:
        return None

    def connection_refused(self) -> None:
        return None

    def handshake_failed(self) -> None:
        return None


class HTTPListener:
    def __init__(
        self,
        *,
        name: str,
        dispatcher: Dispatcher,
        limits: Limits,
        ssl_context: ssl.SSLContext,
        observer: ListenerEvents | None = None,
    ) -> None:
        self.name = name
        self.dispatcher = dispatcher
        self.limits = limits
        self.observer: RequestObserver = observer or ListenerEvents()
        self.http_date = HttpDate()
        self._ssl_context = ssl_context
        self._events = observer or ListenerEvents()
        self._server: asyncio.Server | None = None
        self._admitted: set[HTTPConnection] = set()
        self._refused: set[HTTPConnection] = set()
        self._handshaking: set[ServerTLS] = set()
        self._draining = False

    # -- ConnectionHost ----------------------------------------------------------------

    @property
    def draining(self) -> bool:
        return self._draining

    def admit(self, connection: HTTPConnection) -> bool:
        if len(self._admitted) >= self.limits.max_connections:
            self._refused.add(connection)
            self._events.connection_refused()
            return False
        self._admitted.add(connection)
        self._events.connection_opened()
        return True

    def release(self, connection: HTTPConnection) -> None:
        if connection in self._admitted:
            self._admitted.discard(connection)
            self._events.connection_closed()
        self._refused.discard(connection)

    @property
    def open_connections(self) -> int:
        return len(self._admitted)

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self, host: str, port: int) -> tuple[str, int]:
        """Listen; returns the bound address (useful with port 0)."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._new_protocol, host, port, backlog=1024)
        address = self._server.sockets[0].getsockname()
        return str(address[0]), int(address[1])

    def _new_protocol(self) -> ServerTLS:
        # asyncio's own TLS path gives no hook for failed handshakes, so the TLS layer is
        # assembled here, where its handshake waiter can be observed.
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        protocol = ServerTLS(
            loop,
            HTTPConnection(self),
            self._ssl_context,
            waiter,
            server_side=True,
            # typeshed says int; asyncio takes any number of seconds.
            ssl_handshake_timeout=self.limits.tls_handshake_timeout,  # type: ignore[arg-type]
        )
        self._handshaking.add(protocol)
        waiter.add_done_callback(lambda done: self._handshake_done(protocol, done))
        return protocol

    def _handshake_done(self, protocol: ServerTLS, waiter: asyncio.Future[None]) -> None:
        self._handshaking.discard(protocol)
        if waiter.cancelled():
            return
        if waiter.exception() is not None:
            self._events.handshake_failed()

    def begin_drain(self) -> None:
        """From now on idle connections close and every response closes its connection;
        new connections are still served, one request each, until ``stop_accepting``."""
        self._draining = True
        for connection in list(self._admitted | self._refused):
            connection.drain()

    def stop_accepting(self) -> None:
        self.begin_drain()
        if self._server is not None:
            self._server.close()

    def _tasks(self) -> list[asyncio.Task[None]]:
        return [
            connection.task
            for connection in self._admitted | self._refused
            if connection.task is not None and not connection.task.done()
        ]

    async def wait_closed(self, grace: float) -> int:
        """Wait up to ``grace`` seconds for connections to finish; returns how many did not."""
        tasks = self._tasks()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace)
            return len(pending)
        return 0

    async def abort_all(self) -> None:
        tasks = self._tasks()
        for task in tasks:
            task.cancel()
        for connection in list(self._admitted | self._refused):
            connection.abort()
        for handshake in list(self._handshaking):
            handshake.abort_handshake()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
