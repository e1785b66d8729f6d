"""The auditor's workspace on a real signed-in session and a real server: download fills the
list and verification runs by itself; with the server gone the copy is still browsed,
filtered, followed trail by trail and verified; tampering is found and named in Findings;
an export writes a bundle kluis-verify accepts and is itself recorded in the audit log."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import shiboken6
from keyring.backends import fail
from PySide6.QtWidgets import QDialogButtonBox
from sqlalchemy import text

from console.auth.sessions import Sessions
from console.context import ShellContext
from console.monitor import ServerMonitor
from console.net.errors import ServerUnreachable
from console.state import ConnectionState, Outbox
from console.sync.controller import SyncController
from console.ui.audit_page import AuditorPage
from console.verify_cli import main as kluis_verify
from testkit.audit import AuditClient
from testkit.console import installed_keyring
from testkit.console_sync import Consoles


@pytest.fixture(autouse=True)
def no_keyring() -> Iterator[None]:
    with installed_keyring(fail.Keyring()):
        yield


class Desk:
    def __init__(self, consoles: Consoles, auditor, server) -> None:
        self.consoles = consoles
        self.auditor = auditor
        self.server = server
        operations = consoles.operations
        self.connection = ConnectionState(operations.notify, server.base_url, "SHA256:00")
        self.sessions = Sessions()
        monitor = ServerMonitor(operations, consoles.client, self.connection)
        self.context = ShellContext(
            operations, consoles.client, self.connection, Outbox(operations.notify), monitor, self.sessions
        )
        self.sessions.start(auditor.session)
        self.sync = SyncController.of(self.context)
        self.page = AuditorPage(self.context)


async def until(predicate, timeout: float = 60.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)


@pytest.fixture
def with_desk(qloop, run, qtbot, server, tmp_path: Path):
    """Tellers' work in the log, an auditor signed in with the workspace built; the scenario
    and the closing all within one run of the loop."""

    def go(scenario) -> None:
        async def whole() -> None:
            consoles = Consoles(qloop, server, tmp_path / "consoles")
            log = AuditClient(server)
            try:
                teller = await consoles.sign_in(await consoles.staff("lindiwe", "teller"))
                for _ in range(3):
                    customer = await teller.create_customer()
                    await teller.blocking(
                        lambda c=customer: teller.access.record("open", c, "customer_service")
                    )
                await teller.sync()
                auditor = await consoles.sign_in(await consoles.staff("pieter", "auditor"))
                await asyncio.to_thread(log.settle)
                desk = Desk(consoles, auditor, server)
                desk.teller = teller
                desk.log = log
                qtbot.addWidget(desk.page)
                await scenario(desk)
            finally:
                await consoles.aclose()
                log.close()
            assert consoles.unexpected == []

        run(whole(), timeout=240)

    return go


async def downloaded_and_verified(desk) -> None:
    page = desk.page
    await until(lambda: page.download_button.isEnabled())
    assert not page.verify_button.isEnabled()  # nothing to verify before the first download
    page.download_button.click()
    await until(lambda: page.state is not None and not page.state.empty and page.state.verified_current)
    await until(lambda: not page.busy and page.model.total is not None and not page.model.fetching)


def test_download_then_verify_then_browse_offline(with_desk, servers):
    async def scenario(desk):
        page = desk.page
        await downloaded_and_verified(desk)
        state = page.state
        assert state.verified_ok
        assert "Verified" in page.verdict.text()
        assert page.model.total == state.held
        assert page.model.rowCount() == min(state.held, 200)
        first = page.model.row(0)
        assert first.index == state.size - 1  # newest first
        column = [page.model.data(page.model.index(r, 8)) for r in range(page.model.rowCount())]
        assert set(column) <= {"Verified", "Erased"}

        # The server goes away; the auditor keeps working.
        await asyncio.to_thread(servers.stop, desk.server)
        page.download_button.click()
        await until(lambda: not page.message.isHidden() and not page.busy)
        assert page.message.text().startswith("Cannot reach https://localhost:")
        assert "The copy on this computer is unchanged" in page.message.text()
        assert page.state.size == state.size
        # Once the console knows the server is gone, it does not offer to download.
        desk.connection.failed(ServerUnreachable(desk.server.base_url, "the connection was refused"))
        await until(lambda: not page.download_button.isEnabled())
        assert page.verify_button.isEnabled()
        assert page.export_button.isEnabled()
        page.filters.choices["action"].setCurrentIndex(page.filters.choices["action"].findData("open"))
        await until(
            lambda: page.model.filter.action == "open" and page.model.total == 3 and not page.model.fetching
        )
        row = page.model.row(0)
        page.select_row(0)
        await until(lambda: page.detail.detail is not None and page.detail.detail.index == row.index)
        assert page.detail.values["action"].text() == "open"
        assert "Verified" in page.detail.values["signature_status"].text()
        assert "root recomputed" in page.detail.values["inclusion_status"].text()
        page.detail.object_trail.click()
        await until(
            lambda: (
                page.model.filter.object_id == row.object_id
                and page.model.total is not None
                and not page.model.fetching
            )
        )
        assert page.model.total == 2  # its creation and its opening
        actions = {page.model.row(n).action for n in range(page.model.rowCount())}
        assert actions == {"create", "open"}
        page.detail.show_entry(None, None)
        page.select_row(0)
        await until(lambda: page.detail.detail is not None)
        page.detail.actor_trail.click()
        await until(lambda: page.model.filter.actor == str(desk.teller.session.identity.user_id))
        await until(lambda: page.model.total is not None)
        assert page.model.total >= 6
        page.filters.clear()
        await until(lambda: page.model.filter.is_empty and page.model.total == state.held)

        page.verify_button.click()
        await until(lambda: page.busy)
        await until(lambda: not page.busy)
        assert page.state.verified_ok

    with_desk(scenario)


def test_tampering_is_found_named_and_listed(with_desk):
    async def scenario(desk):
        page = desk.page
        await downloaded_and_verified(desk)

        def tamper():
            with desk.auditor.store.writing() as connection:
                event = json.loads(
                    connection.execute(
                        text("SELECT event FROM audit_copy_entries WHERE idx = 7")
                    ).scalar_one()
                )
                event["outcome"] = "denied" if event["outcome"] != "denied" else "success"
                connection.execute(
                    text("UPDATE audit_copy_entries SET event = :e WHERE idx = 7"), {"e": json.dumps(event)}
                )

        await desk.auditor.blocking(tamper)
        page.verify_button.click()
        await until(lambda: page.state is not None and page.state.verified_ok is False)
        assert "FAILED" in page.verdict.text()
        assert page.tabs.currentIndex() == 1
        assert page.tabs.tabText(1) == f"Findings ({page.findings.count()})"
        texts = [page.findings.item(n).text() for n in range(page.findings.count())]
        assert any(t.startswith("Entry 7: ") and "[commitment_mismatch]" in t for t in texts)
        item = next(
            page.findings.item(n)
            for n in range(page.findings.count())
            if "Entry 7" in page.findings.item(n).text()
        )
        page._finding_activated(item)
        await until(lambda: page.detail.detail is not None and page.detail.detail.index == 7)
        assert not page.detail.problems.isHidden()
        assert "commitment_mismatch" in page.detail.problems.text()
        row = page.model.row_of(7)
        assert page.model.data(page.model.index(row, 8)) == "1 problem"

    with_desk(scenario)


def test_an_export_writes_a_bundle_kluis_verify_accepts_and_is_recorded(with_desk, tmp_path, capsys):
    target = tmp_path / "evidence.json"

    async def scenario(desk):
        page = desk.page
        await downloaded_and_verified(desk)
        dialog = page.export()
        await until(lambda: dialog.isVisible())
        ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
        assert not ok.isEnabled()  # no purpose, no export
        assert not dialog.object_trail.isEnabled()
        dialog.purpose.setCurrentIndex(dialog.purpose.findData("external_audit"))
        dialog.path.setText(str(target))
        assert ok.isEnabled()
        ok.click()
        await until(lambda: not shiboken6.isValid(dialog) or not dialog.isVisible())
        assert "Exported" in page.message.text()
        desk.state_key = page.state.log_key

        def queued():
            with desk.auditor.store.reading() as connection:
                return [
                    json.loads(row[0]) for row in connection.execute(text("SELECT event FROM audit_outbox"))
                ]

        async def recorded():
            async with desk.server.server.database.transaction() as connection:
                rows = await connection.execute(
                    text("SELECT event FROM audit_entries WHERE action = 'export'")
                )
                return [json.loads(bytes(row[0])) for row in rows]

        events = []
        while not events:
            events = [e for e in await desk.auditor.blocking(queued) if e["action"] == "export"]
            events += await asyncio.to_thread(desk.server.run, recorded())
            await asyncio.sleep(0.05)
        (event,) = events[:1]
        assert event["purpose"] == "external_audit"
        assert event["object_type"] == "audit_log"
        assert event["role"] == "auditor"
        assert event["signer"] == f"device:{desk.auditor.session.identity.device_id}"

    with_desk(scenario)
    assert kluis_verify([str(target), "--jobs", "1"]) == 0
    assert "OK: every check passed" in capsys.readouterr().out
