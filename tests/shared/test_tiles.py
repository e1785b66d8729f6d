import hashlib
from collections.abc import Iterable
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.merkle import (
    EMPTY_ROOT,
    MerkleTree,
    consistency_proof_plan,
    inclusion_proof_plan,
    leaf_hash,
    root_from_leaf_hashes,
    verify_inclusion,
)
from shared.tiles import (
    MAX_ENTRY_SIZE,
    EntryBundleId,
    TileError,
    TileId,
    TileNodeReader,
    decode_entry_bundle,
    encode_entry_bundle,
    encode_tile_index,
    parse_tile_path,
    partial_tiles,
    root_from_tiles,
    split_tile,
    tile_bytes,
    tile_width,
    tiles_changed,
    tiles_for_nodes,
    tiles_for_root,
    tiles_for_size,
)

BIG = 70_000


@cache
def big_tree() -> MerkleTree:
    return MerkleTree(hashlib.sha256(i.to_bytes(8, "big")).digest() for i in range(BIG))


def serve(tiles: Iterable[TileId]) -> dict[TileId, bytes]:
    """What a log would serve for these tiles, built from the in-memory tree."""
    tree = big_tree()
    return {tile: tile_bytes(tile, tree.get_nodes(tile.node_ids())) for tile in tiles}


# --- Paths -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("index", "encoded"),
    [
        (0, "000"),
        (5, "005"),
        (999, "999"),
        (1000, "x001/000"),
        (1234067, "x001/x234/067"),
        (10**9, "x001/x000/x000/000"),
    ],
)
def test_index_encoding(index: int, encoded: str) -> None:
    assert encode_tile_index(index) == encoded


def test_paths_from_the_spec() -> None:
    assert TileId(0, 1234067).path == "tile/0/x001/x234/067"
    assert TileId(1, 1234067, 8).path == "tile/1/x001/x234/067.p/8"
    assert EntryBundleId(1234067).path == "tile/entries/x001/x234/067"
    assert EntryBundleId(0, 255).path == "tile/entries/000.p/255"
    assert parse_tile_path("tile/0/x001/x234/067") == TileId(0, 1234067)
    assert parse_tile_path("tile/63/000.p/1") == TileId(63, 0, 1)
    assert parse_tile_path("tile/entries/x001/x234/067.p/8") == EntryBundleId(1234067, 8)


@pytest.mark.parametrize(
    "path",
    [
        "tile/0/x000/001",
        "tile/00/001",
        "tile/01/001",
        "tile/64/000",
        "tile/-1/000",
        "tile/x/000",
        "tile/0/1",
        "tile/0/0001",
        "tile/0/00a",
        "tile/0/x1/000",
        "tile/0/x001",
        "tile/0/001/x002",
        "tile/0/001/",
        "tile/0/001.p/0",
        "tile/0/001.p/256",
        "tile/0/001.p/08",
        "tile/0/001.p/",
        "tile/0/001.p",
        "tile/0/001.p/1/2",
        "tile/0/.p/1",
        "tile/entries/001.p/256",
        "tile/entries/x000/000",
        "tile/entries",
        "/tile/0/000",
        "tiles/0/000",
        "tile/0",
        "tile/0/\u0661\u0662\u0663",
        "tile/0/x999/x999/x999/x999/x999/x999/x999/999",
    ],
)
def test_non_canonical_paths_are_rejected(path: str) -> None:
    with pytest.raises(TileError):
        parse_tile_path(path)


@given(
    st.integers(min_value=0, max_value=63),
    st.integers(min_value=0, max_value=2**64 - 1),
    st.integers(min_value=1, max_value=256),
)
def test_path_round_trip(level: int, index: int, width: int) -> None:
    tile = TileId(level, index, width)
    assert parse_tile_path(tile.path) == tile
    bundle = EntryBundleId(index, width)
    assert parse_tile_path(bundle.path) == bundle


def test_coordinates_are_validated() -> None:
    with pytest.raises(TileError):
        TileId(64, 0)
    with pytest.raises(TileError):
        TileId(0, -1)
    with pytest.raises(TileError):
        TileId(0, 0, 0)
    with pytest.raises(TileError):
        TileId(0, 0, 257)
    with pytest.raises(TileError):
        EntryBundleId(2**64)


# --- Tiles of a tree -------------------------------------------------------------------------


def test_tiles_of_the_spec_example_sizes() -> None:
    tiles = list(tiles_for_size(70_000))
    assert sum(1 for t in tiles if t.level == 0 and not t.is_partial) == 273
    assert [t for t in tiles if t.is_partial] == [TileId(0, 273, 112), TileId(1, 1, 17), TileId(2, 0, 1)]
    assert [t for t in tiles if t.level == 1] == [TileId(1, 0), TileId(1, 1, 17)]
    assert partial_tiles(70_000) == [TileId(0, 273, 112), TileId(1, 1, 17), TileId(2, 0, 1)]
    assert list(tiles_for_size(256)) == [TileId(0, 0), TileId(1, 0, 1)]
    assert list(tiles_for_size(0)) == []
    assert list(tiles_for_size(1)) == [TileId(0, 0, 1)]


def test_tile_width() -> None:
    assert tile_width(0, 0, 70_000) == 256
    assert tile_width(0, 273, 70_000) == 112
    assert tile_width(0, 274, 70_000) == 0
    assert tile_width(1, 1, 70_000) == 17
    assert tile_width(3, 0, 70_000) == 0


@settings(max_examples=100)
@given(st.integers(min_value=0, max_value=200_000), st.integers(min_value=0, max_value=200_000))
def test_tiles_changed_is_the_difference(a: int, b: int) -> None:
    old, new = min(a, b), max(a, b)
    assert set(tiles_changed(old, new)) == set(tiles_for_size(new)) - set(tiles_for_size(old))


