import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.merkle import (
    EMPTY_ROOT,
    CompactRange,
    HashSizeError,
    MerkleTree,
    NodeId,
    ProofError,
    ProofLengthError,
    ProofPlan,
    PrunedTree,
    RootMismatchError,
    TreeSizeError,
    consistency_proof,
    consistency_proof_plan,
    inclusion_proof,
    inclusion_proof_plan,
    leaf_hash,
    node_hash,
    range_node_ids,
    root_from_inclusion_proof,
    root_from_leaf_hashes,
    root_from_nodes,
    root_plan,
    tree_root,
    verify_consistency,
    verify_inclusion,
)

VECTORS = Path(__file__).resolve().parents[2] / ".." / "shared" / "vectors"
RFC6962: dict[str, Any] = json.loads((VECTORS / "rfc6962-merkle.json").read_text(encoding="utf-8"))
ENTRIES = [bytes.fromhex(entry) for entry in RFC6962["leaves_hex"]]
INCLUSION = RFC6962["inclusion"]
CONSISTENCY = RFC6962["consistency"]


def leaves(count: int) -> list[bytes]:
    return [hashlib.sha256(i.to_bytes(8, "big")).digest() for i in range(count)]


def flip(value: bytes, bit: int = 0) -> bytes:
    changed = bytearray(value)
    changed[bit // 8] ^= 1 << (bit % 8)
    return bytes(changed)


# --- Independent oracle: RFC 9162 section 2.1 definitions, recursively ------------------------


def mth(hashes: Sequence[bytes]) -> bytes:
    if not hashes:
        return EMPTY_ROOT
    if len(hashes) == 1:
        return hashes[0]
    k = 1 << ((len(hashes) - 1).bit_length() - 1)
    return node_hash(mth(hashes[:k]), mth(hashes[k:]))


def rfc_path(m: int, hashes: Sequence[bytes]) -> list[bytes]:
    if len(hashes) == 1:
        return []
    k = 1 << ((len(hashes) - 1).bit_length() - 1)
    if m < k:
        return [*rfc_path(m, hashes[:k]), mth(hashes[k:])]
    return [*rfc_path(m - k, hashes[k:]), mth(hashes[:k])]


def rfc_subproof(m: int, hashes: Sequence[bytes], whole: bool) -> list[bytes]:
    if m == len(hashes):
        return [] if whole else [mth(hashes)]
    k = 1 << ((len(hashes) - 1).bit_length() - 1)
    if m <= k:
        return [*rfc_subproof(m, hashes[:k], whole), mth(hashes[k:])]
    return [*rfc_subproof(m - k, hashes[k:], False), mth(hashes[:k])]


class CountingReader:
    """A node store filled only from what CompactRange reports, like a database would be."""

    def __init__(self, size: int) -> None:
        self.nodes: dict[NodeId, bytes] = {}
        self.calls = 0
        compact = CompactRange()
        for leaf in leaves(size):
            for node, value in compact.append(leaf):
                assert node not in self.nodes
                self.nodes[node] = value
        self.root = compact.root()

    def get_nodes(self, ids: Sequence[NodeId]) -> list[bytes]:
        self.calls += 1
        return [self.nodes[node] for node in ids]


# --- Vectors --------------------------------------------------------------------------------


def test_single_hash_vectors() -> None:
    single = RFC6962["single_hashes"]
    assert leaf_hash(b"L123456").hex() == single["leaf('L123456')"]
    assert node_hash(b"N123", b"N456").hex() == single["node('N123','N456')"]
    assert EMPTY_ROOT.hex() == RFC6962["hashing"]["empty_tree"]


@pytest.mark.parametrize(("size", "root"), sorted(RFC6962["roots_by_size"].items()))
def test_roots_by_size(size: str, root: str) -> None:
    hashes = [leaf_hash(entry) for entry in ENTRIES[: int(size)]]
    compact = CompactRange()
    compact.extend(hashes)
    tree = MerkleTree(hashes)
    assert root_from_leaf_hashes(hashes).hex() == root
    assert compact.root().hex() == root
    assert tree.root().hex() == root
    assert MerkleTree.from_entries(ENTRIES).root(int(size)).hex() == root


@pytest.mark.parametrize("case", INCLUSION, ids=lambda c: f"{c['leaf_index']}of{c['tree_size']}")
def test_inclusion_vectors(case: dict[str, Any]) -> None:
    tree = MerkleTree.from_entries(ENTRIES)
    proof = tree.inclusion_proof(case["leaf_index"], case["tree_size"])
    assert [p.hex() for p in proof] == case["path"]
    assert tree.leaf_hash(case["leaf_index"]).hex() == case["leaf_hash"]
    verify_inclusion(
        bytes.fromhex(case["leaf_hash"]),
        case["leaf_index"],
        case["tree_size"],
        [bytes.fromhex(p) for p in case["path"]],
        bytes.fromhex(case["root"]),
    )


@pytest.mark.parametrize("case", CONSISTENCY, ids=lambda c: f"{c['first_size']}to{c['second_size']}")
def test_consistency_vectors(case: dict[str, Any]) -> None:
    tree = MerkleTree.from_entries(ENTRIES)
    proof = tree.consistency_proof(case["first_size"], case["second_size"])
    assert [p.hex() for p in proof] == case["proof"]
    verify_consistency(
        case["first_size"],
        case["second_size"],
        bytes.fromhex(case["first_root"]),
        bytes.fromhex(case["second_root"]),
        [bytes.fromhex(p) for p in case["proof"]],
    )


# --- Inclusion: negative cases ---------------------------------------------------------------


def _inclusion_args(case: dict[str, Any]) -> tuple[bytes, int, int, list[bytes], bytes]:
    return (
        bytes.fromhex(case["leaf_hash"]),
        case["leaf_index"],
        case["tree_size"],
        [bytes.fromhex(p) for p in case["path"]],
        bytes.fromhex(case["root"]),
    )


@pytest.mark.parametrize("case", INCLUSION, ids=lambda c: f"{c['leaf_index']}of{c['tree_size']}")
def test_inclusion_tampering_is_detected(case: dict[str, Any]) -> None:
    leaf, index, size, proof, root = _inclusion_args(case)
    for other_index in {index - 1, index + 1} - {index}:
        if 0 <= other_index < size:
            with pytest.raises(ProofError):
                verify_inclusion(leaf, other_index, size, proof, root)
    # A proof binds the leaf to a root, and the root (signed with its size) binds the size: a
    # claimed size must come with that size's root, which the proof then fails to reach.
    tree = MerkleTree.from_entries(ENTRIES)
    for other_size in (size - 1, size + 1):
        if index < other_size <= tree.size:
            with pytest.raises(ProofError):
                verify_inclusion(leaf, index, other_size, proof, tree.root(other_size))
    for position in range(len(proof)):
        for bit in (0, 7, 255):
            changed = list(proof)
            changed[position] = flip(proof[position], bit)
            with pytest.raises(RootMismatchError):
                verify_inclusion(leaf, index, size, changed, root)
        with pytest.raises(ProofLengthError, match=f"got {len(proof) - 1}"):
            verify_inclusion(leaf, index, size, proof[:position] + proof[position + 1 :], root)
    for bit in (0, 100, 255):
        with pytest.raises(RootMismatchError):
            verify_inclusion(leaf, index, size, proof, flip(root, bit))
        with pytest.raises(RootMismatchError):
            verify_inclusion(flip(leaf, bit), index, size, proof, root)
    with pytest.raises(ProofLengthError):
        verify_inclusion(leaf, index, size, [*proof, root], root)
    with pytest.raises(ProofLengthError):
        verify_inclusion(leaf, index, size, [leaf, *proof], root)


def test_inclusion_rejects_impossible_positions() -> None:
    tree = MerkleTree(leaves(8))
    proof = tree.inclusion_proof(7)
    with pytest.raises(TreeSizeError, match="not in a tree of size 8"):
        verify_inclusion(tree.leaf_hash(7), 8, 8, proof, tree.root())
    with pytest.raises(TreeSizeError):
        verify_inclusion(tree.leaf_hash(0), 0, 0, [], EMPTY_ROOT)
    with pytest.raises(TreeSizeError):
        verify_inclusion(tree.leaf_hash(0), -1, 8, proof, tree.root())
    with pytest.raises(TreeSizeError):
        verify_inclusion(tree.leaf_hash(0), True, 8, proof, tree.root())  # type: ignore[arg-type]


def test_inclusion_rejects_malformed_hashes() -> None:
    tree = MerkleTree(leaves(5))
    proof = tree.inclusion_proof(2)
    leaf, root = tree.leaf_hash(2), tree.root()
    with pytest.raises(HashSizeError, match=r"proof\[1\]"):
        verify_inclusion(leaf, 2, 5, [proof[0], proof[1][:31], proof[2]], root)
    with pytest.raises(HashSizeError, match="root"):
        verify_inclusion(leaf, 2, 5, proof, root + b"\x00")
    with pytest.raises(HashSizeError, match="leaf"):
        verify_inclusion(leaf.hex().encode(), 2, 5, proof, root)
    with pytest.raises(HashSizeError):
        verify_inclusion(leaf, 2, 5, [p.hex() for p in proof], root)  # type: ignore[misc]


def test_single_leaf_tree_has_empty_inclusion_proof() -> None:
    leaf = leaf_hash(b"only")
    verify_inclusion(leaf, 0, 1, [], leaf)
    assert root_from_inclusion_proof(leaf, 0, 1, []) == leaf
    with pytest.raises(ProofLengthError):
        verify_inclusion(leaf, 0, 1, [leaf], leaf)


# --- Consistency: negative cases -------------------------------------------------------------


def _consistency_args(case: dict[str, Any]) -> tuple[int, int, bytes, bytes, list[bytes]]:
    return (
        case["first_size"],
        case["second_size"],
        bytes.fromhex(case["first_root"]),
        bytes.fromhex(case["second_root"]),
        [bytes.fromhex(p) for p in case["proof"]],
    )


@pytest.mark.parametrize("case", CONSISTENCY, ids=lambda c: f"{c['first_size']}to{c['second_size']}")
def test_consistency_tampering_is_detected(case: dict[str, Any]) -> None:
    size1, size2, root1, root2, proof = _consistency_args(case)
    with pytest.raises(RootMismatchError):
        verify_consistency(size1, size2, root2, root1, proof)
    with pytest.raises(TreeSizeError, match="larger"):
        verify_consistency(size2, size1, root2, root1, proof)
    with pytest.raises(ProofLengthError, match="got 0"):
        verify_consistency(size1, size2, root1, root2, [])
    for position in range(len(proof)):
        for bit in (0, 255):
            changed = list(proof)
            changed[position] = flip(proof[position], bit)
            with pytest.raises(RootMismatchError):
                verify_consistency(size1, size2, root1, root2, changed)
        with pytest.raises(ProofLengthError):
            verify_consistency(size1, size2, root1, root2, proof[:position] + proof[position + 1 :])
    with pytest.raises(ProofLengthError):
        verify_consistency(size1, size2, root1, root2, [*proof, root2])
    with pytest.raises(ProofLengthError):
        verify_consistency(size1, size2, root1, root2, [root1, *proof])
    for bit in (0, 255):
        with pytest.raises(RootMismatchError):
            verify_consistency(size1, size2, flip(root1, bit), root2, proof)
        with pytest.raises(RootMismatchError, match="root2"):
            verify_consistency(size1, size2, root1, flip(root2, bit), proof)
    tree = MerkleTree.from_entries(ENTRIES)
    for other1 in (size1 - 1, size1 + 1):
        if 0 < other1 < size2:
            with pytest.raises(ProofError):
                verify_consistency(other1, size2, tree.root(other1), root2, proof)
    for other2 in (size2 - 1, size2 + 1):
        if size1 < other2 <= tree.size:
            with pytest.raises(ProofError):
                verify_consistency(size1, other2, root1, tree.root(other2), proof)


def test_consistency_edge_cases() -> None:
    tree = MerkleTree(leaves(8))
    root4, root8 = tree.root(4), tree.root()
    verify_consistency(8, 8, root8, root8, [])
    verify_consistency(0, 8, EMPTY_ROOT, root8, [])
    verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    with pytest.raises(RootMismatchError, match="equal size"):
        verify_consistency(8, 8, root8, root4, [])
    with pytest.raises(ProofLengthError, match="must be empty"):
        verify_consistency(8, 8, root8, root8, [root8])
    with pytest.raises(ProofLengthError, match="must be empty"):
        verify_consistency(0, 8, EMPTY_ROOT, root8, [root8])
    with pytest.raises(RootMismatchError, match="empty-tree"):
        verify_consistency(0, 8, root4, root8, [])
    with pytest.raises(RootMismatchError, match="empty-tree"):
        verify_consistency(0, 0, root4, root4, [])
    with pytest.raises(TreeSizeError):
        verify_consistency(-1, 8, root4, root8, [])
    with pytest.raises(RootMismatchError, match="root1"):
        verify_consistency(6, 8, flip(tree.root(6)), root8, tree.consistency_proof(6))
    with pytest.raises(HashSizeError, match="root2"):
        verify_consistency(4, 8, root4, root8[:16], tree.consistency_proof(4))
    with pytest.raises(HashSizeError, match=r"proof\[0\]"):
        verify_consistency(4, 8, root4, root8, [b""])


# --- Generated proofs against the oracle ------------------------------------------------------


def test_proofs_match_rfc_definitions_exhaustively() -> None:
    hashes = leaves(40)
    tree = MerkleTree(hashes)
    for size in range(1, 41):
        root = mth(hashes[:size])
        assert tree.root(size) == root
        for index in range(size):
            proof = tree.inclusion_proof(index, size)
            assert proof == rfc_path(index, hashes[:size])
            verify_inclusion(hashes[index], index, size, proof, root)
        for size1 in range(1, size):
            proof = tree.consistency_proof(size1, size)
            assert proof == rfc_subproof(size1, hashes[:size], True)
            verify_consistency(size1, size, mth(hashes[:size1]), root, proof)


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=1, max_value=300), st.data())
def test_generated_proofs_verify(size: int, data: st.DataObject) -> None:
    hashes = leaves(size)
    tree = MerkleTree(hashes)
    root = tree.root()
    index = data.draw(st.integers(min_value=0, max_value=size - 1))
    verify_inclusion(hashes[index], index, size, tree.inclusion_proof(index), root)
    size1 = data.draw(st.integers(min_value=0, max_value=size))
    verify_consistency(size1, size, tree.root(size1), root, tree.consistency_proof(size1))


