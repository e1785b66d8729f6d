"""C2SP signed notes (https://c2sp.org/signed-note) with Ed25519 keys.

A signed note is UTF-8 text ending in a newline, a blank line, then one or more lines
``— <key name> <base64(key ID (4 bytes, big-endian) || signature)>``, where ``—`` is U+2014.
The signature covers the text including its final newline.

Key strings are the ones the Go ``golang.org/x/mod/sumdb/note`` package reads and writes:

* verifier: ``<name>+<key ID as 8 hex digits>+<base64(0x01 || 32-byte public key)>``
* signer:   ``PRIVATE+KEY+<name>+<key ID as 8 hex digits>+<base64(0x01 || 32-byte seed)>``

with ``key ID = SHA-256(name || 0x0A || 0x01 || public key)[:4]``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final

from shared import crypto

__all__ = [
    "DEFAULT_MAX_NOTE_SIZE",
    "DEFAULT_MAX_SIGNATURES",
    "SIGNATURE_TYPE_ED25519",
    "InvalidKeyError",
    "InvalidSignatureError",
    "MalformedNoteError",
    "Note",
    "NoteError",
    "NoteLimitError",
    "Signature",
    "Signer",
    "UnverifiedNoteError",
    "Verifier",
    "check_key_name",
    "check_note_text",
    "format_note",
    "note_key_id",
    "open_note",
    "parse_note",
    "sign_note",
]

SIGNATURE_TYPE_ED25519: Final = 0x01
DEFAULT_MAX_SIGNATURES: Final = 100
"""The spec requires accepting at least 16; 100 leaves room for many witnesses."""
DEFAULT_MAX_NOTE_SIZE: Final = 1 << 20

_SIGNATURE_PREFIX: Final = "— "
_PRIVATE_KEY_PREFIX: Final = "PRIVATE+KEY+"
_KEY_ID_HEX = re.compile(r"[0-9a-f]{8}\Z")
_FORBIDDEN_CONTROL = re.compile("[\x00-\x09\x0b-\x1f]")


class NoteError(Exception):
    """Base class for everything this module refuses."""


class MalformedNoteError(NoteError):
    """The bytes are not a well-formed signed note."""


class NoteLimitError(MalformedNoteError):
    """The note is larger, or has more signatures, than the caller allows."""


class InvalidKeyError(NoteError):
    """A key name or key string is malformed, or its key ID does not match the key."""


class InvalidSignatureError(NoteError):
    """A signature by a known key (name and key ID both match) does not verify."""

    def __init__(self, name: str, key_id: int) -> None:
        super().__init__(f"signature by known key {name}+{key_id:08x} does not verify")
        self.name = name
        self.key_id = key_id


class UnverifiedNoteError(NoteError):
    """No signature on the note is by a known key."""


def _b64decode_strict(text: str) -> bytes:
    """Standard base64 with padding, refusing anything that would not re-encode identically."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise ValueError("not canonical base64") from exc
    if base64.b64encode(raw).decode("ascii") != text:
        raise ValueError("not canonical base64")
    return raw


def check_key_name(name: str) -> None:
    """Raise :class:`InvalidKeyError` unless *name* is non-empty and has no spaces, plus
    signs or control characters."""
    if not name:
        raise InvalidKeyError("key name is empty")
    if "+" in name:
        raise InvalidKeyError(f"key name {name!r} contains '+'")
    if any(char.isspace() or ord(char) < 0x20 for char in name):
        raise InvalidKeyError(f"key name {name!r} contains a space or control character")


def check_note_text(text: str) -> None:
    """Raise :class:`MalformedNoteError` unless *text* can be the text of a signed note."""
    if not text.endswith("\n"):
        raise MalformedNoteError("note text must end with a newline")
    if _FORBIDDEN_CONTROL.search(text):
        raise MalformedNoteError("note text contains a control character other than newline")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise MalformedNoteError("note text is not valid Unicode") from exc


def note_key_id(name: str, public_key: bytes) -> int:
    """The 32-bit key ID of an Ed25519 note key."""
    digest = hashlib.sha256(
        name.encode("utf-8") + b"\n" + bytes([SIGNATURE_TYPE_ED25519]) + public_key
    ).digest()
    return int.from_bytes(digest[:4], "big")


