"""Why a sync cycle stopped short.  Every message is a sentence for the person at the desk
and never quotes a record, a token or anything personal; whatever was queued is kept."""

from __future__ import annotations

from console.errors import ConsoleError

KEPT = "Your work on this computer is kept and will be sent later."


class SyncHeld(ConsoleError):
    """Syncing cannot go on for now; the engine tries again after ``retry_after`` seconds."""

    retry_after: float | None = None  # None: the engine's backoff decides


class SyncUnavailable(SyncHeld):
    """The server could not be reached or could not answer right now (transient)."""


class UpdateRequired(SyncHeld):
    retry_after = 600.0

    def __init__(self) -> None:
        super().__init__(
            f"Update required: this console is too old for the server. Install the current version. {KEPT}"
        )


class ServerTooOld(SyncHeld):
    retry_after = 600.0

    def __init__(self) -> None:
        super().__init__(
            "The server does not yet speak this console's sync protocol; it must be updated first. " + KEPT
        )


class SyncRefused(SyncHeld):
    """The server refused a sync request outright (neither transient nor an update)."""

    retry_after = 120.0

    def __init__(self, status: int, code: str, message: str) -> None:
        self.status = status
        self.code = code
        super().__init__(f"The server refused to sync ({status} {code}): {message} {KEPT}")
