"""Why the auditor's copy of the log could not be brought up to date.  Each message is a
sentence for the auditor; none quotes an event, a token or anything personal.  Whatever the
copy held before stays as it was."""

from __future__ import annotations

from console.errors import ConsoleError

KEPT = "The copy on this computer is unchanged."


class AuditCopyError(ConsoleError):
    """The download stopped; the copy is as it was before it began."""


class LogKeyChanged(AuditCopyError):
    def __init__(self) -> None:
        super().__init__(
            "The server signs its audit log with a different key from the one this copy was made "
            "with. That needs an explanation from the server's operators before anything from it is "
            f"trusted. {KEPT} To start a new copy under the new key, forget this one."
        )


class LogShrank(AuditCopyError):
    def __init__(self, held: int, offered: int) -> None:
        super().__init__(
            f"The server's signed log has {offered:,} entries, fewer than the {held:,} this copy already "
            f"holds: entries were removed from the log. {KEPT}"
        )


class LogForked(AuditCopyError):
    def __init__(self, size: int) -> None:
        super().__init__(
            f"The server's signed log does not extend the {size:,} entries this copy holds: no "
            f"consistency proof joins the two, so the log was rewritten. {KEPT}"
        )


class BadCheckpoint(AuditCopyError):
    def __init__(self, reason: str) -> None:
        super().__init__(f"The server's checkpoint does not verify with the log's key: {reason}. {KEPT}")


class NoCheckpoint(AuditCopyError):
    def __init__(self) -> None:
        super().__init__("The server has not signed a checkpoint of its audit log yet; try again shortly.")


class DownloadRefused(AuditCopyError):
    def __init__(self, status: int, code: str, message: str) -> None:
        self.status = status
        self.code = code
        super().__init__(f"The server refused the download ({status} {code}): {message} {KEPT}")


class DownloadUnreadable(AuditCopyError):
    def __init__(self, what: str) -> None:
        super().__init__(f"The server's answer for {what} could not be read. {KEPT}")