@settings(max_examples=30, deadline=None)
@given(st.integers(min_value=0, max_value=300))
def test_roots_agree_at_every_size_and_state_round_trips(size: int) -> None:
    hashes = leaves(size)
    compact = CompactRange()
    tree = MerkleTree()
    for count in range(size + 1):
        expected = root_from_leaf_hashes(hashes[:count])
        assert compact.size == count
        assert compact.root() == expected
        assert tree.root() == expected
        assert CompactRange.from_state(compact.size, compact.hashes) == compact
        assert CompactRange.from_bytes(compact.to_bytes()) == compact
        assert root_from_nodes(tree.get_nodes(compact.node_ids())) == expected
        if count < size:
            compact.append(hashes[count])
            tree.append(hashes[count])
    assert mth(hashes) == compact.root()


# --- CompactRange ----------------------------------------------------------------------------


def test_append_reports_completed_nodes() -> None:
    hashes = leaves(4)
    compact = CompactRange()
    assert compact.append(hashes[0]) == [((0, 0), hashes[0])]
    assert compact.append(hashes[1]) == [((0, 1), hashes[1]), ((1, 0), node_hash(hashes[0], hashes[1]))]
    assert compact.append(hashes[2]) == [((0, 2), hashes[2])]
    reported = compact.append(hashes[3])
    assert [node for node, _ in reported] == [(0, 3), (1, 1), (2, 0)]
    assert reported[-1][1] == mth(hashes)
    assert compact.node_ids() == [(2, 0)]


