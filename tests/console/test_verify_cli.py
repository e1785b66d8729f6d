"""kluis-verify end to end: bundles exported from a real server (SQLite and PostgreSQL)
verify offline; tampering with the server's database or with an exported bundle fails,
naming the entry."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select, update

from console.verify_cli import check_signatures, main
from server.audit.store import load_state
from server.audit.tables import audit_entries
from shared.audit.verify import SignatureJob
from shared.crypto import generate_private_key, public_key_to_raw, sign
from testkit.audit import AuditClient, audit_settings
from testkit.servers import RunningServer


@pytest.fixture
def running(tmp_path, database_url):
    server = RunningServer(audit_settings(tmp_path / "server", database_url))
    yield server
    server.stop()


@pytest.fixture
def client(running):
    audit = AuditClient(running)
    yield audit
    audit.close()


@pytest.fixture
def scene(client):
    """Two tellers' events about three customers, an auditor, and a checkpoint over all."""
    tellers = [client.sign_in(("teller",)), client.sign_in(("teller",))]
    for round_ in range(4):
        for number, teller in enumerate(tellers):
            client.submit_ok(
                teller,
                [teller.sign(teller.event(object_id=f"cust-{(round_ + number + k) % 3}")) for k in range(3)],
            )
    auditor = client.sign_in(("auditor",))
    size = client.log_info()["size"]
    client.wait_for_checkpoint(size)
    return tellers, auditor, size


def run_verify(tmp_path: Path, bundle: dict, *args: str, capsys) -> tuple[int, str]:
    path = tmp_path / f"bundle-{uuid.uuid4().hex[:8]}.json"
    path.write_text(json.dumps(bundle))
    status = main([str(path), *args])
    return status, capsys.readouterr().out


def device_entries(bundle: dict) -> list[dict]:
    return [
        entry
        for entry in bundle["entries"]
        if entry["event"] and entry["event"]["signer"].startswith("device:")
    ]


def test_a_full_range_verifies_offline(client, scene, tmp_path, capsys):
    _, auditor, size = scene
    bundle = client.export(auditor, kind="range", start=0)
    key = client.get("/api/v1/audit/verifier-key").text.strip()
    status, out = run_verify(tmp_path, bundle, "--log-key", key, capsys=capsys)
    assert status == 0, out
    assert "OK: every check passed" in out
    assert f"size {bundle['scope']['end']}" in out
    assert bundle["scope"]["end"] >= size


