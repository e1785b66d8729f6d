"""C2SP transparency-log checkpoints (https://c2sp.org/tlog-checkpoint).

A checkpoint is the text of a signed note::

    <origin>
    <tree size, decimal, no leading zeros>
    <base64 RFC 6962 root hash>
    [extension lines...]

Every line ends with a newline.  Formatting and parsing are strict and inverse to each other:
one checkpoint has exactly one text.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from shared.merkle import HASH_SIZE
from shared.note import (
    DEFAULT_MAX_NOTE_SIZE,
    Signer,
    Verifier,
    open_note,
    sign_note,
)

__all__ = [
    "MAX_TREE_SIZE",
    "Checkpoint",
    "CheckpointError",
    "open_checkpoint",
    "parse_checkpoint",
    "sign_checkpoint",
]

MAX_TREE_SIZE: Final = 2**64 - 1
"""Tree sizes are unsigned 64-bit everywhere else in the ecosystem; refuse larger ones."""

_DECIMAL = re.compile(r"(?:0|[1-9][0-9]{0,19})\Z")
_CONTROL = re.compile("[\x00-\x1f]")


class CheckpointError(ValueError):
    """Checkpoint text is malformed, or a checkpoint field is invalid."""


def _check_line(value: str, what: str) -> None:
    if not value:
        raise CheckpointError(f"{what} must not be empty")
    if _CONTROL.search(value):
        raise CheckpointError(f"{what} must not contain newlines or control characters")


@dataclass(frozen=True)
class Checkpoint:
    """A log's tree head: who (origin), how many leaves (size), and the root hash."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_line(self.origin, "origin")
        if (
            not isinstance(self.size, int)
            or isinstance(self.size, bool)
            or not 0 <= self.size <= MAX_TREE_SIZE
        ):
            raise CheckpointError(f"tree size must be an integer in 0..2**64-1, got {self.size!r}")
        if not isinstance(self.root_hash, bytes) or len(self.root_hash) != HASH_SIZE:
            raise CheckpointError(f"root hash must be {HASH_SIZE} bytes")
        if not isinstance(self.extensions, tuple):
            raise CheckpointError("extensions must be a tuple of strings")
        for number, line in enumerate(self.extensions, 1):
            _check_line(line, f"extension line {number}")

    def to_text(self) -> str:
        """The checkpoint's note text, ending in a newline."""
        lines = [
            self.origin,
            str(self.size),
            base64.b64encode(self.root_hash).decode("ascii"),
            *self.extensions,
        ]
        return "\n".join(lines) + "\n"


def parse_checkpoint(text: str) -> Checkpoint:
    """Parse checkpoint note text; refuses anything :meth:`Checkpoint.to_text` would not write."""
    if not text.endswith("\n"):
        raise CheckpointError("checkpoint text must end with a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise CheckpointError(f"checkpoint needs at least 3 lines, got {len(lines)}")
    origin, size_text, root_text, *extensions = lines
    if not _DECIMAL.match(size_text):
        raise CheckpointError(f"tree size {size_text!r} is not a decimal number without leading zeros")
    try:
        root_hash = base64.b64decode(root_text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise CheckpointError("root hash is not base64") from exc
    if base64.b64encode(root_hash).decode("ascii") != root_text:
        raise CheckpointError("root hash is not canonical base64")
    return Checkpoint(origin, int(size_text), root_hash, tuple(extensions))


def sign_checkpoint(checkpoint: Checkpoint, signers: Signer | Iterable[Signer]) -> bytes:
    """The checkpoint as a signed note.  The log's own key name should equal the origin."""
    return sign_note(checkpoint.to_text(), [signers] if isinstance(signers, Signer) else list(signers))


def open_checkpoint(
    message: bytes,
    verifier: Verifier | str,
    *,
    origin: str,
    max_size: int = DEFAULT_MAX_NOTE_SIZE,
) -> Checkpoint:
    """Verify a signed checkpoint with the log's *verifier* (or verifier key string) and parse it.

    *origin* is the origin the caller expects from this log; it is required because a key
    shared by two logs would otherwise let one log's checkpoint pass for the other's.  Other
    signatures (witness cosignatures, say) are ignored.  Raises :class:`shared.note.NoteError`
    subclasses for signature problems and :class:`CheckpointError` for content problems.
    """
    if isinstance(verifier, str):
        verifier = Verifier.parse(verifier)
    note = open_note(message, [verifier], max_size=max_size)
    checkpoint = parse_checkpoint(note.text)
    if checkpoint.origin != origin:
        raise CheckpointError(f"checkpoint origin {checkpoint.origin!r} is not the expected {origin!r}")
    return checkpoint
