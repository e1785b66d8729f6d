"""Small files the console writes, atomically: a temporary file beside the target, flushed
and fsynced, renamed over the target, then the directory fsynced, so that a crash or power
cut leaves either the old or the new content and never a torn file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``; the file is readable by its owner only."""
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)


def ensure_private_directory(directory: Path) -> None:
    """Create ``directory`` (and parents) if missing; a new one is private to its owner."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
