import base64
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.note import (
    InvalidKeyError,
    InvalidSignatureError,
    MalformedNoteError,
    NoteLimitError,
    Signature,
    Signer,
    UnverifiedNoteError,
    Verifier,
    check_key_name,
    format_note,
    note_key_id,
    open_note,
    parse_note,
    sign_note,
)

VECTORS = Path(__file__).resolve().parents[2] / ".." / "shared" / "vectors"
VECTOR: dict[str, Any] = json.loads((VECTORS / "c2sp-signed-note.json").read_text(encoding="utf-8"))
SIGNED: bytes = VECTOR["signed_note"].encode("utf-8")
TEXT: str = VECTOR["text"]
PETER = Verifier.parse(VECTOR["verifier_keys"][0])
ENOCH = Verifier.parse(VECTOR["verifier_keys"][1])
PETER_SIGNER = Signer.parse(VECTOR["signer_key"])
SEED = bytes(range(32))


# --- Vectors --------------------------------------------------------------------------------


def test_key_strings_round_trip() -> None:
    assert PETER.encode() == VECTOR["verifier_keys"][0]
    assert ENOCH.encode() == VECTOR["verifier_keys"][1]
    assert PETER_SIGNER.encode() == VECTOR["signer_key"]
    assert PETER_SIGNER.verifier == PETER
    assert (PETER.name, PETER.key_id) == ("PeterNeumann", 0xC74F20A3)
    assert note_key_id(PETER.name, PETER.public_key) == 0xC74F20A3


def test_signing_reproduces_the_published_bytes() -> None:
    signed = sign_note(TEXT, [PETER_SIGNER])
    first_line_end = SIGNED.index(b"\n", len(TEXT) + 1) + 1
    assert signed == SIGNED[:first_line_end]


def test_open_with_both_verifiers() -> None:
    note = open_note(SIGNED, [PETER, ENOCH])
    assert note.text == TEXT
    assert [s.name for s in note.signatures] == ["PeterNeumann", "EnochRoot"]
    assert note.unverified == ()
    assert format_note(note.text, note.signatures) == SIGNED


def test_unknown_signers_are_ignored() -> None:
    note = open_note(SIGNED, [ENOCH])
    assert [s.name for s in note.signatures] == ["EnochRoot"]
    assert [(s.name, s.key_id) for s in note.unverified] == [("PeterNeumann", 0xC74F20A3)]


def test_no_known_signer_is_an_error() -> None:
    with pytest.raises(UnverifiedNoteError):
        open_note(SIGNED, [])
    with pytest.raises(UnverifiedNoteError):
        open_note(SIGNED, [Signer("PeterNeumann", SEED).verifier])


def test_same_id_different_name_is_unknown() -> None:
    lookalike = Verifier("PeterNeumann2", PETER.public_key)
    object.__setattr__(lookalike, "key_id", PETER.key_id)
    with pytest.raises(UnverifiedNoteError):
        open_note(SIGNED, [lookalike])


def test_known_key_with_bad_signature_rejects_the_note() -> None:
    tampered = SIGNED.replace(b"cryptography", b"cryptographi", 1)
    with pytest.raises(InvalidSignatureError, match="PeterNeumann\\+c74f20a3") as info:
        open_note(tampered, [PETER, ENOCH])
    assert (info.value.name, info.value.key_id) == ("PeterNeumann", 0xC74F20A3)
    with pytest.raises(InvalidSignatureError, match="EnochRoot"):
        open_note(tampered, [ENOCH])


def test_flipped_signature_byte_rejects_the_note() -> None:
    text, signatures = parse_note(SIGNED)
    broken = bytearray(signatures[1].signature)
    broken[10] ^= 1
    forged = format_note(text, [signatures[0], Signature("EnochRoot", ENOCH.key_id, bytes(broken))])
    assert open_note(forged, [PETER]).text == TEXT
    with pytest.raises(InvalidSignatureError):
        open_note(forged, [PETER, ENOCH])


def test_a_signer_cannot_pose_as_a_known_key() -> None:
    impostor = Signer("PeterNeumann", SEED)
    forged = format_note(TEXT, [Signature(PETER.name, PETER.key_id, impostor.sign(TEXT.encode()).signature)])
    with pytest.raises(InvalidSignatureError):
        open_note(forged, [PETER])


# --- Malformed notes --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (SIGNED.replace(b"\n\n", b"\n", 1), "blank line"),
        (TEXT.encode() + b"\n", "signature line"),
        (SIGNED[:-1], "newline"),
        (SIGNED.replace("—".encode(), b"-", 1), "em dash"),
        (SIGNED.replace(b"PeterNeumann ", b"PeterNeumann", 1), "no space"),
        (SIGNED.replace(b"PeterNeumann ", b" ", 1), "key name is empty"),
        (SIGNED.replace(b"PeterNeumann ", b"Peter+Neumann ", 1), "'\\+'"),
        (SIGNED.replace(b"x08go/", b"x08go!", 1), "base64"),
        (SIGNED.replace(b"=\n", b"\n", 1), "base64"),
        (SIGNED.replace(b"nAM=", b"nAN=", 1), "base64"),
        (SIGNED.replace(b"problem,", b"problem,\r", 1), "control character"),
        (SIGNED.replace(b"problem,", b"problem,\t", 1), "control character"),
        (SIGNED.replace(b"problem,", b"problem,\xff", 1), "UTF-8"),
        (TEXT.encode() + "\n— PeterNeumann AAAA\n".encode(), "too short"),
        (SIGNED + b"\n", "signature line"),
    ],
)
def test_malformed_notes(message: bytes, reason: str) -> None:
    with pytest.raises(MalformedNoteError, match=reason):
        open_note(message, [PETER, ENOCH])


