"""Audit-log test helpers: servers tuned for the audit tests, signed-in consoles that sign
audit events with their device keys, and an HTTP client for the audit API."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from server.config import Settings
from server.tls import client_context
from shared.audit.codec import b64url_encode
from shared.audit.event import AuditEvent, SignedEvent, sign_event
from testkit.auth import FAST_ARGON2, AuthClient, Device, Staff, provision
from testkit.servers import RunningServer, server_settings

_names = itertools.count(1)


def audit_settings(data_dir: Path, database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {**FAST_ARGON2, "audit_checkpoint_interval": 0.1}
    values.update(overrides)
    return server_settings(data_dir, database_url, **values)


@dataclass
class Console:
    """A signed-in console: a staff member on an enrolled device with its key."""

    staff: Staff
    device: Device
    access_token: str
    role: str

    @property
    def user_id(self) -> uuid.UUID:
        return self.staff.user_id

    @property
    def device_id(self) -> uuid.UUID:
        assert self.device.device_id is not None
        return self.device.device_id

    def event(self, action: str = "open", **fields: Any) -> AuditEvent:
        values: dict[str, Any] = {
            "event_id": uuid.uuid4(),
            "occurred_at": dt.datetime.now(dt.UTC),
            "signer": f"device:{self.device_id}",
            "action": action,
            "actor": self.user_id,
            "device": self.device_id,
            "role": self.role,
            "object_type": "customer",
            "object_id": f"cust-{uuid.uuid4().hex[:12]}",
            "purpose": "service_request" if action in {"reveal", "export"} else None,
        }
        values.update(fields)
        return AuditEvent(**values)

    def sign(self, event: AuditEvent) -> SignedEvent:
        return sign_event(event, self.device.private)

    def signed(self, count: int = 1, **fields: Any) -> list[SignedEvent]:
        return [self.sign(self.event(**fields)) for _ in range(count)]


def submission(signed: SignedEvent) -> dict[str, str]:
    return {"event": b64url_encode(signed.data), "signature": b64url_encode(signed.signature)}


class AuditClient:
    """The audit API over real TLS, as consoles and auditors use it."""

    def __init__(self, running: RunningServer) -> None:
        self.running = running
        self.http = httpx.Client(
            base_url=running.base_url, verify=client_context(running.ca_file), timeout=60
        )
        self.auth = AuthClient(self.http)

    def close(self) -> None:
        self.http.close()

    def sign_in(self, roles: tuple[str, ...] = ("teller",), *, role: str | None = None) -> Console:
        staff = provision(self.running.settings, f"audit-user-{next(_names)}-{uuid.uuid4().hex[:6]}", roles)
        device = Device()
        session = self.auth.session(staff, device)
        return Console(staff, device, session["access_token"], role or roles[0])

    def headers(self, console: Console | None) -> dict[str, str]:
        return {"authorization": f"Bearer {console.access_token}"} if console else {}

    def get(self, path: str, console: Console | None = None, **options: Any) -> httpx.Response:
        return self.http.get(path, headers=self.headers(console), **options)

    def post(self, path: str, console: Console | None = None, **options: Any) -> httpx.Response:
        return self.http.post(path, headers=self.headers(console), **options)

    def submit(self, console: Console, signed: list[SignedEvent]) -> httpx.Response:
        return self.post(
            "/api/v1/audit/events", console, json={"events": [submission(item) for item in signed]}
        )

    def submit_ok(self, console: Console, signed: list[SignedEvent]) -> list[int]:
        response = self.submit(console, signed)
        assert response.status_code == 200, response.text
        results = response.json()["results"]
        assert all(result["status"] == "accepted" for result in results), results
        return [int(result["index"]) for result in results]

    def log_info(self) -> dict[str, Any]:
        response = self.get("/api/v1/audit/log")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def wait_for_checkpoint(self, size: int, timeout: float = 15.0) -> bytes:
        """The signed checkpoint once the log's checkpoint covers at least *size* entries."""
        deadline = time.monotonic() + timeout
        while True:
            info = self.log_info()
            if info["checkpoint_size"] is not None and info["checkpoint_size"] >= size:
                response = self.get("/api/v1/audit/checkpoint")
                assert response.status_code == 200, response.text
                return response.content
            if time.monotonic() > deadline:
                raise AssertionError(f"no checkpoint of size {size} within {timeout} s: {info}")
            time.sleep(0.05)

    def settle(self, timeout: float = 15.0) -> int:
        """Wait until no server event is pending and a checkpoint covers the whole log; its size."""
        from sqlalchemy import func, select

        from server.audit.tables import audit_pending

        async def pending() -> int:
            async with self.running.server.database.transaction() as connection:
                return int(await connection.scalar(select(func.count()).select_from(audit_pending)) or 0)

        deadline = time.monotonic() + timeout
        while self.running.run(pending()):
            if time.monotonic() > deadline:
                raise AssertionError("server events stayed pending")
            time.sleep(0.05)
        size = int(self.log_info()["size"])
        self.wait_for_checkpoint(size, max(deadline - time.monotonic(), 1.0))
        return size

    def export(self, console: Console, **body: Any) -> dict[str, Any]:
        body.setdefault("purpose", "annual_audit")
        response = self.post("/api/v1/audit/export", console, json=body)
        assert response.status_code == 200, response.text
        return dict(json.loads(response.content))
