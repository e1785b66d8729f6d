"""State the shell shows in every window: the link to the server and the outbox.

Models are mutated on the GUI thread only (from operation handlers) and announce every
change through the notifier they were given, normally :meth:`Operations.notify`."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable

from console.changes import Changes, Topic
from console.identity import ServerIdentity
from console.net.errors import ServerError

Notify = Callable[[Changes], None]


class LinkStatus(enum.Enum):
    CONNECTING = "connecting"  # no answer and no failure yet
    ONLINE = "online"
    OFFLINE = "offline"
    SYNCING = "syncing"  # online and exchanging data


class ConnectionState:
    """The link to the server: which server, whether it answers, since when."""

    def __init__(self, notify: Notify, server: str, ca_fingerprint: str) -> None:
        self._notify = notify
        self.server = server
        self.ca_fingerprint = ca_fingerprint
        self.last_contact: dt.datetime | None = None
        self.error: ServerError | None = None
        self.identity: ServerIdentity | None = None
        self._syncing = False
        self.last_sync: dt.datetime | None = None
        self.sync_problem: str | None = None  # why syncing is held up, for the person at the desk
        self.update_required = False

    @property
    def status(self) -> LinkStatus:
        if self.error is not None:
            return LinkStatus.OFFLINE
        if self.last_contact is None:
            return LinkStatus.CONNECTING
        return LinkStatus.SYNCING if self._syncing else LinkStatus.ONLINE

    def contacted(self, server: str, at: dt.datetime) -> None:
        """A request to ``server`` succeeded at ``at``."""
        self.server = server
        self.last_contact = at
        self.error = None
        self._notify(Changes.of(Topic.CONNECTION))

    def identified(self, identity: ServerIdentity) -> None:
        self.identity = identity
        self.server = identity.server
        self.last_contact = identity.checked_at
        self.error = None
        self._notify(Changes.of(Topic.CONNECTION, Topic.SERVER_IDENTITY))

    def failed(self, error: ServerError) -> None:
        self.error = error
        self._notify(Changes.of(Topic.CONNECTION))

    def set_syncing(self, syncing: bool) -> None:
        """For the sync engine: data is being exchanged with the server."""
        if syncing != self._syncing:
            self._syncing = syncing
            self._notify(Changes.of(Topic.CONNECTION))

    def synced(self, at: dt.datetime) -> None:
        """For the sync engine: a full exchange (push, pull, uploads) succeeded at ``at``."""
        self.last_sync = at
        self.sync_problem = None
        self.update_required = False
        self._notify(Changes.of(Topic.CONNECTION))

    def sync_held(self, problem: str | None, *, update_required: bool = False) -> None:
        """For the sync engine: syncing is held up (``problem`` says why), or no longer."""
        if (problem, update_required) != (self.sync_problem, self.update_required):
            self.sync_problem = problem
            self.update_required = update_required
            self._notify(Changes.of(Topic.CONNECTION))


class Outbox:
    """How many local changes wait to be sent.  The sync engine keeps it current."""

    def __init__(self, notify: Notify) -> None:
        self._notify = notify
        self._size = 0

    @property
    def size(self) -> int:
        return self._size

    def set_size(self, size: int) -> None:
        if size < 0:
            raise ValueError("an outbox cannot hold fewer than zero changes")
        if size != self._size:
            self._size = size
            self._notify(Changes.of(Topic.OUTBOX))