def test_signature_count_limit() -> None:
    signers = [Signer(f"witness{i}", bytes([i]) * 32) for i in range(17)]
    many = sign_note(TEXT, [PETER_SIGNER, *signers])
    note = open_note(many, [PETER])
    assert len(note.unverified) == 17
    with pytest.raises(NoteLimitError, match="18 signatures"):
        open_note(many, [PETER], max_signatures=17)
    assert len(open_note(many, [PETER, *(s.verifier for s in signers)]).signatures) == 18


def test_size_limit() -> None:
    with pytest.raises(NoteLimitError, match="bytes"):
        open_note(SIGNED, [PETER], max_size=len(SIGNED) - 1)
    assert open_note(SIGNED, [PETER], max_size=len(SIGNED)).text == TEXT


def test_duplicate_signatures_are_listed_once() -> None:
    text, signatures = parse_note(SIGNED)
    doubled = format_note(text, [signatures[0], signatures[0], signatures[1], signatures[1]])
    note = open_note(doubled, [PETER])
    assert len(note.signatures) == 1
    assert len(note.unverified) == 1


# --- Signing ---------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["no newline", "", "tab\there\n", "cr\r\n", "lone \ud800\n"])
def test_sign_refuses_bad_text(text: str) -> None:
    with pytest.raises(MalformedNoteError):
        sign_note(text, [PETER_SIGNER])


def test_sign_needs_a_signer() -> None:
    with pytest.raises(MalformedNoteError, match="at least one"):
        sign_note(TEXT, [])


@pytest.mark.parametrize("text", ["\n", "a\n\nb\n", "ends blank\n\n", "— looks like a signature x\n\n"])
def test_texts_with_blank_lines_round_trip(text: str) -> None:
    signer = Signer("example.com/log", SEED)
    assert open_note(sign_note(text, [signer]), [signer.verifier]).text == text


note_texts = st.text(
    alphabet=st.characters(
        exclude_categories=("Cs",), exclude_characters=[chr(c) for c in range(32) if c != 10]
    )
).map(lambda text: text + "\n")


@given(note_texts)
def test_sign_open_round_trip(text: str) -> None:
    signer = Signer("kluis.example/audit", SEED)
    note = open_note(sign_note(text, [signer]), [signer.verifier])
    assert note.text == text
    assert note.signatures[0].key_id == signer.key_id


# --- Keys ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["", "a+b", "a b", "a\u00a0b", "a\u2003b", "tab\t", "nl\n", "\x00"])
def test_bad_key_names(name: str) -> None:
    with pytest.raises(InvalidKeyError):
        check_key_name(name)
    with pytest.raises(InvalidKeyError):
        Signer(name, SEED)


def test_good_key_names() -> None:
    for name in ["example.com/log42", "PeterNeumann", "ünïcødé", "a"]:
        check_key_name(name)


def _key_b64(type_byte: int, key: bytes) -> str:
    return base64.b64encode(bytes([type_byte]) + key).decode()


@pytest.mark.parametrize(
    "key",
    [
        "PeterNeumann+c74f20a4+" + _key_b64(1, PETER.public_key),
        "PeterNeumann+C74F20A3+" + _key_b64(1, PETER.public_key),
        "PeterNeumann+c74f20a+" + _key_b64(1, PETER.public_key),
        "PeterNeumann+c74f20a3+" + _key_b64(2, PETER.public_key),
        "PeterNeumann+c74f20a3+" + _key_b64(1, PETER.public_key[:31]),
        "PeterNeumann+c74f20a3+" + _key_b64(1, PETER.public_key) + "=",
        "PeterNeumann+c74f20a3+" + _key_b64(1, PETER.public_key) + "\n",
        "PeterNeumann+c74f20a3",
        "Peter Neumann+c74f20a3+" + _key_b64(1, PETER.public_key),
    ],
)
def test_bad_verifier_keys(key: str) -> None:
    with pytest.raises(InvalidKeyError):
        Verifier.parse(key)


def test_bad_signer_keys() -> None:
    with pytest.raises(InvalidKeyError, match="PRIVATE"):
        Signer.parse(VECTOR["signer_key"].removeprefix("PRIVATE+KEY+"))
    with pytest.raises(InvalidKeyError, match="does not match"):
        Signer.parse(VECTOR["signer_key"].replace("c74f20a3", "c74f20a4"))
    with pytest.raises(InvalidKeyError, match="does not match"):
        Signer.parse(VECTOR["signer_key"].replace("PeterNeumann", "PeterNeuman"))


def test_signer_repr_hides_the_private_key() -> None:
    signer = Signer.parse(VECTOR["signer_key"])
    assert signer.private_key.hex() not in repr(signer)
    assert str(list(signer.private_key)) not in repr(signer)
    assert "PeterNeumann" in repr(signer)


def test_generated_signer_works() -> None:
    signer = Signer.generate("kluis.example/log")
    assert Signer.parse(signer.encode()) == signer
    assert Verifier.parse(signer.verifier.encode()) == signer.verifier
    assert open_note(sign_note("hi\n", [signer]), [signer.verifier]).text == "hi\n"


def test_conflicting_verifiers_are_refused() -> None:
    other = Verifier(PETER.name, Signer("x", SEED).public_key)
    object.__setattr__(other, "key_id", PETER.key_id)
    with pytest.raises(InvalidKeyError, match="share"):
        open_note(SIGNED, [PETER, other])
    assert open_note(SIGNED, [PETER, PETER]).text == TEXT
