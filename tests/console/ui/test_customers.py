"""The customer register workspace on a real signed-in session and a real server: the list
fetches in chunks as it scrolls, search finds by name and by exact ID number, opening and
revealing leave access records (a reveal only with a purpose), and the create and change
dialogs validate, store offline-first and show the result at once."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import shiboken6
from keyring.backends import fail
from PySide6.QtCore import QModelIndex
from PySide6.QtWidgets import QDialogButtonBox, QLabel
from sqlalchemy import select

from console.auth.sessions import Sessions
from console.context import ShellContext
from console.monitor import ServerMonitor
from console.state import ConnectionState, Outbox
from console.sync.controller import SyncController
from console.ui.customers_model import CHUNK
from console.ui.customers_page import CustomersPage
from server.audit.tables import audit_entries
from server.auth.tables import users
from testkit.console import installed_keyring
from testkit.console_sync import Consoles, seed_customers

SEEDED = 450


@pytest.fixture(autouse=True)
def no_keyring() -> Iterator[None]:
    with installed_keyring(fail.Keyring()):
        yield


class Desk:
    """A signed-in teller's customer workspace, as the shell builds it."""

    def __init__(self, consoles: Consoles, headless, server, *, all_branches: bool = False) -> None:
        self.consoles = consoles
        self.headless = headless
        self.server = server
        operations = consoles.operations
        self.connection = ConnectionState(operations.notify, consoles.server.base_url, "SHA256:00")
        self.outbox = Outbox(operations.notify)
        self.sessions = Sessions()
        monitor = ServerMonitor(operations, consoles.client, self.connection)
        self.context = ShellContext(
            operations, consoles.client, self.connection, self.outbox, monitor, self.sessions
        )
        self.sessions.start(headless.session)
        self.sync = SyncController.of(self.context)
        self.page = CustomersPage(self.context, all_branches=all_branches)

    async def events(self) -> list[dict]:
        """The access records this device signed, queued here or already in the server's log (the
        running engine uploads them as soon as they are queued), oldest first."""
        store = self.headless.store
        pending = await self.headless.blocking(lambda: store.pending_events(1000))
        device = self.headless.session.identity.device_id

        async def logged() -> list[bytes]:
            async with self.server.server.database.transaction() as connection:
                query = select(audit_entries.c.event).where(audit_entries.c.signer == f"device:{device}")
                return [bytes(row[0]) for row in await connection.execute(query)]

        uploaded = await asyncio.to_thread(self.server.run, logged())
        # Read in this order, an event uploaded in between shows in both: count it once.
        events = {event["event_id"]: event for event in map(json.loads, [e.event for e in pending])}
        events.update((event["event_id"], event) for event in map(json.loads, uploaded))
        return sorted(events.values(), key=lambda event: event["occurred_at"])


@pytest.fixture
def with_desk(qloop, run, qtbot, server, tmp_path: Path):
    """``with_desk(scenario)``: sign a teller in (450 customers synced to them), build the
    workspace, run ``scenario(desk)`` and close everything, all within one run of the loop,
    so that nothing is in flight while the loop stands still."""

    def go(scenario) -> None:
        async def whole() -> None:
            consoles = Consoles(qloop, server, tmp_path / "consoles")
            try:
                staff = await consoles.staff("nomsa", "teller")
                branch = await asyncio.to_thread(server.run, _branch_of(server, staff.user_id))
                await asyncio.to_thread(
                    lambda: asyncio.run(seed_customers(server.settings, branch, staff.user_id, SEEDED))
                )
                desk = Desk(consoles, await consoles.sign_in(staff), server)
                qtbot.addWidget(desk.page)
                await scenario(desk)
            finally:
                await consoles.aclose()
            assert consoles.unexpected == []

        run(whole(), timeout=240)

    return go


async def _branch_of(server, user_id: uuid.UUID) -> uuid.UUID:
    async with server.server.database.transaction() as connection:
        query = select(users.c.branch_id).where(users.c.id == user_id)
        value = (await connection.execute(query)).scalar_one()
    return uuid.UUID(str(value))


def closed(dialog) -> bool:
    """Closed, or already deleted after closing."""
    return not shiboken6.isValid(dialog) or not dialog.isVisible()


async def until(predicate, timeout: float = 60.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)


def test_the_list_fetches_in_chunks_as_it_scrolls_and_the_status_bar_models_follow(with_desk):
    async def scenario(desk):
        page, model = desk.page, desk.page.model
        await until(lambda: model.total == SEEDED)  # the engine synced; the list refreshed itself
        await until(lambda: not model.fetching)
        assert model.rowCount() == CHUNK
        assert model.canFetchMore(QModelIndex())
        model.fetchMore(QModelIndex())
        await until(lambda: model.rowCount() == 2 * CHUNK)
        page.resize(900, 600)
        page.show()
        while model.canFetchMore(QModelIndex()):
            page.table.scrollToBottom()  # the view asks for more by itself
            await asyncio.sleep(0.05)
        assert model.rowCount() == SEEDED
        keys = [model.row(number).key for number in range(model.rowCount())]
        assert keys == sorted(keys)
        assert len({model.row(number).id for number in range(model.rowCount())}) == SEEDED
        assert desk.connection.last_sync is not None
        assert page.total.text() == f"{SEEDED} customers"

    with_desk(scenario)


