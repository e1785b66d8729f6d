"""Console test fixtures: a qasync loop on pytest-qt's QApplication, real Kluis servers
over real TLS (SQLite), and a TLS listener that answers with canned bytes."""

from __future__ import annotations

import asyncio
import gc
import socket
import ssl
import threading
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import qasync
import shiboken6

from console.net.trust import TrustAnchor, load_trust_anchor
from server.db.migrate import upgrade_to_head
from server.tls import ensure_development_tls, server_context
from testkit.servers import RunningServer, server_settings

T = TypeVar("T")

CONSOLE_TESTS = Path(__file__).resolve().parent

# The offscreen platform the tests run on cannot raise windows or pass size hints to a
# window system, and says so whenever a window is shown; on a real display these calls
# work.  Only these two exact messages are let through; any other Qt warning fails.
OFFSCREEN_LIMITATIONS = r"^This plugin does not support (propagateSizeHints|raise)\(\)$"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(CONSOLE_TESTS):
            item.add_marker(pytest.mark.qt_log_ignore(OFFSCREEN_LIMITATIONS))


@pytest.fixture
def qloop(qapp) -> Iterator[qasync.QEventLoop]:
    """A qasync loop on the test QApplication.  Tests drive it with ``run``; it is closed
    (with its default executor) at teardown."""
    qapp.setQuitOnLastWindowClosed(False)
    loop = qasync.QEventLoop(qapp)
    yield loop
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()
    # qasync's timer object keeps Qt timers for handles that never fired (cancelled
    # timeouts).  Destroy it here, on the GUI thread: if the garbage collector happened to
    # run on a server thread, Qt would warn that timers cannot be stopped from there.
    shiboken6.delete(loop._timer)
    gc.collect()


@pytest.fixture
def run(qloop) -> Callable[[Coroutine[Any, Any, T]], T]:
    """``run(coroutine)``: run it on the qasync loop to completion, within 60 s."""

    def run(coroutine: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        return qloop.run_until_complete(asyncio.wait_for(coroutine, timeout))

    return run


async def eventually(predicate: Callable[[], bool], timeout: float = 20.0, message: str = "") -> None:
    """Wait, with the loop running, until ``predicate()`` holds."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)


@pytest.fixture
def wait_for() -> Callable[..., Coroutine[Any, Any, None]]:
    return eventually


class Servers:
    """Starts real Kluis servers, each with its own data directory (so its own CA)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.running: list[RunningServer] = []

    def start(self, name: str = "server", port: int = 0) -> RunningServer:
        data_dir = self.root / name
        data_dir.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{data_dir / 'kluis.db'}"
        upgrade_to_head(url)
        server = RunningServer(server_settings(data_dir, url, listen=f"127.0.0.1:{port}", shutdown_grace=1.0))
        self.running.append(server)
        return server

    def stop(self, server: RunningServer) -> None:
        self.running.remove(server)
        server.stop()

    def stop_all(self) -> None:
        while self.running:
            self.stop(self.running[-1])


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Servers]:
    started = Servers(tmp_path / "servers")
    yield started
    started.stop_all()


@pytest.fixture
def server(servers: Servers) -> RunningServer:
    return servers.start()


@pytest.fixture
def trust(server: RunningServer) -> TrustAnchor:
    return load_trust_anchor(server.ca_file)


class CannedTLSServer:
    """Accepts TLS connections on 127.0.0.1 and answers every request with ``response``."""

    def __init__(self, context: ssl.SSLContext, response: bytes) -> None:
        self.context = context
        self.response = response
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.port = self.listener.getsockname()[1]
        self.url = f"https://localhost:{self.port}"
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="canned-tls", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                connection, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            connection.settimeout(5)
            try:
                with self.context.wrap_socket(connection, server_side=True) as tls:
                    received = b""
                    while b"\r\n\r\n" not in received:
                        chunk = tls.recv(4096)
                        if not chunk:
                            break
                        received += chunk
                    tls.sendall(self.response)
            except (ssl.SSLError, OSError):
                connection.close()

    def close(self) -> None:
        self._stopping.set()
        self._thread.join(10)
        self.listener.close()


class Canned:
    def __init__(self, root: Path) -> None:
        self.tls = ensure_development_tls(root, [])
        self.trust = load_trust_anchor(self.tls.ca_file)
        self.started: list[CannedTLSServer] = []

    def tls13(self) -> ssl.SSLContext:
        return server_context(self.tls.cert_file, self.tls.key_file)

    def tls12_only(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.maximum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.tls.cert_file, self.tls.key_file)
        return context

    @staticmethod
    def response(status: str, body: bytes, content_type: str = "application/json") -> bytes:
        head = [f"HTTP/1.1 {status}", f"content-type: {content_type}", f"content-length: {len(body)}"]
        return ("\r\n".join([*head, "connection: close"]) + "\r\n\r\n").encode() + body

    def serve(self, response: bytes, context: ssl.SSLContext | None = None) -> CannedTLSServer:
        server = CannedTLSServer(context or self.tls13(), response)
        self.started.append(server)
        return server


@pytest.fixture
def canned(tmp_path: Path) -> Iterator[Canned]:
    factory = Canned(tmp_path / "canned")
    yield factory
    for server in factory.started:
        server.close()


@pytest.fixture
def closed_port() -> int:
    """A local port with nothing listening on it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
