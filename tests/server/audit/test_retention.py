"""Retention: pruning past retention follows the tlog-tiles minimum index, and what stays
(hashes, proofs, checkpoints) stays valid."""

from __future__ import annotations

import datetime as dt

import pytest

from server.audit.retention import RetentionPolicy
from server.config import ConfigError, load_settings
from shared.audit.codec import b64url_decode
from shared.checkpoint import open_checkpoint
from shared.merkle import leaf_hash, verify_consistency, verify_inclusion
from shared.tiles import root_from_tiles, tiles_for_root


def test_retention_is_seven_years_unless_configured():
    policy = RetentionPolicy.from_settings(load_settings(environ={}))
    assert policy.periods == {"access": dt.timedelta(days=2557), "security": dt.timedelta(days=2557)}
    custom = load_settings(
        environ={"KLUIS_AUDIT_RETENTION_BY_CLASS": "security=3653", "KLUIS_AUDIT_RETENTION_DAYS": "400"}
    )
    assert RetentionPolicy.from_settings(custom).periods == {
        "access": dt.timedelta(days=400),
        "security": dt.timedelta(days=3653),
    }
    with pytest.raises(ConfigError, match="audit_retention_by_class"):
        load_settings(environ={"KLUIS_AUDIT_RETENTION_BY_CLASS": "gossip=5"})


def test_pruning_past_retention_keeps_every_proof_for_what_remains(client, running):
    console = client.sign_in()
    auditor = client.sign_in(("auditor",))
    log = running.server.state.audit
    client.submit_ok(console, console.signed(20))
    before = open_checkpoint(
        client.wait_for_checkpoint(client.log_info()["size"]), log.keys.verifier, origin=log.origin
    )
    cut = client.get("/api/v1/audit/entries", auditor, params={"start": 0}).json()["entries"][10][
        "received_at"
    ]
    cut_at = dt.datetime.fromisoformat(cut)
    client.submit_ok(console, console.signed(6))
    size = client.log_info()["size"]
    after = open_checkpoint(client.wait_for_checkpoint(size), log.keys.verifier, origin=log.origin)

    # Seven years and a moment after entry 10 arrived: everything received up to it expires.
    pruned = running.run(log.prune(cut_at + dt.timedelta(days=2557, microseconds=1)))
    assert pruned.min_index > 10
    assert pruned.pruned == pruned.min_index
    info = client.log_info()
    assert info["min_index"] == pruned.min_index
    assert info["size"] >= size

    page = client.get("/api/v1/audit/entries", auditor, params={"start": 0}).json()
    assert page["min_index"] == pruned.min_index
    assert next(entry["index"] for entry in page["entries"]) == pruned.min_index
    assert client.get("/api/v1/audit/tile/entries/000.p/8", auditor).status_code == 410

    # Hash tiles and proofs are untouched: the old checkpoint's root still rebuilds from tiles.
    tiles = {tile: client.get(f"/api/v1/audit/{tile.path}").content for tile in tiles_for_root(before.size)}
    assert root_from_tiles(before.size, tiles) == before.root_hash
    kept = page["entries"][0]
    proof = client.get(
        "/api/v1/audit/proof/inclusion", auditor, params={"index": kept["index"], "size": after.size}
    ).json()
    verify_inclusion(
        leaf_hash(b64url_decode(kept["entry"], "entry")),
        kept["index"],
        after.size,
        [b64url_decode(h, "h", 32) for h in proof["hashes"]],
        after.root_hash,
    )
    consistency = client.get(
        "/api/v1/audit/proof/consistency", auditor, params={"size1": before.size, "size2": after.size}
    ).json()
    verify_consistency(
        before.size,
        after.size,
        before.root_hash,
        after.root_hash,
        [b64url_decode(h, "h", 32) for h in consistency["hashes"]],
    )

    # A range starting below the minimum index cannot be exported; one at it can.
    response = client.post(
        "/api/v1/audit/export", auditor, json={"kind": "range", "start": 0, "purpose": "audit"}
    )
    assert response.status_code == 410
    assert client.export(auditor, kind="range", start=pruned.min_index)["pruned_below"] == pruned.min_index


def test_a_longer_retention_for_one_class_keeps_its_entries_but_erases_expired_bodies(tmp_path, database_url):
    from testkit.audit import AuditClient, audit_settings
    from testkit.servers import RunningServer

    running = RunningServer(
        audit_settings(tmp_path, database_url, audit_retention_by_class=["security=5000"])
    )
    client = AuditClient(running)
    try:
        console = client.sign_in()  # its sign-in is a security event, kept 5000 days
        client.submit_ok(console, console.signed(5))
        size = client.log_info()["size"]
        client.wait_for_checkpoint(size)
        log = running.server.state.audit
        result = running.run(log.prune(dt.datetime.now(dt.UTC) + dt.timedelta(days=3000)))
        auditor_entries = running.run(_entries(running))
        security = [row for row in auditor_entries if row.event_class == "security"]
        access = [row for row in auditor_entries if row.event_class == "access"]
        assert security
        assert all(row.event is not None for row in security)
        assert all(
            row.event is None and row.erased_reason == "retention"
            for row in access
            if row.idx >= result.min_index
        )
        assert result.min_index <= min(row.idx for row in security)
    finally:
        client.close()
        running.stop()


async def _entries(running):
    from sqlalchemy import select

    from server.audit.tables import audit_entries

    async with running.server.database.transaction() as connection:
        return list(await connection.execute(select(audit_entries).order_by(audit_entries.c.idx)))
