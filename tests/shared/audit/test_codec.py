"""The audit formats' base64url and time spellings: one accepted spelling for each value."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.audit.codec import FormatError, b64url_decode, b64url_encode

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@given(st.binary(max_size=600))
def test_bytes_come_back_from_their_spelling(data):
    assert b64url_decode(b64url_encode(data), "value") == data


@given(st.text(alphabet=ALPHABET, max_size=40))
def test_exactly_the_canonical_spellings_are_accepted(text):
    """Checked against the definition: a spelling is canonical when encoding what it
    decodes to gives it back."""
    if len(text) % 4 == 1:
        with pytest.raises(FormatError, match="without padding"):
            b64url_decode(text, "value")
        return
    decoded = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if b64url_encode(decoded) == text:
        assert b64url_decode(text, "value") == decoded
    else:
        with pytest.raises(FormatError, match="canonical"):
            b64url_decode(text, "value")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("AQ==", "without padding"),  # padded
        ("AQ+/", "without padding"),  # the standard alphabet's characters
        ("A Q", "without padding"),
        ("AR", "canonical"),  # 0x01 with a trailing bit set
        ("AQB", "canonical"),  # 0x01 0x00 is AQA
        ("AQJ", "canonical"),  # 0x01 0x02 is AQI
    ],
)
def test_refusals_say_what_is_wrong(text, message):
    with pytest.raises(FormatError, match=message) as refused:
        b64url_decode(text, "signature")
    assert refused.value.where == "signature"


def test_a_size_is_held_to():
    with pytest.raises(FormatError, match="must encode 64 bytes, not 63"):
        b64url_decode(b64url_encode(bytes(63)), "signature", 64)
    assert b64url_decode(b64url_encode(bytes(64)), "signature", 64) == bytes(64)


def test_only_text_is_read():
    with pytest.raises(FormatError):
        b64url_decode(b"AQ", "value")  # type: ignore[arg-type]