def test_search_by_name_and_exact_id_number_is_recorded_without_what_was_searched(with_desk):
    async def scenario(desk):
        page, model = desk.page, desk.page.model
        await until(lambda: model.total == SEEDED)
        page.search.setText("nkosi12")
        page.run_search()
        await until(lambda: model.query.is_search and not model.fetching and model.total is not None)
        names = [model.row(number).name.casefold() for number in range(model.rowCount())]
        assert names
        assert all("nkosi12" in name for name in names)
        first = model.row(0)
        number = (await desk.headless.customers())[first.id]["fields"]["id_number"]
        page.search.setText(number)
        page.run_search()
        await until(lambda: model.query.kind == "id_number" and not model.fetching and model.total == 1)
        assert model.row(0).id == first.id
        assert model.row(0).id_number == "*" * 9 + number[-4:]
        events: list[dict] = []
        while len(events) < 2:
            events = [event for event in await desk.events() if event["action"] == "search"]
            await asyncio.sleep(0.05)
        assert len(events) == 2
        assert all(event["purpose"] == "customer_service" and event["object_id"] is None for event in events)
        assert number not in json.dumps(events)
        page.search.clear()
        await until(lambda: not model.query.is_search and model.total == SEEDED)

    with_desk(scenario)


def test_opening_shows_masked_fields_and_revealing_needs_a_purpose(with_desk):
    async def scenario(desk):
        page, model, detail = desk.page, desk.page.model, desk.page.detail
        await until(lambda: model.total == SEEDED and model.rowCount() > 0)
        row = model.row(0)
        full = (await desk.headless.customers())[row.id]["fields"]
        page.open_customer(row.id)
        await until(lambda: detail.data is not None)
        assert detail.title.text() == row.name
        assert detail.values["id_number"].text() == "*" * 9 + full["id_number"][-4:]
        assert full["phone"] not in detail.values["phone"].text()
        assert detail.values["date_of_birth"].text() == "****-**-**"
        detail.reveal_buttons["id_number"].click()
        await until(
            lambda: getattr(detail, "reveal_dialog", None) is not None and detail.reveal_dialog.isVisible()
        )
        dialog = detail.reveal_dialog
        ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
        assert not ok.isEnabled()  # no purpose, no reveal
        dialog.purpose.setCurrentIndex(dialog.purpose.findData("identity_verification"))
        assert ok.isEnabled()
        ok.click()
        await until(lambda: detail.values["id_number"].text() == full["id_number"])
        events = await desk.events()  # the reveal was recorded before the field was shown
        assert [(event["action"], event["object_id"], event["purpose"]) for event in events] == [
            ("open", str(row.id), "customer_service"),
            ("reveal", str(row.id), "identity_verification"),
        ]
        assert full["id_number"] not in json.dumps(events)
        # Cancelling a reveal reveals nothing and records nothing.
        detail.reveal_buttons["phone"].click()
        await until(lambda: detail.reveal_dialog is not dialog and detail.reveal_dialog.isVisible())
        detail.reveal_dialog.reject()
        await asyncio.sleep(0.2)
        assert full["phone"] not in detail.values["phone"].text()
        assert len(await desk.events()) == 2

    with_desk(scenario)


def test_create_and_change_dialogs_validate_and_show_the_result_at_once(with_desk):
    async def scenario(desk):
        page, model, detail = desk.page, desk.page.model, desk.page.detail
        await until(lambda: model.total == SEEDED)
        dialog = page.new_customer()
        assert dialog is not None
        await until(dialog.isVisible)
        save = dialog.buttons.button(QDialogButtonBox.StandardButton.Save)
        save.click()
        assert "First names" in dialog.error.text()
        dialog.edits["first_names"].setText("Zanele")
        dialog.edits["surname"].setText("Aaaberg")
        dialog.edits["id_number"].setText("9001015009087")  # wrong check digit
        dialog.edits["date_of_birth"].setText("1990-01-01")
        save.click()
        assert "ID number is not valid" in dialog.error.text()
        assert "9001015009087" not in dialog.error.text()
        dialog.edits["id_number"].setText("9001015009086")
        dialog.edits["phone"].setText("072 555 0101")
        save.click()
        await until(lambda: closed(dialog))
        await until(lambda: model.total == SEEDED + 1)
        await until(lambda: model.rowCount() > 0 and model.row(0).name == "Zanele Aaaberg")
        created = model.row(0).id
        await until(lambda: detail.customer_id == created and detail.data is not None)
        change = page.change_customer()
        assert change is not None
        await until(change.isVisible)
        assert change.edits["phone"].text() == ""  # personal fields stay masked in a change
        change.edits["phone"].setText("0825550199")
        change.buttons.button(QDialogButtonBox.StandardButton.Save).click()
        await until(lambda: closed(change))
        await until(lambda: detail.values["phone"].text().endswith("199"))
        await until(lambda: desk.outbox.size == 0, timeout=30)  # the engine sent both, woken at once
        server_side = (await desk.headless.server_customers())[created]["fields"]
        assert server_side["phone"] == "+27825550199"
        assert server_side["id_number"] == "9001015009086"

    with_desk(scenario)


