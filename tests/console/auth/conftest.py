"""Sign-in and session fixtures: a real server with quick Argon2id, an enrolled teller, and
the console's sign-in service on a qasync loop with an injected clock."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from keyring.backends import fail

from console.auth.local import LocalVaults
from console.auth.signin import SignInService
from console.net.trust import load_trust_anchor
from console.operations import Operations
from testkit.auth import Staff, provision
from testkit.console import FAST_KDF, Clock, RecordingClient, installed_keyring, start_auth_server
from testkit.servers import RunningServer


class Harness:
    """What a console gives the sign-in: operations, the client, the vaults."""

    def __init__(self, loop, server: RunningServer, profile_dir: Path, clock: Clock) -> None:
        self.unexpected: list[BaseException] = []
        self.server = server
        self.operations = Operations(loop, self.unexpected.append)
        self.client = RecordingClient([server.base_url], load_trust_anchor(server.ca_file))
        self.vaults = LocalVaults(profile_dir, kdf=FAST_KDF, clock=clock)
        self.service = SignInService(self.vaults, self.client, self.operations)

    async def aclose(self) -> None:
        await self.operations.aclose()
        await self.client.aclose()


@pytest.fixture(autouse=True)
def no_keyring() -> Iterator[None]:
    with installed_keyring(fail.Keyring()):
        yield


class Servers:
    """Starts the test's server, and stops it at most once (a test may stop it early)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.running: RunningServer | None = None

    def start(self, **overrides) -> RunningServer:
        self.running = start_auth_server(self.data_dir, **overrides)
        return self.running

    def stop(self) -> None:
        if self.running is not None:
            running, self.running = self.running, None
            running.stop()


@pytest.fixture
def auth_servers(tmp_path: Path) -> Iterator[Servers]:
    servers = Servers(tmp_path / "server")
    yield servers
    servers.stop()


@pytest.fixture
def auth_server(auth_servers: Servers) -> RunningServer:
    return auth_servers.start()


@pytest.fixture
def staff(auth_server: RunningServer) -> Staff:
    return provision(auth_server.settings, "thandi", ("teller",))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def harness(qloop, run, auth_server: RunningServer, tmp_path: Path, clock: Clock) -> Iterator[Harness]:
    made = Harness(qloop, auth_server, tmp_path / "profile", clock)
    yield made
    run(made.aclose())
    assert made.unexpected == []