def _split_key(parts: list[str], what: str) -> tuple[str, int, bytes]:
    # Names cannot contain "+", but base64 can: the caller splits at the first two only.
    if len(parts) != 3:
        raise InvalidKeyError(f"{what} key must be name+keyid+key")
    name, id_hex, key_b64 = parts
    check_key_name(name)
    if not _KEY_ID_HEX.match(id_hex):
        raise InvalidKeyError(f"{what} key ID {id_hex!r} is not 8 lower-case hex digits")
    try:
        key = _b64decode_strict(key_b64)
    except ValueError as exc:
        raise InvalidKeyError(f"{what} key is not canonical base64") from exc
    if len(key) != 1 + crypto.ED25519_KEY_SIZE or key[0] != SIGNATURE_TYPE_ED25519:
        raise InvalidKeyError(f"{what} key is not an Ed25519 (type 0x01) key")
    return name, int(id_hex, 16), key[1:]


@dataclass(frozen=True)
class Verifier:
    """A named Ed25519 public key that can check note signatures."""

    name: str
    public_key: bytes
    key_id: int = field(init=False)

    def __post_init__(self) -> None:
        check_key_name(self.name)
        if len(self.public_key) != crypto.ED25519_KEY_SIZE:
            raise InvalidKeyError("Ed25519 public key must be 32 bytes")
        object.__setattr__(self, "key_id", note_key_id(self.name, self.public_key))

    @classmethod
    def parse(cls, key: str) -> Verifier:
        """Read a verifier key string; the key ID in it must match the name and key."""
        name, key_id, public_key = _split_key(key.split("+", 2), "verifier")
        verifier = cls(name, public_key)
        if verifier.key_id != key_id:
            raise InvalidKeyError(f"verifier key ID {key_id:08x} does not match the key")
        return verifier

    def encode(self) -> str:
        """The verifier key string."""
        encoded = base64.b64encode(bytes([SIGNATURE_TYPE_ED25519]) + self.public_key).decode("ascii")
        return f"{self.name}+{self.key_id:08x}+{encoded}"

    def verify(self, text: bytes, signature: bytes) -> bool:
        return crypto.verify(self.public_key, text, signature)


@dataclass(frozen=True)
class Signer:
    """A named Ed25519 private key that signs notes.  Its ``repr`` hides the key."""

    name: str
    private_key: bytes = field(repr=False)
    public_key: bytes = field(init=False, repr=False)
    key_id: int = field(init=False)

    def __post_init__(self) -> None:
        check_key_name(self.name)
        if len(self.private_key) != crypto.ED25519_KEY_SIZE:
            raise InvalidKeyError("Ed25519 private key must be 32 bytes")
        public_key = crypto.public_key_to_raw(crypto.private_key_from_raw(self.private_key))
        object.__setattr__(self, "public_key", public_key)
        object.__setattr__(self, "key_id", note_key_id(self.name, public_key))

    @classmethod
    def generate(cls, name: str) -> Signer:
        return cls(name, crypto.private_key_to_raw(crypto.generate_private_key()))

    @classmethod
    def parse(cls, key: str) -> Signer:
        """Read a signer key string; the key ID in it must match the name and key."""
        if not key.startswith(_PRIVATE_KEY_PREFIX):
            raise InvalidKeyError("signer key must start with PRIVATE+KEY+")
        name, key_id, private_key = _split_key(key[len(_PRIVATE_KEY_PREFIX) :].split("+", 2), "signer")
        signer = cls(name, private_key)
        if signer.key_id != key_id:
            raise InvalidKeyError(f"signer key ID {key_id:08x} does not match the key")
        return signer

    def encode(self) -> str:
        """The signer key string (secret!)."""
        encoded = base64.b64encode(bytes([SIGNATURE_TYPE_ED25519]) + self.private_key).decode("ascii")
        return f"{_PRIVATE_KEY_PREFIX}{self.name}+{self.key_id:08x}+{encoded}"

    @property
    def verifier(self) -> Verifier:
        return Verifier(self.name, self.public_key)

    def sign(self, text: bytes) -> Signature:
        return Signature(self.name, self.key_id, crypto.sign(self.private_key, text))


@dataclass(frozen=True)
class Signature:
    """One signature line: who signed (name and key ID) and the raw signature bytes."""

    name: str
    key_id: int
    signature: bytes

    def line(self) -> str:
        payload = self.key_id.to_bytes(4, "big") + self.signature
        return f"{_SIGNATURE_PREFIX}{self.name} {base64.b64encode(payload).decode('ascii')}\n"


