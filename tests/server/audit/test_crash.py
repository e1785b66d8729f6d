"""Crash safety: a real `kluis-server serve` process is killed with SIGKILL while large
batches are being appended; after a restart the log is consistent: the root recomputed
from the entries is the stored state's, every acknowledged event is there, and the next
checkpoint is consistent with the last one signed before the crash."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from server.audit.store import build_proof, load_state, stored_root
from server.audit.tables import audit_checkpoints, audit_entries
from server.db.engine import Database
from server.tls import client_context
from shared.audit.entry import parse_entry
from shared.checkpoint import open_checkpoint
from shared.merkle import consistency_proof_plan, leaf_hash, root_from_leaf_hashes, verify_consistency
from testkit.audit import Console, audit_settings, submission
from testkit.auth import FAST_ARGON2, AuthClient, Device, provision

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    def __init__(self, data_dir: Path, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.log = log.open("a")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "serve", "--data-dir", str(data_dir)],
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            env={**env, "KLUIS_LISTEN": f"127.0.0.1:{self.port}", "KLUIS_METRICS_LISTEN": ""},
        )
        deadline = time.monotonic() + 60
        while True:
            line = self.process.stdout.readline()
            if "CA fingerprint" in line:
                break
            if not line or time.monotonic() > deadline:
                raise AssertionError(f"the server did not start; see {log}")
        self.http = httpx.Client(
            base_url=f"https://localhost:{self.port}",
            verify=client_context(data_dir / "tls" / "ca.pem"),
            timeout=120,
        )

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(60)
        self.close()

    def close(self) -> None:
        self.http.close()
        self.log.close()
        if self.process.stdout is not None:
            self.process.stdout.close()


def environment(settings) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("KLUIS_")}
    env.update({f"KLUIS_{name.upper()}": str(value) for name, value in FAST_ARGON2.items()})
    env["KLUIS_DATABASE_URL"] = settings.database_url
    env["KLUIS_ACCESS_LOG"] = "false"
    env["KLUIS_AUDIT_CHECKPOINT_INTERVAL"] = "0.1"
    if settings.customer_key_database_url:
        env["KLUIS_CUSTOMER_KEY_DATABASE_URL"] = settings.customer_key_database_url
    return env


async def inspect(url: str):
    database = Database(url)
    try:
        async with database.transaction() as connection:
            state = await load_state(connection, lock=False)
            rows = list(
                await connection.execute(
                    select(audit_entries.c.idx, audit_entries.c.entry, audit_entries.c.event_id).order_by(
                        audit_entries.c.idx
                    )
                )
            )
            checkpoints = list(
                await connection.execute(select(audit_checkpoints).order_by(audit_checkpoints.c.size))
            )
            proofs = [
                await build_proof(connection, consistency_proof_plan(a.size, b.size))
                for a, b in itertools.pairwise(checkpoints)
            ]
            return state, rows, checkpoints, proofs, await stored_root(connection, state.size)
    finally:
        await database.dispose()


def test_sigkill_in_the_middle_of_large_batches_leaves_a_consistent_log(tmp_path, database_url):
    data_dir = tmp_path / "data"
    settings = audit_settings(data_dir, database_url)
    env = environment(settings)
    server = ServerProcess(data_dir, env, tmp_path / "server.log")
    try:
        staff = provision(settings, "crash-teller", ("teller",))
        device = Device()
        session = AuthClient(server.http).session(staff, device)
        console = Console(staff, device, session["access_token"], "teller")
        headers = {"authorization": f"Bearer {console.access_token}"}

        acknowledged: dict[str, int] = {}
        lock = threading.Lock()
        batches = [console.signed(1000) for _ in range(12)]
        first = server.http.post(
            "/api/v1/audit/events",
            headers=headers,
            json={"events": [submission(s) for s in console.signed(300)]},
        )
        assert first.status_code == 200
        for result in first.json()["results"]:
            acknowledged[result["event_id"]] = result["index"]

        in_flight = [0]

        def send(batch) -> None:
            with lock:
                in_flight[0] += 1
            try:
                response = server.http.post(
                    "/api/v1/audit/events", headers=headers, json={"events": [submission(s) for s in batch]}
                )
            except httpx.HTTPError:
                return
            finally:
                with lock:
                    in_flight[0] -= 1
            if response.status_code == 200:
                with lock:
                    for result in response.json()["results"]:
                        acknowledged[result["event_id"]] = result["index"]

        # Three senders keep large batches in flight back to back; the kill lands once a few
        # have been acknowledged, so some batch is always being verified or written.
        queue = list(batches)
        acks = threading.Semaphore(0)

        def sender() -> None:
            while True:
                with lock:
                    if not queue:
                        return
                    batch = queue.pop(0)
                before = len(acknowledged)
                send(batch)
                if len(acknowledged) > before:
                    acks.release()
                else:
                    return

        threads = [threading.Thread(target=sender) for _ in range(3)]
        for thread in threads:
            thread.start()
        for _ in range(2):
            assert acks.acquire(timeout=60)
        time.sleep(0.05)
        with lock:
            batches_in_flight = in_flight[0]
        server.kill()
        for thread in threads:
            thread.join(60)
    finally:
        if server.process.poll() is None:
            server.kill()
        server.close()

    assert batches_in_flight > 0
    state, rows, checkpoints, proofs, stored = asyncio.run(inspect(database_url))
    assert state.size == len(rows)
    assert [row.idx for row in rows] == list(range(state.size))
    assert [parse_entry(bytes(row.entry)).index for row in rows] == list(range(state.size))
    assert (
        root_from_leaf_hashes([leaf_hash(bytes(row.entry)) for row in rows])
        == state.frontier.root()
        == stored
    )
    logged = {str(row.event_id): row.idx for row in rows}
    assert all(logged.get(event_id) == index for event_id, index in acknowledged.items())
    interrupted = [s for batch in batches for s in batch if str(s.event.event_id) not in acknowledged]
    assert interrupted, "the kill came after every batch had been acknowledged"

    restarted = ServerProcess(data_dir, env, tmp_path / "server.log")
    try:
        session = AuthClient(restarted.http).session(staff, device)
        headers = {"authorization": f"Bearer {session['access_token']}"}
        for batch in batches:
            response = restarted.http.post(
                "/api/v1/audit/events", headers=headers, json={"events": [submission(s) for s in batch]}
            )
            assert response.status_code == 200
            results = response.json()["results"]
            assert all(result["status"] == "accepted" for result in results)
            for signed, result in zip(batch, results, strict=True):
                event_id = str(signed.event.event_id)
                if event_id in logged:
                    assert result["index"] == logged[event_id]
        deadline = time.monotonic() + 30
        while True:
            info = restarted.http.get("/api/v1/audit/log").json()
            if info["checkpoint_size"] == info["size"] and info["size"] > state.size:
                break
            assert time.monotonic() < deadline, info
            time.sleep(0.1)
    finally:
        restarted.stop()

    state, rows, checkpoints, proofs, stored = asyncio.run(inspect(database_url))
    assert (
        root_from_leaf_hashes([leaf_hash(bytes(row.entry)) for row in rows])
        == stored
        == state.frontier.root()
    )
    from server.audit.keys import AuditKeys

    keys = AuditKeys.load(settings)
    opened = [
        open_checkpoint(row.note.encode(), keys.verifier, origin=settings.audit_origin) for row in checkpoints
    ]
    assert len(opened) >= 2
    for (old, new), proof in zip(itertools.pairwise(opened), proofs, strict=True):
        verify_consistency(old.size, new.size, old.root_hash, new.root_hash, proof)
