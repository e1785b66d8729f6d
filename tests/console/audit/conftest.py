"""The auditor's copy of the log against a real server: tellers whose work fills the log,
an auditor signed in on a headless console, and the server's own view to compare with."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from keyring.backends import fail

from console.audit.copy import AuditCopy
from console.audit.download import Downloader, DownloadOutcome
from server.db.migrate import upgrade_to_head
from testkit.audit import AuditClient
from testkit.console import installed_keyring
from testkit.console_sync import Consoles, HeadlessSyncConsole, ServerHolder, open_consoles, server_holder


@pytest.fixture(autouse=True)
def no_keyring() -> Iterator[None]:
    with installed_keyring(fail.Keyring()):
        yield


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[ServerHolder]:
    url = f"sqlite:///{tmp_path / 'kluis.db'}"
    upgrade_to_head(url)
    yield from server_holder(tmp_path, url, audit_checkpoint_interval=0.1)


@pytest.fixture
def servers_on_each_backend(tmp_path: Path, database_url: str) -> Iterator[ServerHolder]:
    yield from server_holder(tmp_path, database_url, audit_checkpoint_interval=0.1)


@pytest.fixture
def consoles(qloop, run, servers: ServerHolder, tmp_path: Path) -> Iterator[Consoles]:
    yield from open_consoles(qloop, run, servers, tmp_path / "consoles")


@pytest.fixture
def consoles_on_each_backend(qloop, run, servers_on_each_backend: ServerHolder, tmp_path: Path):
    yield from open_consoles(qloop, run, servers_on_each_backend, tmp_path / "consoles")


class Desk:
    """The log's side of a test: tellers add to it, the auditor copies it."""

    def __init__(self, consoles: Consoles, servers: ServerHolder) -> None:
        self.consoles = consoles
        self.servers = servers
        self.log = AuditClient(consoles.server)
        self.tellers: list[HeadlessSyncConsole] = []
        self.auditor: HeadlessSyncConsole | None = None

    async def teller_work(self, customers: int = 3, opens: int = 2) -> None:
        """A teller creates customers and opens each a few times; it all reaches the log."""
        if not self.tellers:
            staff = await self.consoles.staff(f"teller{len(self.tellers)}", "teller")
            self.tellers.append(await self.consoles.sign_in(staff))
        teller = self.tellers[0]
        for _ in range(customers):
            customer = await teller.create_customer()
            for _ in range(opens):
                await teller.blocking(lambda c=customer: teller.access.record("open", c, "customer_service"))
        await teller.sync()
        await self.settle()

    async def settle(self) -> int:
        """Until every event is in the log and a checkpoint covers it all: the log's size."""
        return await asyncio.to_thread(self.log.settle)

    async def sign_in_auditor(self) -> HeadlessSyncConsole:
        staff = await self.consoles.staff("auditor1", "auditor")
        self.auditor = await self.consoles.sign_in(staff)
        return self.auditor

    @property
    def copy(self) -> AuditCopy:
        assert self.auditor is not None
        return AuditCopy(self.auditor.store)

    async def download(self, **options) -> DownloadOutcome:
        assert self.auditor is not None
        session = self.auditor.flaky
        downloader = Downloader(
            self.copy,
            lambda method, path, accept: session.request(method, path, accept=accept),
            self.auditor.blocking,
            **options,
        )
        return await downloader.run()

    def close(self) -> None:
        self.log.close()


@pytest.fixture
def desk(consoles: Consoles, servers: ServerHolder) -> Iterator[Desk]:
    made = Desk(consoles, servers)
    yield made
    made.close()


@pytest.fixture
def desk_on_each_backend(
    consoles_on_each_backend: Consoles, servers_on_each_backend: ServerHolder
) -> Iterator[Desk]:
    made = Desk(consoles_on_each_backend, servers_on_each_backend)
    yield made
    made.close()
