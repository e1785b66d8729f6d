"""Checkpoints, proofs and tiles of a real server's audit log, checked the way an outside
verifier would: only with the log's public key."""

from __future__ import annotations

import base64
import uuid

import pytest

from shared.audit.codec import b64url_decode
from shared.audit.entry import parse_entry
from shared.checkpoint import open_checkpoint
from shared.merkle import (
    ProofError,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)
from shared.note import Verifier
from shared.tiles import TileId, decode_entry_bundle, parse_tile_path, root_from_tiles, tiles_for_root


def hashes(values):
    return [b64url_decode(value, "hash", 32) for value in values]


def flip(value: bytes) -> bytes:
    return bytes([value[0] ^ 1]) + value[1:]


@pytest.fixture
def auditor(client):
    return client.sign_in(("auditor",))


@pytest.fixture
def grown(client):
    """A log with some device events, and its latest checkpoint opened."""
    console = client.sign_in()
    for _ in range(3):
        client.submit_ok(console, console.signed(7))
    size = client.log_info()["size"]
    note = client.wait_for_checkpoint(size)
    key = client.get("/api/v1/audit/verifier-key").text.strip()
    origin = client.log_info()["origin"]
    return open_checkpoint(note, key, origin=origin), key, origin


def test_the_checkpoint_is_a_signed_note_for_the_configured_origin(client, grown):
    checkpoint, key, origin = grown
    assert origin == "kluis.example/audit"
    verifier = Verifier.parse(key)
    assert verifier.name == origin
    response = client.get("/api/v1/audit/checkpoint")
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text.startswith(f"{origin}\n{checkpoint.size}\n")


def test_checkpoints_extend_each_other_and_one_is_signed_per_size(client, running, grown):
    first, key, origin = grown
    console = client.sign_in()
    client.submit_ok(console, console.signed(5))
    second = open_checkpoint(client.wait_for_checkpoint(first.size + 5), key, origin=origin)
    proof = client.get(
        "/api/v1/audit/proof/consistency",
        client.sign_in(("auditor",)),
        params={"size1": first.size, "size2": second.size},
    ).json()
    verify_consistency(first.size, second.size, first.root_hash, second.root_hash, hashes(proof["hashes"]))

    from sqlalchemy import func, select

    from server.audit.tables import audit_checkpoints

    async def counts():
        async with running.server.database.transaction() as connection:
            total = await connection.scalar(select(func.count()).select_from(audit_checkpoints))
            distinct = await connection.scalar(select(func.count(func.distinct(audit_checkpoints.c.size))))
            return total, distinct

    total, distinct = running.run(counts())
    assert total == distinct