@dataclass(frozen=True)
class Note:
    """An opened note: its text, the signatures that verified, and those by unknown keys."""

    text: str
    signatures: tuple[Signature, ...]
    unverified: tuple[Signature, ...] = ()


def format_note(text: str, signatures: Iterable[Signature]) -> bytes:
    """Serialise *text* and signature lines; at least one signature is required."""
    check_note_text(text)
    lines = "".join(signature.line() for signature in signatures)
    if not lines:
        raise MalformedNoteError("a signed note needs at least one signature")
    return (text + "\n" + lines).encode("utf-8")


def sign_note(text: str, signers: Sequence[Signer]) -> bytes:
    """Sign *text* with each signer, in order, and return the signed note bytes."""
    check_note_text(text)
    message = text.encode("utf-8")
    return format_note(text, [signer.sign(message) for signer in signers])


def parse_note(
    message: bytes,
    *,
    max_signatures: int = DEFAULT_MAX_SIGNATURES,
    max_size: int = DEFAULT_MAX_NOTE_SIZE,
) -> tuple[str, list[Signature]]:
    """Split a signed note into its text and signatures, checking form only, not signatures."""
    if len(message) > max_size:
        raise NoteLimitError(f"note is {len(message)} bytes, more than the limit of {max_size}")
    try:
        decoded = message.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedNoteError(f"note is not valid UTF-8 at byte {exc.start}") from exc
    if _FORBIDDEN_CONTROL.search(decoded):
        raise MalformedNoteError("note contains a control character other than newline")
    split = decoded.rfind("\n\n")
    if split < 0:
        raise MalformedNoteError("note has no blank line before its signatures")
    text, block = decoded[: split + 1], decoded[split + 2 :]
    if not block.endswith("\n"):
        raise MalformedNoteError("note must end with a signature line and a newline")
    lines = block[:-1].split("\n")
    if len(lines) > max_signatures:
        raise NoteLimitError(f"note has {len(lines)} signatures, more than the limit of {max_signatures}")
    return text, [_parse_signature_line(number, line) for number, line in enumerate(lines, 1)]


def _parse_signature_line(number: int, line: str) -> Signature:
    if not line.startswith(_SIGNATURE_PREFIX):
        raise MalformedNoteError(f"signature line {number} does not start with an em dash and a space")
    name, space, encoded = line[len(_SIGNATURE_PREFIX) :].partition(" ")
    if not space:
        raise MalformedNoteError(f"signature line {number} has no space between key name and signature")
    try:
        check_key_name(name)
        payload = _b64decode_strict(encoded)
    except (InvalidKeyError, ValueError) as exc:
        raise MalformedNoteError(f"signature line {number} is malformed: {exc}") from exc
    if len(payload) < 5:
        raise MalformedNoteError(f"signature line {number} is too short")
    return Signature(name, int.from_bytes(payload[:4], "big"), payload[4:])


def open_note(
    message: bytes,
    verifiers: Iterable[Verifier],
    *,
    max_signatures: int = DEFAULT_MAX_SIGNATURES,
    max_size: int = DEFAULT_MAX_NOTE_SIZE,
) -> Note:
    """Parse *message* and verify it against *verifiers*.

    Signatures whose name and key ID do not both match a verifier are ignored (kept in
    :attr:`Note.unverified`).  A matching signature that fails raises
    :class:`InvalidSignatureError`; no matching signature at all raises
    :class:`UnverifiedNoteError`.
    """
    known: dict[tuple[str, int], Verifier] = {}
    for verifier in verifiers:
        previous = known.setdefault((verifier.name, verifier.key_id), verifier)
        if previous != verifier:
            raise InvalidKeyError(f"two different verifiers share {verifier.name}+{verifier.key_id:08x}")
    text, signatures = parse_note(message, max_signatures=max_signatures, max_size=max_size)
    signed = text.encode("utf-8")
    verified: dict[tuple[str, int], Signature] = {}
    unverified: dict[Signature, None] = {}
    for signature in signatures:
        signer_key = known.get((signature.name, signature.key_id))
        if signer_key is None:
            unverified[signature] = None
        elif signer_key.verify(signed, signature.signature):
            verified.setdefault((signature.name, signature.key_id), signature)
        else:
            raise InvalidSignatureError(signature.name, signature.key_id)
    if not verified:
        raise UnverifiedNoteError("note has no valid signature from a known key")
    return Note(text, tuple(verified.values()), tuple(unverified))
