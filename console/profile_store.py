"""The running console's profile file: changes are written in the order they were made,
off the GUI thread."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from pathlib import Path

from console.logs import fields
from console.operations import Operations
from console.profile import ProfileData, ProfileError, save_profile

logger = logging.getLogger("kluis.console.profile")


class ProfileStore:
    def __init__(self, directory: Path, data: ProfileData, operations: Operations) -> None:
        self.directory = directory
        self.data = data
        self._operations = operations
        self._writing = asyncio.Lock()

    def remember_server(self, server: str) -> None:
        """The server that answered last is tried first, also after a restart."""
        if server == self.data.last_server:
            return
        self.data = replace(self.data, last_server=server)
        self._operations.run(self._write, on_failure=self._write_failed)

    async def _write(self) -> None:
        async with self._writing:
            data = self.data
            await self._operations.in_thread(lambda: save_profile(self.directory, data))

    def _write_failed(self, error: Exception) -> None:
        if not isinstance(error, ProfileError):
            raise error
        logger.warning("profile not saved", extra=fields(reason=str(error), path=str(self.directory)))
