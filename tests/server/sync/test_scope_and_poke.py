"""Scope changes, revoked devices and the long-poll, over real HTTPS on both databases."""

from __future__ import annotations

import threading
import time
import uuid

from sqlalchemy import update

from server.auth.tables import users
from testkit.auth import error_code


def test_a_shrunk_scope_resets_the_device_and_removes_what_it_may_no_longer_hold(sign_in, sync_server):
    north = sign_in("naledi", "teller", branch_code="NTH01")
    south = sign_in("sipho", "teller", branch_code="STH01")
    writer = south.console()
    theirs = writer.create_customer(south.branch_id)
    writer.push()
    mover = north.console()
    ours = mover.create_customer(north.branch_id)
    mover.push()
    mover.pull_until(lambda c: ours in c.customers())

    async def move_to_south() -> None:
        async with sync_server.server.database.transaction(write=True) as connection:
            await connection.execute(
                update(users).where(users.c.id == north.staff.user_id).values(branch_id=south.branch_id)
            )

    sync_server.run(move_to_south())
    pages = mover.pull()
    assert pages[0].reset
    mover.pull_until(lambda c: theirs in c.customers())
    assert set(mover.customers()) == {theirs}


def test_a_revoked_device_gets_a_distinct_answer(sign_in, http):
    teller = sign_in("tumi", "teller")
    admin = sign_in("ayanda", "admin")
    console = teller.console()
    console.pull()
    device_id = teller.session["device"]["id"]
    revoked = http.post(
        f"/api/v1/admin/devices/{device_id}/revoke",
        headers={"authorization": f"Bearer {admin.session['access_token']}"},
    )
    assert revoked.status_code in (200, 204), revoked.text
    response = console._post("/api/v1/sync/pull", console.client.pull_request().model_dump(mode="json"))
    assert response.status_code in (401, 403)
    assert error_code(response) == "device_revoked"


def test_poke_answers_at_once_when_there_is_something_to_pull(sign_in):
    teller = sign_in("tumi", "teller")
    console = teller.console()
    console.create_customer(teller.branch_id)
    console.push()
    started = time.monotonic()
    response = console.poke(wait_seconds=10)
    assert response.status_code == 200
    assert response.json()["changed"] is True
    assert time.monotonic() - started < 5


def test_poke_waits_then_wakes_when_another_console_writes(sign_in):
    first = sign_in("tumi", "teller")
    second = sign_in("thabo", "teller")
    watcher = first.console()
    watcher.pull()
    writer = second.console()
    outcome: dict = {}

    def wait() -> None:
        started = time.monotonic()
        outcome["response"] = watcher.poke(wait_seconds=20)
        outcome["seconds"] = time.monotonic() - started

    thread = threading.Thread(target=wait)
    thread.start()
    time.sleep(0.5)
    created = writer.create_customer(second.branch_id)
    writer.push()
    thread.join(30)
    assert outcome["response"].json()["changed"] is True
    assert outcome["seconds"] < 10
    watcher.pull_until(lambda c: created in c.customers())


def test_poke_times_out_when_nothing_changes(sign_in):
    teller = sign_in("tumi", "teller")
    console = teller.console()
    console.pull()
    response = console.poke(wait_seconds=0.5)
    assert response.json()["changed"] is False


def test_poke_ignores_changes_outside_the_scope(sign_in):
    north = sign_in("naledi", "teller", branch_code="NTH01")
    south = sign_in("sipho", "teller", branch_code="STH01")
    watcher = north.console()
    watcher.pull()
    outcome: dict = {}
    thread = threading.Thread(target=lambda: outcome.setdefault("response", watcher.poke(wait_seconds=1.5)))
    thread.start()
    time.sleep(0.3)
    writer = south.console()
    writer.create_customer(south.branch_id)
    writer.push()
    thread.join(10)
    assert outcome["response"].json()["changed"] is False


def test_customer_search_is_exact_scoped_and_masked(sign_in, http):
    north = sign_in("naledi", "teller", branch_code="NTH01")
    south = sign_in("sipho", "teller", branch_code="STH01")
    officer = sign_in("zanele", "compliance_officer", branch_code="HQ001")
    console = south.console()
    from testkit.sync import customer_fields

    fields = customer_fields(first="Busisiwe")
    customer_id = console.create_customer(south.branch_id, **fields)
    console.push()

    def search(who, **body):
        return http.post(
            "/api/v1/customers/search",
            json={"purpose": "customer_service", **body},
            headers={"authorization": f"Bearer {who.session['access_token']}"},
        )

    found = search(officer, kind="id_number", value=fields["id_number"]).json()["matches"]
    assert [uuid.UUID(match["id"]) for match in found] == [customer_id]
    assert found[0]["masked_id_number"].endswith(fields["id_number"][-4:])
    assert fields["id_number"] not in str(found)
    assert (
        search(officer, kind="phone", value=fields["phone"]).json()["matches"][0]["name"] == "Busisiwe Nkosi"
    )
    assert search(north, kind="id_number", value=fields["id_number"]).json()["matches"] == []
    wrong = fields["id_number"][:-1] + str((int(fields["id_number"][-1]) + 1) % 10)
    assert search(officer, kind="id_number", value=wrong).json()["matches"] == []
    refused = search(officer, kind="id_number", value=wrong, purpose="Looking around")
    assert refused.status_code == 422