def test_every_complete_node_is_reported_exactly_once() -> None:
    hashes = leaves(1000)
    compact = CompactRange()
    reported = compact.extend(hashes)
    tree = MerkleTree(hashes)
    ids = [node for node, _ in reported]
    assert len(ids) == len(set(ids))
    expected = {(level, index) for level in range(11) for index in range(1000 >> level)}
    assert set(ids) == expected
    assert tree.get_nodes(ids) == [value for _, value in reported]


def test_resume_after_restart_continues_identically() -> None:
    hashes = leaves(77)
    first = CompactRange()
    first.extend(hashes[:50])
    saved = first.to_bytes()
    assert len(saved) == 8 + 32 * (50).bit_count()
    resumed = CompactRange.from_bytes(saved)
    reported = resumed.extend(hashes[50:])
    straight = CompactRange()
    all_reported = straight.extend(hashes)
    assert resumed == straight
    assert reported == all_reported[-len(reported) :]
    clone = first.copy()
    assert clone == first
    clone.append(hashes[50])
    assert first.size == 50


def test_compact_range_rejects_bad_state() -> None:
    with pytest.raises(ValueError, match="has 2 hashes"):
        CompactRange.from_state(3, [bytes(32)])
    with pytest.raises(ValueError, match="non-negative"):
        CompactRange.from_state(-1, [])
    with pytest.raises(ValueError, match="32-byte"):
        CompactRange.from_state(1, [bytes(31)])
    with pytest.raises(ValueError, match="bad length"):
        CompactRange.from_bytes(bytes(7))
    with pytest.raises(ValueError, match="bad length"):
        CompactRange.from_bytes(bytes(8 + 31))
    with pytest.raises(ValueError, match="has 1 hashes"):
        CompactRange.from_bytes((1).to_bytes(8, "big"))
    with pytest.raises(ValueError, match="32 bytes"):
        CompactRange().append(b"short")