def test_inclusion_proofs_from_the_api_verify_and_their_corruptions_do_not(client, auditor, grown):
    checkpoint, _, _ = grown
    entries = client.get("/api/v1/audit/entries", auditor, params={"start": 0}).json()["entries"]
    assert len(entries) == checkpoint.size
    for index in (0, checkpoint.size // 2, checkpoint.size - 1):
        proof = client.get(
            "/api/v1/audit/proof/inclusion", auditor, params={"index": index, "size": checkpoint.size}
        ).json()
        leaf = leaf_hash(b64url_decode(entries[index]["entry"], "entry"))
        assert b64url_decode(proof["leaf_hash"], "leaf", 32) == leaf
        path = hashes(proof["hashes"])
        verify_inclusion(leaf, index, checkpoint.size, path, checkpoint.root_hash)
        wrong = [
            (leaf, index + 1, checkpoint.size, path, checkpoint.root_hash),  # wrong index
            (leaf, index, checkpoint.size * 2 + 1, path, checkpoint.root_hash),  # wrong size
            (flip(leaf), index, checkpoint.size, path, checkpoint.root_hash),  # a flipped bit
            (leaf, index, checkpoint.size, [flip(path[0]), *path[1:]], checkpoint.root_hash),
            (leaf, index, checkpoint.size, path[:-1], checkpoint.root_hash),  # dropped element
            (leaf, index, checkpoint.size, [*path, path[0]], checkpoint.root_hash),  # added element
        ]
        for case in wrong:
            with pytest.raises(ProofError):
                verify_inclusion(*case)


def test_consistency_proofs_and_their_corruptions(client, auditor, grown):
    checkpoint, _, _ = grown
    size2 = checkpoint.size
    for size1 in (1, 5, size2 // 2, size2 - 1):
        old = client.get("/api/v1/audit/proof/inclusion", auditor, params={"index": 0, "size": size1})
        assert old.status_code == 200
        proof = hashes(
            client.get(
                "/api/v1/audit/proof/consistency", auditor, params={"size1": size1, "size2": size2}
            ).json()["hashes"]
        )
        entries = client.get("/api/v1/audit/entries", auditor, params={"start": 0, "end": size1}).json()[
            "entries"
        ]
        from shared.merkle import root_from_leaf_hashes

        root1 = root_from_leaf_hashes([leaf_hash(b64url_decode(e["entry"], "entry")) for e in entries])
        verify_consistency(size1, size2, root1, checkpoint.root_hash, proof)
        for case in [
            (size1, size2, checkpoint.root_hash, root1, proof),  # swapped roots
            (size1, size2 * 2 + 1, root1, checkpoint.root_hash, proof),  # wrong size
            (size1, size2, root1, checkpoint.root_hash, proof[:-1]),  # dropped element
            (size1, size2, root1, checkpoint.root_hash, [*proof, proof[0]]),  # added element
            (size1, size2, flip(root1), checkpoint.root_hash, proof),  # a flipped bit
            (size1, size2, root1, checkpoint.root_hash, []),  # empty proof, different sizes
        ]:
            with pytest.raises(ProofError):
                verify_consistency(*case)


@pytest.mark.parametrize(
    ("path", "params", "code"),
    [
        ("inclusion", {"index": 5, "size": 5}, "index_beyond_size"),
        ("inclusion", {"index": 0, "size": 10**6}, "size_beyond_log"),
        ("consistency", {"size1": 9, "size2": 3}, "sizes_reversed"),
        ("consistency", {"size1": 1, "size2": 10**6}, "size_beyond_log"),
    ],
)
def test_impossible_proof_requests_are_refused(client, auditor, grown, path, params, code):
    response = client.get(f"/api/v1/audit/proof/{path}", auditor, params=params)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == code


def test_proofs_entries_and_devices_need_their_permissions(client, grown):
    teller = client.sign_in(("teller",))
    officer = client.sign_in(("compliance_officer",))
    assert client.get("/api/v1/audit/entries", teller).status_code == 403
    assert client.get("/api/v1/audit/entries", officer).status_code == 200
    assert (
        client.get("/api/v1/audit/proof/inclusion", officer, params={"index": 0, "size": 1}).status_code
        == 403
    )
    assert client.get("/api/v1/audit/devices", officer).status_code == 403
    assert client.get("/api/v1/audit/entries").status_code == 401
    assert client.get("/api/v1/audit/tile/entries/000.p/1").status_code == 401
    assert (
        client.post("/api/v1/audit/export", officer, json={"kind": "range", "purpose": "x"}).status_code
        == 403
    )


def test_tiles_rebuild_the_checkpoint_root_without_any_credentials(client, auditor, grown):
    checkpoint, _, _ = grown
    fetched = {}
    for tile in tiles_for_root(checkpoint.size):
        response = client.get(f"/api/v1/audit/{tile.path}")
        assert response.status_code == 200, tile.path
        assert response.headers["content-type"] == "application/octet-stream"
        fetched[tile] = response.content
    assert root_from_tiles(checkpoint.size, fetched) == checkpoint.root_hash
    assert client.get(f"/api/v1/audit/{TileId(0, 0, checkpoint.size + 1).path}").status_code == 404
    assert client.get("/api/v1/audit/tile/0/0").status_code == 404
    assert client.get("/api/v1/audit/tile/00/000.p/1").status_code == 404

    bundle = parse_tile_path(f"tile/entries/000.p/{checkpoint.size}")
    response = client.get(f"/api/v1/audit/{bundle.path}", auditor)
    assert response.status_code == 200
    entries = decode_entry_bundle(response.content, checkpoint.size)
    assert [parse_entry(entry).index for entry in entries] == list(range(checkpoint.size))
    level0 = fetched[TileId(0, 0, checkpoint.size)]
    assert b"".join(leaf_hash(entry) for entry in entries) == level0


def test_the_log_names_its_keys(client, auditor, grown):
    info = client.log_info()
    (server_key,) = info["server_keys"]
    assert len(server_key["key_id"]) == 16
    devices = client.get("/api/v1/audit/devices", auditor).json()["devices"]
    assert devices
    assert all(len(b64url_decode(d["public_key"], "key", 32)) == 32 for d in devices)
    assert all("name" not in device for device in devices)
    key = client.get("/api/v1/audit/verifier-key").text.strip()
    assert base64.b64decode(key.split("+", 2)[2])[0] == 1


@pytest.mark.usefixtures("grown")
def test_erasures_are_listed_by_index_for_copies_of_the_log(client, running, auditor):
    assert client.get("/api/v1/audit/erasures", auditor).json() == {
        "min_index": 0,
        "next_start": None,
        "erased": [],
    }
    entries = client.get("/api/v1/audit/entries", auditor).json()["entries"]
    chosen = [entries[2], entries[5]]
    for entry in chosen:
        erased_at = running.run(running.server.state.audit.erase(uuid.UUID(entry["event"]["event_id"])))
        assert erased_at == entry["index"]
    listed = client.get("/api/v1/audit/erasures", auditor).json()
    assert listed["erased"] == [{"index": e["index"], "reason": "erasure"} for e in chosen]
    later = client.get("/api/v1/audit/erasures", auditor, params={"start": chosen[0]["index"] + 1}).json()
    assert later["erased"] == [{"index": chosen[1]["index"], "reason": "erasure"}]
    teller = client.sign_in(("teller",))
    assert client.get("/api/v1/audit/erasures", teller).status_code == 403
    assert client.get("/api/v1/audit/erasures", auditor, params={"start": -1}).status_code == 422
