"""The console's transport closes a connection whose TLS handshake is cancelled (a user
signing out or quitting while a request is connecting), instead of leaving it open."""

from __future__ import annotations

import asyncio

import pytest

from console.net.client import ServerClient


class SilentPeer(asyncio.Protocol):
    """Accepts TCP connections and never answers the TLS handshake."""

    def __init__(self) -> None:
        self.hello = asyncio.Event()
        self.lost = asyncio.Event()
        self.transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.hello.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost.set()


def test_a_request_cancelled_during_the_handshake_closes_its_connection(run, canned):
    peer = SilentPeer()

    async def scenario():
        loop = asyncio.get_running_loop()
        listener = await loop.create_server(lambda: peer, "127.0.0.1", 0)
        port = listener.sockets[0].getsockname()[1]
        client = ServerClient([f"https://localhost:{port}"], canned.trust)
        try:
            request = asyncio.ensure_future(client.server_info())
            await asyncio.wait_for(peer.hello.wait(), 10)  # the ClientHello arrived: mid-handshake
            request.cancel()
            with pytest.raises(asyncio.CancelledError):
                await request
            await asyncio.wait_for(peer.lost.wait(), 5)  # the console closed its side
        finally:
            await client.aclose()
            if peer.transport is not None:
                peer.transport.close()
            listener.close()
            await listener.wait_closed()

    run(scenario())
    assert peer.lost.is_set()
