"""The log's storage against the published RFC 6962 vectors: the vector leaves written
through the same node storage appends use give the vector roots and proofs, from the store
and through the API."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import update

from server.audit.store import build_proof, stored_root
from server.audit.tables import STATE_ROW, audit_log_state, audit_nodes
from server.db.engine import Database
from shared.audit.codec import b64url_decode
from shared.checkpoint import open_checkpoint
from shared.merkle import CompactRange, consistency_proof_plan, inclusion_proof_plan, leaf_hash
from shared.tiles import root_from_tiles, tiles_for_root
from testkit.audit import AuditClient, audit_settings
from testkit.servers import RunningServer


@pytest.fixture
def vectors(vectors_dir):
    return json.loads((vectors_dir / "rfc6962-merkle.json").read_text())


async def store_vector_leaves(database_url: str, leaves: list[bytes]) -> None:
    """Write the leaves' complete nodes and the state exactly as an append does."""
    frontier = CompactRange()
    nodes = frontier.extend([leaf_hash(leaf) for leaf in leaves])
    database = Database(database_url)
    try:
        async with database.transaction(write=True) as connection:
            await connection.execute(
                audit_nodes.insert(),
                [{"level": level, "idx": index, "hash": value} for (level, index), value in nodes],
            )
            await connection.execute(
                update(audit_log_state)
                .where(audit_log_state.c.id == STATE_ROW)
                .values(size=frontier.size, frontier=frontier.to_bytes(), updated_at=dt.datetime.now(dt.UTC))
            )
    finally:
        await database.dispose()


async def test_stored_nodes_give_the_vector_roots_and_proofs(database_url, vectors):
    leaves = [bytes.fromhex(leaf) for leaf in vectors["leaves_hex"]]
    await store_vector_leaves(database_url, leaves)
    database = Database(database_url)
    try:
        async with database.transaction() as connection:
            for size, root in vectors["roots_by_size"].items():
                assert (await stored_root(connection, int(size))).hex() == root
            for case in vectors["inclusion"]:
                proof = await build_proof(
                    connection, inclusion_proof_plan(case["leaf_index"], case["tree_size"])
                )
                assert [value.hex() for value in proof] == case["path"]
            for case in vectors["consistency"]:
                proof = await build_proof(
                    connection, consistency_proof_plan(case["first_size"], case["second_size"])
                )
                assert [value.hex() for value in proof] == case["proof"]
    finally:
        await database.dispose()


def test_the_server_signs_serves_and_proves_the_vector_tree(tmp_path, database_url, vectors):
    import asyncio

    leaves = [bytes.fromhex(leaf) for leaf in vectors["leaves_hex"]]
    asyncio.run(store_vector_leaves(database_url, leaves))
    running = RunningServer(audit_settings(tmp_path, database_url))
    client = AuditClient(running)
    try:
        note = client.wait_for_checkpoint(8)
        key = client.get("/api/v1/audit/verifier-key").text.strip()
        checkpoint = open_checkpoint(note, key, origin="kluis.example/audit")
        assert checkpoint.size == 8
        assert checkpoint.root_hash.hex() == vectors["roots_by_size"]["8"]
        tiles = {tile: client.get(f"/api/v1/audit/{tile.path}").content for tile in tiles_for_root(8)}
        assert root_from_tiles(8, tiles).hex() == vectors["roots_by_size"]["8"]
        auditor = client.sign_in(("auditor",))
        for case in vectors["inclusion"]:
            proof = client.get(
                "/api/v1/audit/proof/inclusion",
                auditor,
                params={"index": case["leaf_index"], "size": case["tree_size"]},
            ).json()
            assert [b64url_decode(h, "h", 32).hex() for h in proof["hashes"]] == case["path"]
            assert b64url_decode(proof["leaf_hash"], "h", 32).hex() == case["leaf_hash"]
        for case in vectors["consistency"]:
            proof = client.get(
                "/api/v1/audit/proof/consistency",
                auditor,
                params={"size1": case["first_size"], "size2": case["second_size"]},
            ).json()
            assert [b64url_decode(h, "h", 32).hex() for h in proof["hashes"]] == case["proof"]
    finally:
        client.close()
        running.stop()
