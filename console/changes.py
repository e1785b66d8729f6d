"""What an operation changed, so that screens refresh only what they show."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Topic(enum.Enum):
    """Areas of state a screen may show.  The sync engine and the role workspaces add
    topics for the data they bring."""

    CONNECTION = "connection"  # online/offline/syncing, last contact, the server in use
    SERVER_IDENTITY = "server identity"  # what the server reported about itself
    OUTBOX = "outbox"  # changes waiting to be sent
    RECORDS = "records"  # synced records as screens show them (server state plus pending edits)
    ATTENTION = "needs attention"  # rejected changes and access records the user must see
    AUDIT_COPY = "audit log copy"  # the auditor's copy of the audit log: entries, checks, findings


@dataclass(frozen=True)
class Changes:
    topics: frozenset[Topic]
    origin: object | None = None  # the screen that made the change, so it can skip its own refresh

    @classmethod
    def of(cls, *topics: Topic, origin: object | None = None) -> Changes:
        return cls(frozenset(topics), origin)

    def touches(self, *topics: Topic) -> bool:
        return not self.topics.isdisjoint(topics)