def test_a_bad_batch_changes_nothing() -> None:
    compact = CompactRange()
    compact.extend(leaves(3))
    before = compact.to_bytes()
    with pytest.raises(ValueError, match=r"leaves\[2\]"):
        compact.extend([*leaves(2), b"short", leaves(1)[0]])
    assert compact.to_bytes() == before


def test_extend_reports_the_same_nodes_as_append() -> None:
    one_by_one = CompactRange()
    expected = [node for leaf in leaves(300) for node in one_by_one.append(leaf)]
    batched = CompactRange()
    assert batched.extend(leaves(300)[:100]) + batched.extend(iter(leaves(300)[100:])) == expected
    assert batched == one_by_one


@settings(max_examples=60, deadline=None)
@given(sizes=st.lists(st.integers(min_value=0, max_value=40), max_size=6), start=st.integers(0, 70))
def test_absorb_builds_the_tree_extend_builds_from_any_resumed_state(sizes, start):
    hashes = leaves(start + sum(sizes))
    resumed = MerkleTree(hashes[:start]).get_nodes(range_node_ids(0, start))
    extended = CompactRange.from_state(start, resumed)
    absorbed = CompactRange.from_state(start, resumed)
    position = start
    for size in sizes:
        batch = hashes[position : position + size]
        extended.extend(batch)
        absorbed.absorb(batch)
        position += size
        assert absorbed == extended
        assert absorbed.root() == mth(hashes[:position])


