"""Headless sync clients for tests: the shared client state machine, a dictionary for a
local store, and the real sync endpoints over HTTPS."""

from __future__ import annotations

import datetime as dt
import itertools
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from server.customers.keys import CustomerKeyStore
from server.customers.service import CustomerRegister
from server.customers.vault import CustomerVault
from shared.crypto import generate_aes_key
from shared.customers import RECORD_TYPE
from shared.sa_id import luhn_check_digit
from shared.sync.client import ClientState, SyncClient
from shared.sync.protocol import PROTOCOL_VERSION, MutationResult, PullResponse, PushResponse

_sequence = itertools.count(1)


def sa_id_number(born: dt.date, *, female: bool = True, citizen: bool = True) -> str:
    """A valid South African ID number for a date of birth, unique within a test run."""
    serial = next(_sequence) % 5000
    gender = serial if female else 5000 + serial
    payload = f"{born:%y%m%d}{gender:04d}{0 if citizen else 1}8"
    return payload + str(luhn_check_digit(payload))


def customer_fields(
    first: str = "Thandi", surname: str = "Nkosi", born: dt.date = dt.date(1990, 4, 12)
) -> dict[str, Any]:
    return {
        "first_names": first,
        "surname": surname,
        "id_number": sa_id_number(born),
        "date_of_birth": born.isoformat(),
        "phone": f"082{next(_sequence) % 10_000_000:07d}",
        "email": f"{first.lower()}@example.co.za",
        "address": {"line1": "12 Main Road", "city": "Johannesburg", "province": "GP", "postal_code": "2001"},
    }


@dataclass
class HeadlessConsole:
    """One console profile's sync state, talking to a real server."""

    http: httpx.Client
    access_token: str
    client: SyncClient = field(default_factory=lambda: SyncClient(ClientState(client_id=uuid.uuid4())))
    records: dict[tuple[str, uuid.UUID], dict[str, Any]] = field(default_factory=dict)
    rejected: dict[int, MutationResult] = field(default_factory=dict)

    def _post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        return self.http.post(path, json=body, headers={"authorization": f"Bearer {self.access_token}"})

    def mutate(self, name: str, args: dict[str, Any]) -> int:
        mutation = self.client.enqueue(name, args, dt.datetime.now(dt.UTC))
        return mutation.mutation_id

    def create_customer(self, branch_id: uuid.UUID, **overrides: Any) -> uuid.UUID:
        customer_id = uuid.uuid4()
        fields = {**customer_fields(), **overrides}
        self.mutate(
            "customer.create", {"id": str(customer_id), "branch_id": str(branch_id), "fields": fields}
        )
        return customer_id

    def push(self) -> PushResponse | None:
        request = self.client.push_request()
        if request is None:
            return None
        response = self._post("/api/v1/sync/push", request.model_dump(mode="json"))
        assert response.status_code == 200, response.text
        outcome = self.client.on_push_response(PushResponse.model_validate(response.json()))
        for result in outcome.results:
            if result.outcome == "rejected":
                self.rejected[result.mutation_id] = result
        return PushResponse.model_validate(response.json())

    def pull_page(self, limit: int = 1000) -> PullResponse:
        response = self._post("/api/v1/sync/pull", self.client.pull_request(limit).model_dump(mode="json"))
        assert response.status_code == 200, response.text
        page = PullResponse.model_validate(response.json())
        outcome = self.client.on_pull_response(page)
        if outcome.reset:
            self.records.clear()
        for change in outcome.changes:
            key = (change.type, change.id)
            if change.op == "delete":
                self.records.pop(key, None)
            else:
                assert change.data is not None
                self.records[key] = change.data
        for result in outcome.results:
            self.rejected[result.mutation_id] = result
        return page

    def pull(self, limit: int = 1000) -> list[PullResponse]:
        pages = [self.pull_page(limit)]
        while pages[-1].has_more:
            pages.append(self.pull_page(limit))
        return pages

    def sync(self) -> None:
        self.push()
        self.pull()

    def pull_until(self, predicate: Callable[[HeadlessConsole], bool], seconds: float = 10.0) -> None:
        """Pull until ``predicate`` holds.  On PostgreSQL a change becomes pullable only once
        every older write transaction in the cluster has ended, which may take a moment."""
        deadline = time.monotonic() + seconds
        while True:
            self.pull()
            if predicate(self):
                return
            assert time.monotonic() < deadline, "the expected changes never arrived"
            time.sleep(0.05)

    def customers(self) -> dict[uuid.UUID, dict[str, Any]]:
        return {key[1]: data for key, data in self.records.items() if key[0] == RECORD_TYPE}

    def poke(self, wait_seconds: float) -> httpx.Response:
        return self._post(
            "/api/v1/sync/poke",
            {
                "client_id": str(self.client.state.client_id),
                "schema_version": PROTOCOL_VERSION,
                "cursor": self.client.state.cursor,
                "wait_seconds": wait_seconds,
            },
        )


async def make_register(directory: Path) -> CustomerRegister:
    """A customer register with a fresh master key and a key database in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    register = CustomerRegister.assemble(
        CustomerVault(generate_aes_key()),
        CustomerKeyStore(f"sqlite:///{directory / f'customer-keys-{uuid.uuid4().hex[:8]}.db'}"),
    )
    await register.start()
    return register
