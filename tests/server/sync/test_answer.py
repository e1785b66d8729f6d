"""The pull answer put together from already-encoded records reads back as the model."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest

from server.sync.answer import PullAnswer
from server.sync.feed import FeedChange
from shared.sync.protocol import MutationResult, PullResponse


def envelope(**overrides):
    values = {
        "changes": [],
        "cursor": "c1.all.7",
        "last_mutation_id": 3,
        "mutation_results": [MutationResult(mutation_id=2, outcome="rejected", code="x", message='say "no"')],
        "reset": True,
        "has_more": False,
        "server_time": dt.datetime(2026, 12, 1, tzinfo=dt.UTC),
    }
    return PullResponse(**{**values, **overrides})


def test_changes_are_spliced_into_the_model_encoding():
    put_id, gone_id = uuid.uuid4(), uuid.uuid4()
    record = {"name": 'Thandi "T" Nkosi\u00e9', "n": [1, 2]}
    answer = PullAnswer(
        envelope(),
        [
            FeedChange("put", "customer", str(put_id), 4, json.dumps(record).encode()),
            FeedChange("delete", "customer", str(gone_id), None, None),
        ],
    )
    parsed = PullResponse.model_validate_json(answer.to_json())
    assert parsed.model_dump(exclude={"changes"}) == envelope().model_dump(exclude={"changes"})
    assert [(c.op, c.type, c.id, c.version, c.data) for c in parsed.changes] == [
        ("put", "customer", put_id, 4, record),
        ("delete", "customer", gone_id, None, None),
    ]


def test_an_empty_page_is_the_model_itself():
    assert PullAnswer(envelope(), []).to_json() == envelope().model_dump_json().encode()


def test_a_put_without_a_version_or_an_envelope_with_changes_is_refused():
    with pytest.raises(ValueError, match="version"):
        PullAnswer(envelope(), [FeedChange("put", "customer", str(uuid.uuid4()), None, b"{}")]).to_json()
    change = {"op": "delete", "type": "customer", "id": str(uuid.uuid4())}
    with pytest.raises(ValueError, match="empty changes"):
        PullAnswer(envelope(changes=[change]), []).to_json()
