"""The store's conversions of the append path's rows (ids and times as the event's text)
for each database driver.  What the databases make of them is tested end to end in
test_ingest.py, on both."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from server.audit.store import _pg_time, _pg_uuid, _sqlite_time, _sqlite_uuid
from shared.audit.codec import format_time

WHEN = dt.datetime(2026, 12, 7, 1, 2, 3, 45, tzinfo=dt.UTC)
ID = uuid.UUID("7b0b4c3e-9a5d-4f7e-8c2a-1d3e5f708192")


def test_text_converts_as_sqlalchemy_stores_it_on_sqlite():
    assert _sqlite_time(format_time(WHEN)) == "2026-12-07 01:02:03.000045"
    assert _sqlite_uuid(str(ID)) == ID.hex
    assert _sqlite_time(None) is None
    assert _sqlite_uuid(None) is None


def test_text_converts_to_the_objects_psycopg_takes():
    assert _pg_time(format_time(WHEN)) == WHEN
    assert _pg_uuid(str(ID)) == ID
    assert _pg_time(None) is None
    assert _pg_uuid(None) is None


@pytest.mark.parametrize(
    "text", ["2026-12-07 01:02:03.000045", "2026-12-07T01:02:03Z", "2026-12-07T01:02:03.000045+00:00"]
)
def test_a_time_not_in_its_canonical_form_is_refused_not_cut_up(text):
    with pytest.raises(ValueError, match="canonical form"):
        _sqlite_time(text)
    with pytest.raises(ValueError, match="canonical form"):
        _pg_time(text)
