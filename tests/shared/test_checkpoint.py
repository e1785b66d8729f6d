import base64
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.checkpoint import (
    MAX_TREE_SIZE,
    Checkpoint,
    CheckpointError,
    open_checkpoint,
    parse_checkpoint,
    sign_checkpoint,
)
from shared.merkle import MerkleTree
from shared.note import InvalidSignatureError, Signer, UnverifiedNoteError, open_note, sign_note

ORIGIN = "kluis.example/audit-log"
LOG = Signer(ORIGIN, bytes(range(32)))
WITNESS = Signer("witness.example/w1", bytes(range(1, 33)))
ROOT = hashlib.sha256(b"root").digest()
ROOT_B64 = base64.b64encode(ROOT).decode()


def test_format_and_parse() -> None:
    checkpoint = Checkpoint(ORIGIN, 20852163, ROOT)
    text = checkpoint.to_text()
    assert text == f"{ORIGIN}\n20852163\n{ROOT_B64}\n"
    assert parse_checkpoint(text) == checkpoint


def test_extension_lines_round_trip() -> None:
    checkpoint = Checkpoint(ORIGIN, 0, ROOT, ("ext one", "— two"))
    assert checkpoint.to_text().endswith(f"{ROOT_B64}\next one\n— two\n")
    assert parse_checkpoint(checkpoint.to_text()) == checkpoint


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (f"{ORIGIN}\n5\n{ROOT_B64}", "end with a newline"),
        (f"{ORIGIN}\n5\n", "at least 3 lines"),
        (f"\n5\n{ROOT_B64}\n", "origin must not be empty"),
        (f"{ORIGIN}\n05\n{ROOT_B64}\n", "leading zeros"),
        (f"{ORIGIN}\n00\n{ROOT_B64}\n", "leading zeros"),
        (f"{ORIGIN}\n+5\n{ROOT_B64}\n", "decimal"),
        (f"{ORIGIN}\n-1\n{ROOT_B64}\n", "decimal"),
        (f"{ORIGIN}\n 5\n{ROOT_B64}\n", "decimal"),
        (f"{ORIGIN}\n1_000\n{ROOT_B64}\n", "decimal"),
        (f"{ORIGIN}\n\u0665\n{ROOT_B64}\n", "decimal"),
        (f"{ORIGIN}\n\n{ROOT_B64}\n", "decimal"),
        (f"{ORIGIN}\n{2**64}\n{ROOT_B64}\n", "2\\*\\*64"),
        (f"{ORIGIN}\n123456789012345678901\n{ROOT_B64}\n", "decimal"),
        (f"{ORIGIN}\n5\n{ROOT_B64.rstrip('=')}\n", "base64"),
        (f"{ORIGIN}\n5\n{ROOT.hex()}\n", "32 bytes"),
        (f"{ORIGIN}\n5\n{base64.b64encode(ROOT[:31]).decode()}\n", "32 bytes"),
        (f"{ORIGIN}\n5\n{ROOT_B64[:-2]}B=\n", "canonical"),
        (f"{ORIGIN}\n5\n{ROOT_B64}\n\n", "extension line 1"),
        (f"{ORIGIN}\n5\n{ROOT_B64}\next\n\n", "extension line 2"),
        (f"{ORIGIN}\n5\n{ROOT_B64}\nbad\ttab\n", "control"),
    ],
)
def test_parse_rejects(text: str, reason: str) -> None:
    with pytest.raises(CheckpointError, match=reason):
        parse_checkpoint(text)


def test_constructor_validates() -> None:
    assert Checkpoint(ORIGIN, MAX_TREE_SIZE, ROOT).size == 2**64 - 1
    with pytest.raises(CheckpointError):
        Checkpoint(ORIGIN, -1, ROOT)
    with pytest.raises(CheckpointError):
        Checkpoint(ORIGIN, 2**64, ROOT)
    with pytest.raises(CheckpointError):
        Checkpoint(ORIGIN, True, ROOT)
    with pytest.raises(CheckpointError):
        Checkpoint("two\nlines", 1, ROOT)
    with pytest.raises(CheckpointError):
        Checkpoint(ORIGIN, 1, ROOT[:16])
    with pytest.raises(CheckpointError):
        Checkpoint(ORIGIN, 1, ROOT, ["list"])  # type: ignore[arg-type]
    with pytest.raises(CheckpointError):
        Checkpoint(ORIGIN, 1, ROOT, ("",))


def test_sign_and_open() -> None:
    tree = MerkleTree.from_entries([b"a", b"b", b"c"])
    checkpoint = Checkpoint(ORIGIN, tree.size, tree.root())
    signed = sign_checkpoint(checkpoint, [LOG])
    assert signed.startswith(checkpoint.to_text().encode() + "\n— kluis.example/audit-log ".encode())
    assert open_checkpoint(signed, LOG.verifier, origin=ORIGIN) == checkpoint
    assert open_checkpoint(signed, LOG.verifier.encode(), origin=ORIGIN) == checkpoint
    assert sign_checkpoint(checkpoint, LOG) == signed


def test_open_ignores_witness_signatures_but_needs_the_log() -> None:
    checkpoint = Checkpoint(ORIGIN, 7, ROOT)
    cosigned = sign_checkpoint(checkpoint, [LOG, WITNESS])
    assert open_checkpoint(cosigned, LOG.verifier, origin=ORIGIN) == checkpoint
    witness_only = sign_checkpoint(checkpoint, [WITNESS])
    with pytest.raises(UnverifiedNoteError):
        open_checkpoint(witness_only, LOG.verifier, origin=ORIGIN)


def test_open_rejects_wrong_origin_and_tampering() -> None:
    signed = sign_checkpoint(Checkpoint(ORIGIN, 7, ROOT), [LOG])
    with pytest.raises(CheckpointError, match="expected"):
        open_checkpoint(signed, LOG.verifier, origin="kluis.example/other-log")
    with pytest.raises(InvalidSignatureError):
        open_checkpoint(signed.replace(b"\n7\n", b"\n8\n"), LOG.verifier, origin=ORIGIN)


def test_open_rejects_a_signed_note_that_is_not_a_checkpoint() -> None:
    signed = sign_note(f"{ORIGIN}\nnot a size\n{ROOT_B64}\n", [LOG])
    assert open_note(signed, [LOG.verifier])
    with pytest.raises(CheckpointError):
        open_checkpoint(signed, LOG.verifier, origin=ORIGIN)


origins = st.text(
    alphabet=st.characters(exclude_categories=("Cs",), exclude_characters=[chr(c) for c in range(32)]),
    min_size=1,
)


@given(
    origins,
    st.integers(min_value=0, max_value=MAX_TREE_SIZE),
    st.binary(min_size=32, max_size=32),
    st.lists(origins, max_size=3).map(tuple),
)
def test_round_trip(origin: str, size: int, root: bytes, extensions: tuple[str, ...]) -> None:
    checkpoint = Checkpoint(origin, size, root, extensions)
    assert parse_checkpoint(checkpoint.to_text()) == checkpoint
