"""Push and pull over real HTTPS on both databases: duplicates, gaps, rejections, scopes."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from server.audit.tables import audit_entries
from shared.audit.event import parse_event
from shared.sync.protocol import PROTOCOL_VERSION
from testkit.audit import AuditClient
from testkit.sync import customer_fields


def test_created_customer_comes_back_in_a_pull(sign_in):
    teller = sign_in("tumi", "teller")
    console = teller.console()
    customer_id = console.create_customer(teller.branch_id, first_names="Lerato")
    pushed = console.push()
    assert pushed.last_mutation_id == 1
    assert [(r.mutation_id, r.outcome) for r in pushed.results] == [(1, "applied")]
    assert console.pull()[0].reset
    console.pull_until(lambda c: customer_id in c.customers())
    assert console.client.state.last_mutation_id == 1
    customer = console.customers()[customer_id]
    assert customer["fields"]["first_names"] == "Lerato"
    assert customer["branch_id"] == str(teller.branch_id)
    assert console.client.state.pending == ()


def test_duplicates_are_skipped_and_gaps_stop_the_batch(sign_in):
    teller = sign_in("tumi", "teller")
    console = teller.console()
    console.create_customer(teller.branch_id)
    request = console.client.push_request().model_dump(mode="json")
    headers = {"authorization": f"Bearer {teller.session['access_token']}"}
    first = teller.http.post("/api/v1/sync/push", json=request, headers=headers).json()
    again = teller.http.post("/api/v1/sync/push", json=request, headers=headers).json()
    assert first["last_mutation_id"] == 1
    assert again == {"last_mutation_id": 1, "results": [], "stopped": None}

    gap = dict(request)
    gap["mutations"] = [{**request["mutations"][0], "mutation_id": 3}]
    answer = teller.http.post("/api/v1/sync/push", json=gap, headers=headers).json()
    assert answer == {"last_mutation_id": 1, "results": [], "stopped": "gap"}
    console.pull_until(lambda c: len(c.customers()) == 1)


def test_a_rejected_mutation_advances_the_id_and_reaches_the_client(sign_in):
    teller = sign_in("tumi", "teller")
    console = teller.console()
    bad = customer_fields()
    bad["id_number"] = bad["id_number"][:-1] + str((int(bad["id_number"][-1]) + 1) % 10)
    console.create_customer(teller.branch_id, **bad)
    good = console.create_customer(teller.branch_id)
    pushed = console.push()
    assert pushed.last_mutation_id == 2
    assert [r.outcome for r in pushed.results] == ["rejected", "applied"]
    assert pushed.results[0].code == "invalid_id_number"
    assert bad["id_number"] not in pushed.results[0].message

    # A second console of the same client (response lost) still hears of the rejection.
    console.rejected.clear()
    console.pull_until(lambda c: good in c.customers())
    assert set(console.rejected) == {1}
    assert list(console.customers()) == [good]


def test_tellers_see_their_own_branch_and_compliance_sees_all(sign_in):
    north = sign_in("naledi", "teller", branch_code="NTH01")
    south = sign_in("sipho", "teller", branch_code="STH01")
    officer = sign_in("zanele", "compliance_officer", branch_code="HQ001")
    north_console, south_console, officer_console = north.console(), south.console(), officer.console()
    a = north_console.create_customer(north.branch_id)
    b = south_console.create_customer(south.branch_id)
    north_console.push()
    south_console.push()
    north_console.pull_until(lambda c: a in c.customers())
    south_console.pull_until(lambda c: b in c.customers())
    officer_console.pull_until(lambda c: {a, b} <= set(c.customers()))
    assert set(north_console.customers()) == {a}
    assert set(south_console.customers()) == {b}
    assert set(officer_console.customers()) == {a, b}


def test_a_teller_cannot_add_customers_to_another_branch(sign_in):
    north = sign_in("naledi", "teller", branch_code="NTH01")
    south = sign_in("sipho", "teller", branch_code="STH01")
    console = north.console()
    console.create_customer(south.branch_id)
    result = console.push().results[0]
    assert (result.outcome, result.code) == ("rejected", "branch_not_allowed")


def test_the_same_id_number_cannot_be_registered_twice(sign_in):
    north = sign_in("naledi", "teller", branch_code="NTH01")
    south = sign_in("sipho", "teller", branch_code="STH01")
    fields = customer_fields()
    first, second = north.console(), south.console()
    first.create_customer(north.branch_id, **fields)
    second.create_customer(south.branch_id, **fields)
    assert first.push().results[0].outcome == "applied"
    result = second.push().results[0]
    assert (result.outcome, result.code) == ("rejected", "duplicate_id_number")


def test_roles_without_customer_access_hold_nothing_and_may_not_write(sign_in):
    admin = sign_in("ayanda", "admin")
    console = admin.console()
    console.create_customer(admin.branch_id)
    assert console.push().results[0].code == "forbidden"
    console.pull()
    assert console.customers() == {}


def test_a_client_id_belongs_to_one_user(sign_in):
    first = sign_in("tumi", "teller")
    second = sign_in("thabo", "teller")
    console = first.console()
    console.pull()
    intruder = second.console()
    intruder.client = console.client
    response = intruder._post("/api/v1/sync/pull", console.client.pull_request().model_dump(mode="json"))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "client_not_yours"


def test_pages_deliver_every_record_exactly_once(sign_in):
    teller = sign_in("tumi", "teller")
    writer = teller.console()
    created = {writer.create_customer(teller.branch_id) for _ in range(23)}
    writer.push()
    writer.pull_until(lambda c: set(c.customers()) == created)
    reader = teller.console()
    seen: list[uuid.UUID] = []
    for page in reader.pull(limit=5):
        seen.extend(change.id for change in page.changes)
    assert sorted(seen) == sorted(created)
    assert len(seen) == len(set(seen))


def test_an_old_console_is_told_to_update(sign_in):
    teller = sign_in("tumi", "teller")
    console = teller.console()
    body = console.client.pull_request().model_dump(mode="json")
    body["schema_version"] = PROTOCOL_VERSION + 1
    response = console._post("/api/v1/sync/pull", body)
    assert response.status_code == 409


def test_every_change_and_search_of_customers_is_in_the_audit_log(sign_in, http, sync_server):
    teller = sign_in("thandi", "teller")
    console = teller.console()
    fields = customer_fields(first="Lerato")
    first = console.create_customer(teller.branch_id, **fields)
    console.mutate("customer.update", {"id": str(first), "changes": {"first_names": "Lerato Grace"}})
    refused = console.create_customer(teller.branch_id, **fields)
    console.push()
    assert set(console.rejected) == {3}
    http.post(
        "/api/v1/customers/search",
        json={"purpose": "customer_service", "kind": "phone", "value": "0821234567"},
        headers={"authorization": f"Bearer {teller.session['access_token']}"},
    )

    client = AuditClient(sync_server)
    try:
        client.settle()
    finally:
        client.close()

    async def events():
        async with sync_server.server.database.transaction() as connection:
            rows = await connection.execute(
                select(audit_entries.c.event).where(audit_entries.c.object_type == "customer")
            )
            return [parse_event(bytes(row.event)) for row in rows]

    recorded = sync_server.run(events())
    actions = [(event.action, event.object_id) for event in recorded]
    assert ("create", str(first)) in actions
    assert ("change", str(first)) in actions
    assert all(object_id != str(refused) for _, object_id in actions)
    (search,) = [event for event in recorded if event.action == "search"]
    assert search.purpose == "customer_service"
    assert search.object_id is None
    for event in recorded:
        assert event.actor == teller.staff.user_id
        assert event.role == "teller"
        assert event.signer.startswith("server:")
