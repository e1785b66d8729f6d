"""Evidence bundles made offline from the auditor's copy, checked by kluis-verify with no
server and no Kluis database: ranges, an object's trail and a staff member's trail, also
after the log was pruned past retention; a bundle changed after export fails by entry."""

from __future__ import annotations

import asyncio
import datetime as dt
import json

import pytest
from sqlalchemy import text

from console.audit.export import ExportRefused, ExportRequest, export_bundle
from console.verify_cli import main as kluis_verify

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


async def copied(desk):
    await desk.teller_work(customers=3, opens=2)
    await desk.sign_in_auditor()
    await desk.settle()
    return (await desk.download()).state


def export(desk, request, path):
    return desk.auditor.blocking(lambda: export_bundle(desk.copy, request, path, NOW))


def verify_file(path, state, capsys):
    status = kluis_verify([str(path), "--log-key", state.log_key, "--jobs", "1"])
    return status, capsys.readouterr().out


def test_the_whole_copy_and_any_slice_export_and_verify(run, desk, tmp_path, capsys):
    async def scenario():
        state = await copied(desk)
        whole = await export(desk, ExportRequest("range"), tmp_path / "whole.json")
        assert whole.entries == state.size
        part = await export(desk, ExportRequest("range", start=4, end=state.size - 3), tmp_path / "part.json")
        assert part.entries == state.size - 7
        return state

    state = run(scenario())
    for name in ("whole.json", "part.json"):
        status, out = verify_file(tmp_path / name, state, capsys)
        assert status == 0, out
        assert "OK: every check passed" in out
    bundle = json.loads((tmp_path / "part.json").read_text())
    assert bundle["scope"] == {"kind": "range", "start": 4, "end": state.size - 3}
    assert len(bundle["prefix"]) == (4).bit_count()
    assert bundle["range_proof"]


def test_trails_of_a_customer_and_of_a_teller_carry_inclusion_proofs(run, desk, tmp_path, capsys):
    async def scenario():
        state = await copied(desk)
        teller = desk.tellers[0].session.identity.user_id

        def a_customer():
            with desk.auditor.store.reading() as connection:
                return connection.execute(
                    text("SELECT object_id FROM audit_copy_entries WHERE action = 'open' LIMIT 1")
                ).scalar_one()

        customer = await desk.auditor.blocking(a_customer)
        await export(
            desk, ExportRequest("object", object_type="customer", object_id=customer), tmp_path / "c.json"
        )
        await export(desk, ExportRequest("actor", actor=teller), tmp_path / "t.json")
        return state, customer, teller

    state, customer, teller = run(scenario())
    trail = json.loads((tmp_path / "c.json").read_text())
    assert {e["event"]["object_id"] for e in trail["entries"]} == {customer}
    assert {e["event"]["action"] for e in trail["entries"]} == {"create", "open"}
    assert all(e["inclusion"] for e in trail["entries"])
    actor = json.loads((tmp_path / "t.json").read_text())
    assert {e["event"]["actor"] for e in actor["entries"]} == {str(teller)}
    for name in ("c.json", "t.json"):
        status, out = verify_file(tmp_path / name, state, capsys)
        assert status == 0, out


def test_a_pruned_copy_still_exports_verifiable_trails_and_ranges(run, desk, tmp_path, capsys):
    async def scenario():
        await copied(desk)
        running = desk.consoles.server
        log = running.server.state.audit

        async def cut():
            async with running.server.database.transaction() as connection:
                return await connection.scalar(text("SELECT received_at FROM audit_entries WHERE idx = 6"))

        received = await asyncio.to_thread(running.run, cut())
        moment = received if isinstance(received, dt.datetime) else dt.datetime.fromisoformat(str(received))
        moment = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
        await desk.teller_work(customers=2, opens=1)
        await asyncio.to_thread(running.run, log.prune(moment + dt.timedelta(days=2557, microseconds=1)))
        await desk.settle()
        state = (await desk.download()).state
        assert state.min_index > 6
        teller = desk.tellers[0].session.identity.user_id
        await export(desk, ExportRequest("actor", actor=teller), tmp_path / "t.json")
        await export(desk, ExportRequest("range", start=state.min_index + 1), tmp_path / "r.json")
        with pytest.raises(ExportRefused, match="within the entries this copy holds"):
            await export(desk, ExportRequest("range", start=0), tmp_path / "no.json")
        assert not (tmp_path / "no.json").exists()
        return state

    state = run(scenario())
    for name in ("t.json", "r.json"):
        status, out = verify_file(tmp_path / name, state, capsys)
        assert status == 0, out
        assert json.loads((tmp_path / name).read_text())["pruned_below"] == state.min_index


def test_a_bundle_changed_after_export_fails_naming_the_entry(run, desk, tmp_path, capsys):
    state = run(_export_whole(desk, tmp_path / "b.json"))
    bundle = json.loads((tmp_path / "b.json").read_text())
    target = bundle["entries"][5]
    target["event"]["purpose"] = "fraud_investigation"
    (tmp_path / "b.json").write_text(json.dumps(bundle))
    status, out = verify_file(tmp_path / "b.json", state, capsys)
    assert status == 1
    assert f"FAIL entry {target['index']}: " in out


async def _export_whole(desk, path):
    state = await copied(desk)
    await export(desk, ExportRequest("range"), path)
    return state
