"""Canonical JSON bytes for signing and hashing.

The output follows RFC 8785 (JSON Canonicalization Scheme) for the subset of JSON that Kluis
allows in signed payloads:

* objects with string keys, sorted by their UTF-16 code units, as RFC 8785 section 3.2.3 says;
* arrays (``list`` or ``tuple``);
* strings, which must be valid Unicode (no lone surrogates) and are escaped as RFC 8785
  section 3.2.2.2 says: ``\\"``, ``\\\\``, the short forms ``\\b \\t \\n \\f \\r``, ``\\u00xx``
  (lower-case hex) for the remaining control characters, everything else as literal UTF-8;
* integers in the IEEE 754 exact range ``-(2**53 - 1) .. 2**53 - 1``;
* ``true``, ``false`` and ``null``.

Floats are refused outright: money is integer cents and identifiers are strings, so a float
in a signed document is always a bug.  Errors name the JSON path of the offending value, for
example ``$.items[3].amount``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import TypeAlias

__all__ = [
    "MAX_DEPTH",
    "MAX_SAFE_INTEGER",
    "CanonicalInput",
    "CanonicalJSONError",
    "JSONValue",
    "dumps_canonical",
    "loads_canonical",
]

MAX_SAFE_INTEGER = 2**53 - 1
"""The largest integer an IEEE 754 double (and so every JSON parser) represents exactly."""

MAX_DEPTH = 64
"""Deepest nesting of arrays and objects accepted; protects against stack exhaustion."""

JSONValue: TypeAlias = dict[str, "JSONValue"] | list["JSONValue"] | str | int | bool | None
"""What :func:`loads_canonical` returns."""

CanonicalInput: TypeAlias = (
    Mapping[str, "CanonicalInput"] | Sequence["CanonicalInput"] | str | int | bool | None
)
"""What :func:`dumps_canonical` accepts.  The declared type is covariant so that typed callers
need no casts; at run time only ``list`` and ``tuple`` are accepted as arrays."""


class CanonicalJSONError(ValueError):
    """A value cannot be canonicalised, or bytes are not canonical JSON."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


_SHORT_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}
_NEEDS_ESCAPE = re.compile('["\\\\\x00-\x1f]')
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    return _SHORT_ESCAPES.get(char) or f"\\u{ord(char):04x}"


def _quote(text: str, path: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise CanonicalJSONError(
            path, "string contains a lone surrogate, which is not valid Unicode"
        ) from exc
    return '"' + _NEEDS_ESCAPE.sub(_escape_char, text) + '"'


def _utf16_order(key: str) -> bytes:
    # Big-endian UTF-16 compares byte-wise exactly as the code units compare.
    return key.encode("utf-16-be", "surrogatepass")


def _child_path(path: str, key: str) -> str:
    if _IDENTIFIER.match(key):
        return f"{path}.{key}"
    return f"{path}[{json.dumps(key, ensure_ascii=False)}]"


def _encode(value: object, path: str, depth: int, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(_quote(value, path))
    elif isinstance(value, int):
        number = int(value)
        if not -MAX_SAFE_INTEGER <= number <= MAX_SAFE_INTEGER:
            raise CanonicalJSONError(path, f"integer {number} is outside ±(2**53 - 1)")
        out.append(str(number))
    elif isinstance(value, float):
        raise CanonicalJSONError(
            path, f"floats are not allowed (got {value!r}); use integer cents or a string"
        )
    elif isinstance(value, Mapping):
        if depth >= MAX_DEPTH:
            raise CanonicalJSONError(path, f"nested deeper than {MAX_DEPTH} levels")
        for key in value:
            if not isinstance(key, str):
                raise CanonicalJSONError(path, f"object key {key!r} is {type(key).__name__}, not str")
        out.append("{")
        for position, key in enumerate(sorted(value, key=_utf16_order)):
            if position:
                out.append(",")
            child = _child_path(path, key)
            out.append(_quote(key, child))
            out.append(":")
            _encode(value[key], child, depth + 1, out)
        out.append("}")
    elif isinstance(value, list | tuple):
        if depth >= MAX_DEPTH:
            raise CanonicalJSONError(path, f"nested deeper than {MAX_DEPTH} levels")
        out.append("[")
        for position, item in enumerate(value):
            if position:
                out.append(",")
            _encode(item, f"{path}[{position}]", depth + 1, out)
        out.append("]")
    else:
        raise CanonicalJSONError(path, f"values of type {type(value).__name__} are not allowed")


def dumps_canonical(value: CanonicalInput) -> bytes:
    """Return the canonical UTF-8 JSON bytes of *value*.

    Raises :class:`CanonicalJSONError` naming the path of the first value that is not allowed.
    """
    out: list[str] = []
    _encode(value, "$", 0, out)
    return "".join(out).encode("utf-8")


def _reject_float(text: str) -> object:
    raise CanonicalJSONError("$", f"number {text} is not an integer")


def _reject_constant(text: str) -> object:
    raise CanonicalJSONError("$", f"{text} is not JSON")


def _object_without_duplicates(pairs: list[tuple[str, JSONValue]]) -> dict[str, JSONValue]:
    result: dict[str, JSONValue] = {}
    for key, item in pairs:
        if key in result:
            raise CanonicalJSONError("$", f"duplicate object key {key!r}")
        result[key] = item
    return result


def loads_canonical(data: bytes) -> JSONValue:
    """Parse *data* and return its value, insisting that *data* is exactly canonical.

    Anything :func:`dumps_canonical` would not have produced is refused: invalid UTF-8, a byte
    order mark, whitespace, keys out of order or repeated, escapes that are not the canonical
    ones, non-integer numbers, ``-0`` and integers out of range.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CanonicalJSONError("$", f"not valid UTF-8 at byte {exc.start}") from exc
    try:
        value: JSONValue = json.loads(
            text,
            object_pairs_hook=_object_without_duplicates,
            parse_float=_reject_float,
            parse_constant=_reject_constant,
        )
    except json.JSONDecodeError as exc:
        raise CanonicalJSONError("$", f"not JSON: {exc.msg} at offset {exc.pos}") from exc
    except RecursionError as exc:
        raise CanonicalJSONError("$", "nested too deeply to parse") from exc
    except ValueError as exc:
        if isinstance(exc, CanonicalJSONError):
            raise
        raise CanonicalJSONError("$", f"not acceptable JSON: {exc}") from exc
    if dumps_canonical(value) != data:
        raise CanonicalJSONError("$", "JSON is valid but not in canonical form")
    return value