def test_a_refused_change_shows_in_needs_attention_until_dismissed(with_desk):
    async def scenario(desk):
        page, model = desk.page, desk.page.model
        consoles = desk.consoles
        await until(lambda: model.total == SEEDED)
        other = await consoles.sign_in(await consoles.staff("bheki", "teller"))
        taken = await other.create_customer(first_names="First", surname="Owner")
        await other.sync()
        number = (await other.customers())[taken]["fields"]["id_number"]
        fields = {
            "first_names": "Second",
            "surname": "Claimant",
            "id_number": number,
            "date_of_birth": (await other.customers())[taken]["fields"]["date_of_birth"],
        }
        stored = asyncio.Event()
        desk.sync.enqueue(
            "customer.create",
            {"id": str(uuid.uuid4()), "branch_id": str(desk.headless.branch_id), "fields": fields},
            on_success=lambda _mutation: stored.set(),
        )
        await stored.wait()
        await until(lambda: desk.sync.attention == 1)
        await until(lambda: page.tabs.tabText(1) == "Needs attention (1)")
        await until(lambda: page.attention.list.count() == 1)
        text = page.attention.list.item(0).text()
        assert "duplicate_id_number" in text
        assert "Second Claimant" in text  # what was typed is kept to redo the work
        await until(lambda: model.total == SEEDED + 1)  # the refused customer is not listed
        await until(lambda: all(model.row(n).name != "Second Claimant" for n in range(model.rowCount())))
        assert model.total == SEEDED + 1  # the other teller's customer, and not the refused one
        page.attention.list.setCurrentRow(0)
        page.attention.dismiss_button.click()
        await until(lambda: page.attention.list.count() == 0 and page.tabs.tabText(1) == "Needs attention")

    with_desk(scenario)


def test_compliance_sees_every_branch_with_its_column(run, qloop, qtbot, server, tmp_path):
    consoles = Consoles(qloop, server, tmp_path / "compliance")

    async def scenario():
        try:
            await officer_desk()
        finally:
            await consoles.aclose()

    async def officer_desk():
        officer = await consoles.staff("carla", "compliance_officer", branch_code="HO")
        for code, count, first in (("JHB01", 30, 0), ("CPT01", 20, 1000)):
            teller = await consoles.staff(f"teller.{code.lower()}", "teller", branch_code=code)
            branch = await asyncio.to_thread(server.run, _branch_of(server, teller.user_id))
            await asyncio.to_thread(
                lambda branch=branch, teller=teller, count=count, first=first: asyncio.run(
                    seed_customers(server.settings, branch, teller.user_id, count, first_serial=first)
                )
            )
        headless = await consoles.sign_in(officer)
        desk = Desk(consoles, headless, server, all_branches=True)
        qtbot.addWidget(desk.page)
        # The count and the first chunk are read apart; either may arrive first.
        await until(lambda: desk.page.model.total == 50 and not desk.page.model.fetching)
        assert not desk.page.table.isColumnHidden(3)
        assert not desk.page.new_button.isVisibleTo(desk.page)  # compliance may not register customers
        branches = {desk.page.model.row(number).branch_id for number in range(desk.page.model.rowCount())}
        assert len(branches) == 2

    run(scenario(), timeout=240)
    assert consoles.unexpected == []


def test_update_required_shows_in_the_status_bar_and_the_outbox_is_kept(with_desk, monkeypatch):
    from console.ui.status_bar import ShellStatusBar
    from server.sync import service as sync_service

    async def scenario(desk):
        bar = ShellStatusBar(desk.context)
        label = bar.findChild(QLabel, "last_sync")
        outbox = bar.findChild(QLabel, "outbox")
        await until(lambda: desk.connection.last_sync is not None and desk.page.model.rowCount() > 0)
        assert label.text().startswith("Last sync: ")
        monkeypatch.setattr(sync_service, "MIN_PROTOCOL_VERSION", 2)
        stored = asyncio.Event()
        desk.sync.enqueue(
            "customer.update",
            {"id": str(desk.page.model.row(0).id), "changes": {"email": "kept@example.co.za"}},
            on_success=lambda _mutation: stored.set(),
        )
        await stored.wait()
        # The outbox is counted on a worker thread while the engine's push is refused, and
        # a fast refusal can come first: wait for both, then check the mutation stays put.
        await until(lambda: desk.connection.update_required and desk.outbox.size == 1)
        await asyncio.sleep(0.3)
        assert label.text() == "Update required"
        assert "Your work on this computer is kept" in label.toolTip()
        assert outbox.text() == "Outbox: 1"
        monkeypatch.setattr(sync_service, "MIN_PROTOCOL_VERSION", 1)
        desk.sync.wake()
        await until(lambda: not desk.connection.update_required and desk.outbox.size == 0)
        assert label.text().startswith("Last sync: ")
        bar.deleteLater()

    with_desk(scenario)
