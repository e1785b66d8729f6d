"""Pull pages are decoded once and validated in slices; anything malformed is an unreadable
answer (retried), never a crash, and a good page reads exactly as the model would."""

from __future__ import annotations

import datetime as dt
import json
import types
import uuid

import httpx
import pytest

from console.sync import engine
from console.sync.engine import decode_pull
from console.sync.errors import SyncUnavailable
from shared.sync.protocol import PullResponse


def page(changes):
    return {
        "changes": changes,
        "cursor": "c1.all.9",
        "last_mutation_id": 0,
        "mutation_results": [],
        "reset": False,
        "has_more": True,
        "server_time": dt.datetime(2026, 12, 1, tzinfo=dt.UTC).isoformat(),
    }


def answer(value):
    return httpx.Response(200, content=value if isinstance(value, bytes) else json.dumps(value).encode())


def digester():
    """Enough of an engine for ``_digest``: its store's rows are the validated changes."""
    return types.SimpleNamespace(store=types.SimpleNamespace(staged_rows=list))


def read_page(response):
    """A page as the engine reads it: the envelope, then the changes slice by slice."""
    envelope, changes = decode_pull(response)
    return envelope.model_copy(update={"changes": engine.SyncEngine._digest(digester(), changes)})


def test_a_page_in_many_slices_reads_as_the_model(monkeypatch):
    monkeypatch.setattr(engine, "VALIDATE_SLICE", 3)
    monkeypatch.setattr(engine.time, "sleep", lambda seconds: None)
    changes = [
        {"op": "put", "type": "customer", "id": str(uuid.uuid4()), "version": n + 1, "data": {"n": n}}
        for n in range(10)
    ]
    changes.append({"op": "delete", "type": "customer", "id": str(uuid.uuid4())})
    body = page(changes)
    assert read_page(answer(body)) == PullResponse.model_validate_json(json.dumps(body))


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        page("not a list"),
        page([{"op": "replace", "type": "customer", "id": str(uuid.uuid4())}]),
        page([{"op": "put", "type": "customer", "id": "not-a-uuid", "version": 1, "data": {}}]),
        page([{"op": "put", "type": "customer", "id": "nope", "version": 1}]),
        {**page([]), "has_more": "perhaps"},
        {**page([]), "unexpected": 1},
    ],
)
def test_a_malformed_page_is_an_unreadable_answer(body, monkeypatch):
    monkeypatch.setattr(engine.time, "sleep", lambda seconds: None)
    with pytest.raises(SyncUnavailable, match="could not be read"):
        read_page(answer(body))


def test_a_page_is_digested_a_slice_at_a_time_with_a_pause_for_the_event_loop(monkeypatch):
    monkeypatch.setattr(engine, "VALIDATE_SLICE", 4)
    pauses, slices = [], []
    monkeypatch.setattr(engine.time, "sleep", pauses.append)

    def staged_rows(changes):
        slices.append(len(changes))
        return [str(change.id) for change in changes]

    recorder = types.SimpleNamespace(store=types.SimpleNamespace(staged_rows=staged_rows))
    changes = [
        {"op": "put", "type": "customer", "id": str(uuid.uuid4()), "version": 1, "data": {"n": n}}
        for n in range(10)
    ]
    rows = engine.SyncEngine._digest(recorder, changes)
    assert rows == [change["id"] for change in changes]
    assert slices == [4, 4, 2]
    assert pauses == [engine.DIGEST_PAUSE] * 3
