"""Fatal crashes (segfaults, aborts) that Python cannot catch: :mod:`faulthandler` writes
the stacks of every thread to ``crash/faults.log`` in the profile.  The next start finds
a non-empty file, moves it into ``crash/archive`` and reports it once."""

from __future__ import annotations

import datetime as dt
import faulthandler
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from console.files import ensure_private_directory, fsync_directory

CRASH_DIRECTORY = "crash"
FAULTS_FILE = "faults.log"
ARCHIVE_DIRECTORY = "archive"
SHOWN_CHARACTERS = 64 * 1024


@dataclass(frozen=True)
class PreviousCrash:
    text: str  # stack frames only: faulthandler writes no values
    archived_to: Path


class FaultLog:
    def __init__(self, profile_dir: Path) -> None:
        self.directory = profile_dir / CRASH_DIRECTORY
        self.path = self.directory / FAULTS_FILE
        self._handle: TextIO | None = None

    def take_previous(self) -> PreviousCrash | None:
        """The previous run's crash log, if it wrote one, moved into the archive."""
        try:
            if self.path.stat().st_size == 0:
                return None
        except FileNotFoundError:
            return None
        text = self.path.read_text(encoding="utf-8", errors="replace")[:SHOWN_CHARACTERS]
        archive = self.directory / ARCHIVE_DIRECTORY
        ensure_private_directory(archive)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        target = archive / f"faults-{stamp}.log"
        self.path.replace(target)
        fsync_directory(self.directory)
        return PreviousCrash(text=text, archived_to=target)

    def enable(self) -> None:
        ensure_private_directory(self.directory)
        self._handle = self.path.open("w", encoding="utf-8")
        faulthandler.enable(file=self._handle, all_threads=True)

    def disable(self) -> None:
        """After a clean run the file is empty, and is removed."""
        if self._handle is None:
            return
        faulthandler.disable()
        self._handle.close()
        self._handle = None
        if self.path.stat().st_size == 0:
            self.path.unlink()
