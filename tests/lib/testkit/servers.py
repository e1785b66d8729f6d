"""Servers for tests: a KluisServer or a bare HTTP listener, each on its own event loop
in a thread, so that tests can talk to them with ordinary blocking sockets."""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from server.config import Settings
from server.http.dispatch import Authorizer, Dispatcher
from server.http.limits import Limits
from server.http.listener import HTTPListener
from server.http.routing import Router
from server.observability import ListenerObserver, Metrics
from server.runtime import KluisServer
from server.tls import ensure_development_tls, server_context

T = TypeVar("T")


class LoopThread:
    """An event loop running in a daemon thread until ``close``."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="test-server-loop", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()
        pending = asyncio.all_tasks(self.loop)
        for task in pending:
            task.cancel()
        if pending:
            self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def submit(self, coroutine: Coroutine[Any, Any, T]) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(30)


class RunningServer:
    """A started :class:`KluisServer`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.thread = LoopThread()
        self.server: KluisServer = self.thread.run(self._start())

    async def _start(self) -> KluisServer:
        server = KluisServer(self.settings)
        await server.start()
        return server

    @property
    def address(self) -> tuple[str, int]:
        assert self.server.api_address is not None
        return self.server.api_address

    @property
    def metrics_address(self) -> tuple[str, int]:
        assert self.server.metrics_address is not None
        return self.server.metrics_address

    @property
    def base_url(self) -> str:
        _, port = self.address
        return f"https://localhost:{port}"

    @property
    def ca_file(self) -> Path:
        assert self.server.tls is not None
        assert self.server.tls.ca_file is not None
        return self.server.tls.ca_file

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return self.thread.run(coroutine, timeout)

    def stop(self) -> None:
        if self.server.state is not None and not self.server._stopped.is_set():
            self.thread.run(self.server.shutdown(), timeout=self.settings.shutdown_grace + 30)
        self.thread.close()


class RunningListener:
    """A bare :class:`HTTPListener` serving a test route table over development TLS."""

    def __init__(
        self,
        router: Router,
        data_dir: Path,
        limits: Limits,
        authorizer: Authorizer | None = None,
    ) -> None:
        tls = ensure_development_tls(data_dir, [])
        self.ca_file = tls.ca_file
        self.context: ssl.SSLContext = server_context(tls.cert_file, tls.key_file)
        self.metrics = Metrics()
        self.thread = LoopThread()
        self.listener = HTTPListener(
            name="test",
            dispatcher=Dispatcher(router, max_body_bytes=limits.max_body_bytes, authorizer=authorizer),
            limits=limits,
            ssl_context=self.context,
            observer=ListenerObserver(self.metrics, "test", access_log=False),
        )
        self.address = self.thread.run(self.listener.start("127.0.0.1", 0))

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return self.thread.run(coroutine, timeout)

    def call(self, function: Callable[[], T]) -> T:
        async def call() -> T:
            return function()

        return self.thread.run(call())

    async def _shutdown(self, grace: float) -> int:
        self.listener.stop_accepting()
        remaining = await self.listener.wait_closed(grace)
        await self.listener.abort_all()
        return remaining

    def shutdown(self, grace: float = 5.0) -> int:
        return self.thread.run(self._shutdown(grace), timeout=grace + 30)

    def stop(self) -> None:
        try:
            self.shutdown(0.5)
        finally:
            self.thread.close()


def server_settings(data_dir: Path, database_url: str, **overrides: Any) -> Settings:
    """Settings for a test server: ephemeral ports, quiet access log, the given database."""
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "database_url": database_url,
        "listen": "127.0.0.1:0",
        "metrics_listen": "127.0.0.1:0",
        "access_log": False,
        "shutdown_grace": 5.0,
    }
    if not database_url.startswith("sqlite"):
        # Customers' data keys live in a database of their own; beside the test's data will do.
        values["customer_key_database_url"] = f"sqlite:///{data_dir / 'customer-keys.db'}"
    values.update(overrides)
    return Settings(**values)
