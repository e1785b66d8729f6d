"""Columns read without conversion give the same text on SQLite and PostgreSQL as the
converted values would."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import Column, LargeBinary, MetaData, Table, Uuid, insert, select

from server.auth.columns import UTCDateTime
from server.db.engine import Database
from server.db.raw import rows_with_uuid_in, unconverted, utc_iso, uuid_hex, uuid_text

things = Table(
    "test_raw_things",
    MetaData(),
    Column("id", Uuid(), primary_key=True),
    Column("at", UTCDateTime(), nullable=False),
    Column("blob", LargeBinary(), nullable=False),
)

MOMENTS = [
    dt.datetime(2026, 12, 1, 23, 16, 43, 635874, tzinfo=dt.UTC),
    dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),  # no fraction: isoformat leaves it out
    dt.datetime(2026, 6, 1, 12, 0, 0, 1, tzinfo=dt.timezone(dt.timedelta(hours=2))),
]


async def test_unconverted_columns_read_as_the_converted_text(database_url):
    database = Database(database_url)
    try:
        async with database.engine.begin() as connection:
            await connection.run_sync(things.metadata.create_all)
        ids = [uuid.uuid4() for _ in MOMENTS]
        async with database.transaction(write=True) as connection:
            await connection.execute(
                insert(things),
                [{"id": i, "at": at, "blob": b"\x00\xff"} for i, at in zip(ids, MOMENTS, strict=True)],
            )
        async with database.transaction() as connection:
            raw = (
                await connection.execute(
                    select(unconverted(things.c.id), unconverted(things.c.at), unconverted(things.c.blob))
                )
            ).all()
            converted = (await connection.execute(select(things.c.id, things.c.at))).all()
        by_id = {row.id: row.at for row in converted}
        assert {uuid_text(row.id): utc_iso(row.at) for row in raw} == {
            str(i): at.astimezone(dt.UTC).isoformat() for i, at in by_id.items()
        }
        assert {uuid_hex(row.id) for row in raw} == {i.hex for i in ids}
        assert all(bytes(row.blob) == b"\x00\xff" for row in raw)
    finally:
        await database.dispose()


async def test_rows_with_uuid_in_finds_exactly_the_rows_asked_for(database_url):
    database = Database(database_url)
    try:
        async with database.engine.begin() as connection:
            await connection.run_sync(things.metadata.create_all)
        ids = [uuid.uuid4() for _ in range(5)]
        async with database.transaction(write=True) as connection:
            await connection.execute(
                insert(things), [{"id": i, "at": MOMENTS[0], "blob": i.bytes} for i in ids]
            )
        wanted = [ids[0].hex, ids[3].hex, ids[3].hex, uuid.uuid4().hex]  # a repeat, one not there
        async with database.transaction() as connection:
            rows = await rows_with_uuid_in(connection, "id, blob FROM test_raw_things", "id", wanted)
            none = await rows_with_uuid_in(connection, "id, blob FROM test_raw_things", "id", [])
        assert sorted((uuid_hex(found), bytes(blob)) for found, blob in rows) == sorted(
            (i.hex, i.bytes) for i in (ids[0], ids[3])
        )
        assert none == []
    finally:
        await database.dispose()


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("0123456789abcdef0123456789abcdef", "01234567-89ab-cdef-0123-456789abcdef"),
        ("01234567-89AB-CDEF-0123-456789ABCDEF", "01234567-89ab-cdef-0123-456789abcdef"),
        (uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
    ],
)
def test_uuid_forms(value, text):
    assert uuid_text(value) == text
    assert uuid_hex(value) == text.replace("-", "")


def test_utc_iso_of_sqlite_text_and_datetimes():
    assert utc_iso("2026-12-01 23:16:43.635874") == "2026-12-01T23:16:43.635874+00:00"
    assert utc_iso("2026-12-01 23:16:43.000000") == "2026-12-01T23:16:43+00:00"
    assert utc_iso("2026-12-01 23:16:43") == "2026-12-01T23:16:43+00:00"
    local = dt.datetime(2026, 12, 2, 1, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert utc_iso(local) == "2026-12-01T23:00:00+00:00"