def test_absorb_checks_the_whole_batch_before_changing_anything() -> None:
    compact = CompactRange()
    compact.absorb(leaves(3))
    before = compact.to_bytes()
    with pytest.raises(ValueError, match=r"leaves\[2\]"):
        compact.absorb([*leaves(2), b"short", leaves(1)[0]])
    with pytest.raises(ValueError, match=r"leaves\[0\]"):
        compact.absorb([bytearray(32)])  # type: ignore[list-item]
    with pytest.raises(ValueError, match=r"leaves\[1\]"):
        compact.absorb([bytes(32), "x" * 32])  # type: ignore[list-item]
    assert compact.to_bytes() == before


# --- Planning and storage-backed proofs ------------------------------------------------------


def test_range_node_ids() -> None:
    assert range_node_ids(0, 0) == []
    assert range_node_ids(0, 13) == [(3, 0), (2, 2), (0, 12)]
    assert range_node_ids(4, 7) == [(1, 2), (0, 6)]
    assert range_node_ids(3, 9) == [(0, 3), (2, 1), (0, 8)]
    with pytest.raises(ValueError, match="bad leaf range"):
        range_node_ids(5, 4)


def test_plans_name_only_complete_nodes() -> None:
    plan = inclusion_proof_plan(0, 7)
    assert plan.elements == (((0, 1),), ((1, 1),), ((1, 2), (0, 6)))
    assert plan.node_ids == ((0, 1), (1, 1), (1, 2), (0, 6))
    assert consistency_proof_plan(3, 7).elements == (((0, 2),), ((0, 3),), ((1, 0),), ((1, 2), (0, 6)))
    assert consistency_proof_plan(4, 4).elements == ()
    assert consistency_proof_plan(0, 9).elements == ()
    assert root_plan(0).elements == ()
    assert root_plan(6).elements == (((2, 0), (1, 2)),)
    for size in range(1, 70):
        for index in range(size):
            for level, node_index in inclusion_proof_plan(index, size).node_ids:
                assert (node_index + 1) << level <= size