def test_the_console_script_runs_with_no_server_and_no_database(client, scene, tmp_path):
    _, auditor, _ = scene
    bundle = client.export(auditor, kind="range", start=3)
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    script = Path(sys.executable).with_name("kluis-verify")
    env = {key: value for key, value in os.environ.items() if not key.startswith("KLUIS_")}
    result = subprocess.run([str(script), str(path)], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK" in result.stdout
    tampered = json.loads(path.read_text())
    tampered["entries"][0]["event"]["purpose"] = "curiosity"
    path.write_text(json.dumps(tampered))
    result = subprocess.run([str(script), str(path)], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert f"entry {tampered['entries'][0]['index']}:" in result.stdout


def test_object_and_actor_trails_verify(client, scene, tmp_path, capsys):
    tellers, auditor, _ = scene
    trail = client.export(auditor, kind="object", object_type="customer", object_id="cust-1")
    assert len(trail["entries"]) == 8
    assert {entry["event"]["object_id"] for entry in trail["entries"]} == {"cust-1"}
    status, out = run_verify(tmp_path, trail, capsys=capsys)
    assert status == 0, out
    actor = client.export(auditor, kind="actor", actor=str(tellers[1].user_id))
    assert {entry["event"]["actor"] for entry in actor["entries"]} == {str(tellers[1].user_id)}
    status, out = run_verify(tmp_path, actor, capsys=capsys)
    assert status == 0, out


def test_an_export_is_itself_audited(client, scene):
    _, auditor, _ = scene
    client.export(auditor, kind="object", object_type="customer", object_id="cust-2", purpose="popia_inquiry")
    size = client.log_info()["size"]
    client.wait_for_checkpoint(size + 1)
    page = client.get("/api/v1/audit/entries", auditor, params={"start": 0, "action": "export"}).json()
    (entry,) = page["entries"]
    assert entry["event"]["actor"] == str(auditor.user_id)
    assert entry["event"]["purpose"] == "popia_inquiry"
    assert entry["event"]["signer"].startswith("server:")


@pytest.mark.parametrize("tamper", ["alter", "delete", "reorder", "insert"])
def test_tampering_with_an_exported_bundle_names_the_entry(client, scene, tmp_path, capsys, tamper):
    _, auditor, _ = scene
    bundle = client.export(auditor, kind="range", start=0)
    entries = bundle["entries"]
    target = device_entries(bundle)[4]["index"]
    position = next(n for n, entry in enumerate(entries) if entry["index"] == target)
    if tamper == "alter":
        entries[position]["event"]["object_id"] = "cust-elsewhere"
    elif tamper == "delete":
        del entries[position]
    elif tamper == "reorder":
        entries[position], entries[position + 1] = entries[position + 1], entries[position]
    else:
        forged = dict(entries[position])
        entries.insert(position, forged)
    status, out = run_verify(tmp_path, bundle, capsys=capsys)
    assert status == 1
    assert f"FAIL entry {target}:" in out


def _db(running, coroutine_factory):
    """Tamper in one transaction that holds the log's state row, as appends do, so that the
    server's own concurrent appends (the export's audit record) wait instead of colliding."""

    async def run():
        async with running.server.database.transaction(write=True) as connection:
            await load_state(connection, lock=True)
            return await coroutine_factory(connection)

    return running.run(run())


def test_altering_an_event_in_the_database_is_caught(client, running, scene, tmp_path, capsys):
    _, auditor, _ = scene
    target = device_entries(client.export(auditor, kind="range", start=0))[2]

    async def alter(connection):
        row = (
            await connection.execute(
                select(audit_entries.c.event).where(audit_entries.c.idx == target["index"])
            )
        ).one()
        changed = bytes(row.event).replace(b'"action":"open"', b'"action":"change"')
        await connection.execute(
            update(audit_entries)
            .where(audit_entries.c.idx == target["index"])
            .values(event=changed, action="change")
        )

    _db(running, alter)
    status, out = run_verify(tmp_path, client.export(auditor, kind="range", start=0), capsys=capsys)
    assert status == 1
    assert (
        f"FAIL entry {target['index']}: the event, salt or signature is not the one the entry commits to"
        in out
    )


def test_deleting_an_entry_in_the_database_is_caught(client, running, scene, tmp_path, capsys):
    _, auditor, _ = scene
    target = device_entries(client.export(auditor, kind="range", start=0))[5]["index"]
    _db(
        running,
        lambda connection: connection.execute(audit_entries.delete().where(audit_entries.c.idx == target)),
    )
    status, out = run_verify(tmp_path, client.export(auditor, kind="range", start=0), capsys=capsys)
    assert status == 1
    assert f"FAIL entry {target}:" in out


def test_reordering_entries_in_the_database_is_caught(client, running, scene, tmp_path, capsys):
    _, auditor, _ = scene
    first, second = (
        entry["index"] for entry in device_entries(client.export(auditor, kind="range", start=0))[3:5]
    )

    async def swap(connection):
        columns = [c for c in audit_entries.c if c.name != "idx"]
        rows = {
            row.idx: {c.name: getattr(row, c.name) for c in columns}
            for row in await connection.execute(
                select(audit_entries).where(audit_entries.c.idx.in_([first, second]))
            )
        }
        await connection.execute(audit_entries.delete().where(audit_entries.c.idx.in_([first, second])))
        await connection.execute(
            audit_entries.insert(), [dict(rows[second], idx=first), dict(rows[first], idx=second)]
        )

    _db(running, swap)
    status, out = run_verify(tmp_path, client.export(auditor, kind="range", start=0), capsys=capsys)
    assert status == 1
    assert f"FAIL entry {first}:" in out
    assert f"FAIL entry {second}:" in out


def test_inserting_an_event_in_the_database_is_caught(client, running, scene, tmp_path, capsys):
    tellers, auditor, _ = scene
    bundle = client.export(auditor, kind="range", start=0)
    target = device_entries(bundle)[6]
    forged_event = tellers[0].sign(tellers[0].event(object_id="cust-planted"))

    async def insert(connection):
        from shared.audit.entry import entry_for, new_salt

        later = list(
            await connection.execute(
                select(audit_entries.c.idx)
                .where(audit_entries.c.idx >= target["index"])
                .order_by(audit_entries.c.idx.desc())
            )
        )
        for row in later:
            await connection.execute(
                update(audit_entries).where(audit_entries.c.idx == row.idx).values(idx=row.idx + 1)
            )
        salt = new_salt()
        entry = entry_for(forged_event, salt, target["index"], dt.datetime.now(dt.UTC))
        await connection.execute(
            audit_entries.insert().values(
                idx=target["index"],
                entry=entry.to_bytes(),
                event_id=entry.event_id,
                received_at=entry.received_at,
                event_class=entry.event_class,
                signer=entry.signer,
                event=forged_event.data,
                salt=salt,
                signature=forged_event.signature,
            )
        )

    _db(running, insert)
    status, out = run_verify(tmp_path, client.export(auditor, kind="range", start=0), capsys=capsys)
    assert status == 1
    assert f"FAIL entry {target['index']}: the entry's bytes are not the ones the signed log holds" in out


def test_an_erased_event_is_reported_and_the_bundle_still_verifies(client, running, scene, tmp_path, capsys):
    _, auditor, _ = scene
    target = device_entries(client.export(auditor, kind="range", start=0))[1]
    assert (
        running.run(running.server.state.audit.erase(uuid.UUID(target["event"]["event_id"])))
        == target["index"]
    )
    bundle = client.export(auditor, kind="range", start=0)
    erased = next(entry for entry in bundle["entries"] if entry["index"] == target["index"])
    assert erased["event"] is None
    assert erased["salt"] is None
    assert erased["erased"] == "erasure"
    assert target["event"]["event_id"] not in json.dumps(bundle)
    status, out = run_verify(tmp_path, bundle, capsys=capsys)
    assert status == 0, out
    assert f"erased: entry {target['index']} (erasure)" in out


def test_the_log_must_extend_a_checkpoint_the_auditor_kept(client, scene, tmp_path, capsys):
    tellers, auditor, size = scene
    kept = tmp_path / "kept-checkpoint.txt"
    kept.write_bytes(client.get("/api/v1/audit/checkpoint").content)
    client.submit_ok(tellers[0], tellers[0].signed(4))
    client.wait_for_checkpoint(client.log_info()["size"])
    grown = client.export(auditor, kind="range", start=size)
    status, out = run_verify(tmp_path, grown, "--previous", str(kept), capsys=capsys)
    assert status == 1
    assert "no consistency proof" in out
    kept_size = int(kept.read_text().split("\n")[1])
    proven = client.export(auditor, kind="range", start=size, since=kept_size)
    status, out = run_verify(tmp_path, proven, "--previous", str(kept), capsys=capsys)
    assert status == 0, out


def test_an_unreadable_bundle_exits_2(tmp_path, capsys):
    path = tmp_path / "junk.json"
    path.write_text("{not json")
    assert main([str(path)]) == 2
    assert main([str(tmp_path / "absent.json")]) == 2


def test_parallel_signature_checks_agree_with_serial_ones():
    key = generate_private_key()
    public = public_key_to_raw(key)
    jobs = []
    for n in range(1500):
        message = f"event {n}".encode()
        signature = sign(key, message)
        if n % 97 == 0:
            signature = bytes([signature[0] ^ 1]) + signature[1:]
        jobs.append(SignatureJob(n, "device:x", public, message, signature))
    results = check_signatures(jobs, workers=2)
    assert results == [n % 97 != 0 for n in range(1500)]
