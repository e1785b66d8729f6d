"""Files the server writes outside its database, written atomically: a temporary file
beside the target, flushed and fsynced, then renamed over it, then the directory fsynced."""

from __future__ import annotations

import os
from pathlib import Path


def write_atomic(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def write_private_file(path: Path, data: bytes) -> None:
    """A secret (a private key): readable by the owner only."""
    write_atomic(path, data, mode=0o600)


def write_public_file(path: Path, data: bytes) -> None:
    write_atomic(path, data, mode=0o644)
