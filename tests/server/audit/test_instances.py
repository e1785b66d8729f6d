"""Several server instances on one PostgreSQL database: appends stay strictly ordered, and
exactly one checkpoint is signed per tree size, every one consistent with the one before."""

from __future__ import annotations

import asyncio
import itertools
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select

from server.audit.store import build_proof, stored_root
from server.audit.tables import audit_checkpoints, audit_entries
from server.db.engine import Database
from shared.audit.entry import parse_entry
from shared.checkpoint import open_checkpoint
from shared.merkle import consistency_proof_plan, leaf_hash, root_from_leaf_hashes, verify_consistency
from testkit.audit import AuditClient, audit_settings
from testkit.servers import RunningServer

pytestmark = pytest.mark.postgres_only


@pytest.fixture
def shared_database(postgres):
    url = postgres.create(migrated=True)
    yield url
    postgres.drop(url)


async def read_log(url: str):
    database = Database(url)
    try:
        async with database.transaction() as connection:
            entries = list(
                await connection.execute(
                    select(audit_entries.c.idx, audit_entries.c.entry).order_by(audit_entries.c.idx)
                )
            )
            checkpoints = list(
                await connection.execute(select(audit_checkpoints).order_by(audit_checkpoints.c.size))
            )
            proofs = [
                await build_proof(connection, consistency_proof_plan(a.size, b.size))
                for a, b in itertools.pairwise(checkpoints)
            ]
            root = await stored_root(connection, len(entries))
        return entries, checkpoints, proofs, root
    finally:
        await database.dispose()


def test_two_instances_append_in_one_order_and_sign_one_checkpoint_per_size(tmp_path, shared_database):
    settings = audit_settings(tmp_path, shared_database, audit_checkpoint_interval=0.05)
    servers = [RunningServer(settings), RunningServer(settings)]
    clients = [AuditClient(server) for server in servers]
    try:
        consoles = [clients[n % 2].sign_in() for n in range(4)]

        def work(n: int) -> list[int]:
            client, console = clients[n % 2], consoles[n]
            indexes = []
            for _ in range(8):
                indexes += client.submit_ok(console, console.signed(25))
            return indexes

        with ThreadPoolExecutor(4) as pool:
            accepted = [index for part in pool.map(work, range(4)) for index in part]
        assert len(accepted) == len(set(accepted)) == 4 * 8 * 25
        size = clients[0].settle()
        clients[1].settle()
        entries, checkpoints, proofs, stored = asyncio.run(read_log(shared_database))
        assert [row.idx for row in entries] == list(range(len(entries)))
        assert [parse_entry(bytes(row.entry)).index for row in entries] == list(range(len(entries)))
        assert len(entries) >= size
        assert stored == root_from_leaf_hashes([leaf_hash(bytes(row.entry)) for row in entries])

        verifier = servers[0].server.state.audit.keys.verifier
        opened = [
            open_checkpoint(row.note.encode(), verifier, origin="kluis.example/audit") for row in checkpoints
        ]
        assert [checkpoint.size for checkpoint in opened] == sorted(
            {checkpoint.size for checkpoint in opened}
        )
        assert len(opened) > 2
        for (old, new), proof in zip(itertools.pairwise(opened), proofs, strict=True):
            verify_consistency(old.size, new.size, old.root_hash, new.root_hash, proof)
    finally:
        for client in clients:
            client.close()
        for server in servers:
            server.stop()
