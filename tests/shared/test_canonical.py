import json
from collections import OrderedDict
from enum import IntEnum
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.canonical import (
    MAX_DEPTH,
    MAX_SAFE_INTEGER,
    CanonicalJSONError,
    dumps_canonical,
    loads_canonical,
)

safe_ints = st.integers(min_value=-MAX_SAFE_INTEGER, max_value=MAX_SAFE_INTEGER)
json_values = st.recursive(
    st.none() | st.booleans() | safe_ints | st.text(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(), children, max_size=5),
    max_leaves=25,
)
bmp_text = st.text(alphabet=st.characters(max_codepoint=0xFFFF, exclude_categories=("Cs",)))
bmp_values = st.recursive(
    st.none() | st.booleans() | safe_ints | bmp_text,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(bmp_text, children, max_size=5),
    max_leaves=25,
)


def test_compact_sorted_output() -> None:
    value = {"b": [1, True, None], "a": {"y": "x", "x": -5}, "": 0}
    assert dumps_canonical(value) == b'{"":0,"a":{"x":-5,"y":"x"},"b":[1,true,null]}'


def test_tuples_are_arrays_and_ordered_dicts_are_sorted() -> None:
    assert dumps_canonical(OrderedDict([("z", (1, 2)), ("a", ())])) == b'{"a":[],"z":[1,2]}'


def test_string_escapes_follow_jcs() -> None:
    text = "€$\x0f\nA'B\"\\/\b\t\f\r\x00\x1f\x7f\u2028"
    expected = '"€$\\u000f\\nA\'B\\"\\\\/\\b\\t\\f\\r\\u0000\\u001f\x7f\u2028"'.encode()
    assert dumps_canonical(text) == expected


def test_keys_sort_by_utf16_code_units_not_code_points() -> None:
    # U+1F600 is D83D DE00 in UTF-16, so it sorts before U+FB01 even though its code point is larger.
    value = {"\ufb01": 1, "\U0001f600": 2, "a": 3}
    assert dumps_canonical(value) == '{"a":3,"\U0001f600":2,"\ufb01":1}'.encode()


def test_integer_limits() -> None:
    assert dumps_canonical([MAX_SAFE_INTEGER, -MAX_SAFE_INTEGER]) == b"[9007199254740991,-9007199254740991]"
    with pytest.raises(CanonicalJSONError, match=r"^\$\[0\]: integer 9007199254740992"):
        dumps_canonical([MAX_SAFE_INTEGER + 1])
    with pytest.raises(CanonicalJSONError, match=r"^\$: integer"):
        dumps_canonical(-(2**53))


def test_int_subclasses_are_written_as_plain_numbers() -> None:
    class Level(IntEnum):
        HIGH = 3

    assert dumps_canonical({"level": Level.HIGH}) == b'{"level":3}'


@pytest.mark.parametrize(
    ("value", "path", "reason"),
    [
        ({"items": [{}, {}, {}, {"amount": 1.5}]}, "$.items[3].amount", "floats are not allowed"),
        ({"x": float("nan")}, "$.x", "floats are not allowed"),
        ({"x": float("inf")}, "$.x", "floats are not allowed"),
        ([b"raw"], "$[0]", "type bytes"),
        ({"a": {1: "x"}}, "$.a", "object key 1 is int"),
        ({"odd key": {"x": set()}}, '$["odd key"].x', "type set"),
        ({"s": "\ud800"}, "$.s", "lone surrogate"),
        ({"\udc00": 1}, '$["\udc00"]', "lone surrogate"),
    ],
)
def test_rejections_name_the_path(value: Any, path: str, reason: str) -> None:
    with pytest.raises(CanonicalJSONError) as info:
        dumps_canonical(value)
    assert info.value.path == path
    assert reason in info.value.reason
    assert str(info.value).startswith(path + ": ")


def test_depth_limit() -> None:
    value: Any = []
    for _ in range(MAX_DEPTH):
        value = [value]
    with pytest.raises(CanonicalJSONError, match="nested deeper"):
        dumps_canonical(value)
    with pytest.raises(CanonicalJSONError):
        loads_canonical(b"[" * 100_000 + b"]" * 100_000)


def test_loads_accepts_canonical_bytes() -> None:
    data = '{"a":[1,-2,"\\u001f\U0001f600"],"b":null,"c":false}'.encode()
    assert loads_canonical(data) == {"a": [1, -2, "\x1f\U0001f600"], "b": None, "c": False}


@pytest.mark.parametrize(
    "data",
    [
        b'{"a": 1}',
        b'{"a":1}\n',
        b' {"a":1}',
        b'{"b":1,"a":2}',
        b'{"a":1,"a":1}',
        b"1.0",
        b"1e3",
        b"-0",
        b"NaN",
        b"Infinity",
        b"9007199254740992",
        b'"\\u0041"',
        b'"\\u001F"',
        b'"\\/"',
        b'"\\ud800"',
        b"\xef\xbb\xbf{}",
        b'"\xff"',
        b"",
        b"[1,]",
        b"{'a':1}",
    ],
)
def test_loads_rejects_non_canonical(data: bytes) -> None:
    with pytest.raises(CanonicalJSONError):
        loads_canonical(data)


@given(json_values)
def test_round_trip(value: Any) -> None:
    data = dumps_canonical(value)
    assert loads_canonical(data) == value
    assert json.loads(data) == value


@given(bmp_values)
def test_matches_sorted_compact_json_for_bmp_keys(value: Any) -> None:
    # For keys without astral characters, UTF-16 order and code point order agree, so the
    # standard library's sorted compact output is an independent oracle.
    expected = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert dumps_canonical(value) == expected.encode("utf-8")


@given(st.dictionaries(st.text(), safe_ints, max_size=10))
def test_key_order(value: dict[str, int]) -> None:
    pairs = json.loads(dumps_canonical(value), object_pairs_hook=list)
    keys = [key for key, _ in pairs]
    assert keys == sorted(value, key=lambda key: [ord(unit) for unit in _utf16_units(key)])


def _utf16_units(text: str) -> str:
    encoded = text.encode("utf-16-be")
    return "".join(chr(int.from_bytes(encoded[i : i + 2], "big")) for i in range(0, len(encoded), 2))


@given(st.text())
def test_unicode_strings_survive_as_utf8(text: str) -> None:
    data = dumps_canonical(text)
    assert loads_canonical(data) == text
    assert all(byte >= 0x20 for byte in data)
