"""The pull answer on the wire.  Records arrive from the feed already encoded as JSON, so
the answer is put together from them rather than decoded into objects and encoded again;
everything around the changes is the :class:`PullResponse` model's own encoding."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache

from server.sync.feed import FeedChange
from shared.sync.protocol import PullResponse

_EMPTY_CHANGES = b'{"changes":[]'


@cache
def json_string(text: str) -> bytes:
    """``text`` as a JSON string (the few short names and codes records are built from)."""
    return json.dumps(text).encode()


def _change(change: FeedChange) -> bytes:
    head = b'{"op":"%s","type":%s,"id":"%s",' % (
        change.op.encode(),
        json_string(change.type),
        change.record_id.encode(),
    )
    if change.encoded is None:
        return head + b'"version":null,"data":null}'
    if change.version is None:
        raise ValueError("a record put needs its version")
    return head + b'"version":%d,"data":%s}' % (change.version, change.encoded)


@dataclass(frozen=True)
class PullAnswer:
    envelope: PullResponse
    """Everything but the changes (its own ``changes`` is empty)."""
    changes: list[FeedChange]

    def to_json(self) -> bytes:
        rest = self.envelope.model_dump_json().encode()
        if self.envelope.changes or not rest.startswith(_EMPTY_CHANGES):
            raise ValueError("the pull envelope must lead with an empty changes list")
        parts = [_change(change) for change in self.changes]
        return b'{"changes":[' + b",".join(parts) + b"]" + rest[len(_EMPTY_CHANGES) :]