def test_tiles_changed_rejects_shrinking() -> None:
    with pytest.raises(TileError):
        tiles_changed(5, 4)


# --- Contents --------------------------------------------------------------------------------


def test_tile_bytes_and_split() -> None:
    tile = TileId(0, 0, 3)
    hashes = [bytes([i]) * 32 for i in range(3)]
    data = tile_bytes(tile, hashes)
    assert data == b"".join(hashes)
    assert split_tile(tile, data) == hashes
    with pytest.raises(TileError, match="needs 3 hashes"):
        tile_bytes(tile, hashes[:2])
    with pytest.raises(TileError, match="32 bytes"):
        tile_bytes(tile, [*hashes[:2], b"short"])
    with pytest.raises(TileError, match="96 bytes"):
        split_tile(tile, data + b"\x00")
    assert len(tile_bytes(TileId(0, 0), [bytes(32)] * 256)) == 8192


def test_entry_bundles() -> None:
    entries = [b"", b"a", b"x" * 300, b"z" * MAX_ENTRY_SIZE]
    data = encode_entry_bundle(entries)
    assert data[:5] == b"\x00\x00\x00\x01a"
    assert data[5:7] == (300).to_bytes(2, "big")
    assert decode_entry_bundle(data) == entries
    assert decode_entry_bundle(data, 4) == entries
    assert decode_entry_bundle(b"") == []
    with pytest.raises(TileError, match="expected 3"):
        decode_entry_bundle(data, 3)
    with pytest.raises(TileError, match="truncated in entry 3"):
        decode_entry_bundle(data[:-1])
    with pytest.raises(TileError, match="length of entry 1"):
        decode_entry_bundle(b"\x00\x00\x00")
    with pytest.raises(TileError, match="65535"):
        encode_entry_bundle([b"x" * (MAX_ENTRY_SIZE + 1)])


@given(st.lists(st.binary(max_size=600), max_size=20))
def test_entry_bundle_round_trip(entries: list[bytes]) -> None:
    assert decode_entry_bundle(encode_entry_bundle(entries), len(entries)) == entries


def test_entry_bundle_matches_level0_tile() -> None:
    entries = [f"entry {i}".encode() for i in range(300)]
    tree = MerkleTree.from_entries(entries)
    bundle = EntryBundleId(1, 300 - 256)
    tile = TileId(0, 1, 300 - 256)
    decoded = decode_entry_bundle(encode_entry_bundle(entries[bundle.first_entry :]), bundle.width)
    served = tile_bytes(tile, tree.get_nodes(tile.node_ids()))
    assert [leaf_hash(entry) for entry in decoded] == split_tile(tile, served)


# --- Root and proofs from tiles --------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 2, 255, 256, 257, 511, 512, 65535, 65536, 65537, 69999, BIG])
def test_root_from_tiles_at_boundaries(size: int) -> None:
    tiles = serve(tiles_for_root(size))
    assert root_from_tiles(size, tiles) == big_tree().root(size)


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=1, max_value=BIG))
def test_root_from_tiles_matches_leaf_hashes(size: int) -> None:
    tiles = serve(tiles_for_root(size))
    leaves = big_tree().get_nodes([(0, i) for i in range(size)])
    assert root_from_tiles(size, tiles) == root_from_leaf_hashes(leaves)


def test_root_needs_few_tiles() -> None:
    assert tiles_for_root(BIG) == [TileId(2, 0, 1), TileId(1, 1, 17), TileId(0, 273, 112)]
    assert tiles_for_root(65536) == [TileId(2, 0, 1)]
    assert tiles_for_root(0) == []
    assert root_from_tiles(0, {}) == EMPTY_ROOT


def test_proofs_from_tiles() -> None:
    tree = big_tree()
    size = 66_000
    root = tree.root(size)
    for index in (0, 255, 256, 40_000, 65_999):
        plan = inclusion_proof_plan(index, size)
        reader = TileNodeReader(size, serve(tiles_for_nodes(plan.node_ids, size)))
        proof = plan.assemble(reader.get_nodes(plan.node_ids))
        assert proof == tree.inclusion_proof(index, size)
        verify_inclusion(tree.leaf_hash(index), index, size, proof, root)
    plan = consistency_proof_plan(1234, size)
    reader = TileNodeReader(size, serve(tiles_for_nodes(plan.node_ids, size)))
    assert plan.assemble(reader.get_nodes(plan.node_ids)) == tree.consistency_proof(1234, size)


def test_full_tile_stands_in_for_a_partial_one() -> None:
    size = 1000
    needed = tiles_for_root(size)
    assert TileId(0, 3, 232) in needed
    tiles = serve([TileId(0, 3) if tile == TileId(0, 3, 232) else tile for tile in needed])
    assert root_from_tiles(size, tiles) == big_tree().root(size)


def test_missing_or_wrong_tiles_are_reported() -> None:
    size = 1000
    tiles = serve(tiles_for_root(size))
    del tiles[TileId(0, 3, 232)]
    with pytest.raises(KeyError, match=r"tile/0/003\.p/232"):
        root_from_tiles(size, tiles)
    tiles[TileId(0, 3, 232)] = bytes(31)
    with pytest.raises(TileError, match="7424 bytes"):
        root_from_tiles(size, tiles)
    with pytest.raises(TileError, match="not complete"):
        TileNodeReader(size, {}).get_nodes([(3, 125)])
    with pytest.raises(TileError, match="not complete"):
        tiles_for_nodes([(10, 0)], size)