def test_planning_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="not in a tree"):
        inclusion_proof_plan(5, 5)
    with pytest.raises(ValueError, match="larger"):
        consistency_proof_plan(6, 5)
    with pytest.raises(ValueError, match="non-negative"):
        root_plan(-1)
    with pytest.raises(ValueError, match="expected 2 node hashes"):
        ProofPlan((((0, 0),), ((0, 1),))).assemble([bytes(32)])
    with pytest.raises(ValueError, match="32-byte"):
        ProofPlan((((0, 0),),)).assemble([b"x"])
    with pytest.raises(ValueError, match="larger than the tree"):
        MerkleTree(leaves(3)).inclusion_proof(0, 4)


def test_proofs_from_a_node_store_use_one_fetch_each() -> None:
    reader = CountingReader(1000)
    tree = MerkleTree(leaves(1000))
    for index, size in [(0, 1000), (999, 1000), (517, 777), (3, 4), (0, 1)]:
        before = reader.calls
        proof = inclusion_proof(reader, index, size)
        assert reader.calls == before + (1 if proof else 0)
        assert proof == tree.inclusion_proof(index, size)
    for size1, size2 in [(1, 1000), (999, 1000), (512, 1000), (300, 777), (5, 5), (0, 10)]:
        assert consistency_proof(reader, size1, size2) == tree.consistency_proof(size1, size2)
    for size in (0, 1, 999, 1000):
        assert tree_root(reader, size) == tree.root(size)
    assert tree_root(reader, 1000) == reader.root


def test_merkle_tree_rejects_incomplete_nodes() -> None:
    tree = MerkleTree(leaves(5))
    with pytest.raises(KeyError):
        tree.get_nodes([(1, 2)])
    with pytest.raises(KeyError):
        tree.get_nodes([(3, 0)])
    assert tree.get_nodes([(2, 0), (0, 4)]) == [mth(leaves(4)), leaves(5)[4]]


def test_root_from_leaf_hashes_validates_input() -> None:
    assert root_from_leaf_hashes([]) == EMPTY_ROOT
    with pytest.raises(ValueError, match=r"hashes\[1\]"):
        root_from_leaf_hashes([bytes(32), bytes(33)])


@settings(max_examples=150, deadline=None)
@given(size=st.integers(min_value=1, max_value=200), data=st.data())
def test_a_pruned_tree_gives_every_proof_a_whole_tree_gives_for_the_leaves_it_kept(size, data):
    leaves = [hashlib.sha256(b"leaf %d" % n).digest() for n in range(size)]
    whole = MerkleTree(leaves)
    start = data.draw(st.integers(min_value=0, max_value=size), label="start")
    pruned = PrunedTree(start, whole.get_nodes(range_node_ids(0, start)), leaves[start:])
    assert pruned.size == size
    for index in range(start, size):
        assert inclusion_proof(pruned, index, size) == whole.inclusion_proof(index, size)
    older = data.draw(st.integers(min_value=start, max_value=size), label="older")
    assert consistency_proof(pruned, older, size) == whole.consistency_proof(older, size)
    assert tree_root(pruned, size) == whole.root()


def test_a_pruned_tree_knows_nothing_before_its_start_but_its_prefix():
    leaves = [hashlib.sha256(b"leaf %d" % n).digest() for n in range(12)]
    whole = MerkleTree(leaves)
    pruned = PrunedTree(5, whole.get_nodes(range_node_ids(0, 5)), leaves[5:])
    with pytest.raises(KeyError):
        pruned.get_nodes([(0, 1)])
    with pytest.raises(ValueError, match="covered by 2 subtrees"):
        PrunedTree(5, [leaves[0]], leaves[5:])
