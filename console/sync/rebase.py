"""Rebase: the optimistic view is the server's state with every pending mutation re-applied
on top, in order, by the same mutators the server runs.  It is recomputed inside the
transaction that changed either side (a pull applied, an edit queued), so a screen never
sees one without the other."""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from console.logs import fields
from console.sync.derive import Deriver
from console.sync.mutators import MUTATORS, business_day
from shared.sync.mutators import Record, Rejection

logger = logging.getLogger("kluis.console.sync")

Key = tuple[str, str]


def effective_reader(connection: Connection) -> Callable[[str, uuid.UUID], Record | None]:
    """Read a record as the screens see it (pending edits included)."""

    def read(record_type: str, record_id: uuid.UUID) -> Record | None:
        row = connection.execute(
            text("SELECT COALESCE(local_data, server_data) FROM sync_records WHERE type = :t AND id = :i"),
            {"t": record_type, "i": str(record_id)},
        ).first()
        return None if row is None or row[0] is None else dict(json.loads(row[0]))

    return read


def _overlay(connection: Connection) -> dict[Key, Record]:
    """Each pending mutation run over the server's state and the ones before it."""
    overlay: dict[Key, Record] = {}

    def read(record_type: str, record_id: uuid.UUID) -> Record | None:
        key = (record_type, str(record_id))
        if key in overlay:
            return overlay[key]
        row = connection.execute(
            text("SELECT server_data FROM sync_records WHERE type = :t AND id = :i"),
            {"t": key[0], "i": key[1]},
        ).first()
        return None if row is None or row[0] is None else dict(json.loads(row[0]))

    pending = connection.execute(
        text("SELECT mutation_id, name, args, client_time FROM sync_outbox ORDER BY mutation_id")
    ).all()
    for mutation_id, name, args, client_time in pending:
        mutator = MUTATORS.get(name)
        if mutator is None:
            continue
        at = dt.datetime.fromisoformat(client_time)
        try:
            puts = mutator(json.loads(args), read, business_day(at), at)
        except Rejection as rejection:
            # The server will most likely refuse it too and say so; until then it shows nothing.
            logger.info(
                "pending mutation no longer applies locally",
                extra=fields(count=mutation_id, reason=rejection.code),
            )
            continue
        for put in puts:
            overlay[(put.type, str(put.id))] = put.data
    return overlay


def _set_local(connection: Connection, deriver: Deriver, key: Key, data: Record) -> None:
    derived = deriver.derive(key[0], data)
    connection.execute(
        text(
            """
            INSERT INTO sync_records (type, id, local_data, sort_key, branch_id, id_hash, phone_hash)
            VALUES (:t, :i, :data, :sort, :branch, :id_hash, :phone_hash)
            ON CONFLICT (type, id) DO UPDATE SET
                local_data = excluded.local_data, sort_key = excluded.sort_key,
                branch_id = excluded.branch_id, id_hash = excluded.id_hash, phone_hash = excluded.phone_hash
            """
        ),
        {
            "t": key[0],
            "i": key[1],
            "data": json.dumps(data, separators=(",", ":")),
            "sort": derived.sort_key,
            "branch": derived.branch_id,
            "id_hash": derived.id_hash,
            "phone_hash": derived.phone_hash,
        },
    )


def _drop_local(connection: Connection, deriver: Deriver, key: Key) -> None:
    params = {"t": key[0], "i": key[1]}
    row = connection.execute(
        text("SELECT server_data FROM sync_records WHERE type = :t AND id = :i"), params
    ).first()
    if row is None:
        return
    if row[0] is None:
        connection.execute(text("DELETE FROM sync_records WHERE type = :t AND id = :i"), params)
        return
    derived = deriver.derive(key[0], json.loads(row[0]))
    connection.execute(
        text(
            """
            UPDATE sync_records SET local_data = NULL, sort_key = :sort, branch_id = :branch,
                id_hash = :id_hash, phone_hash = :phone_hash
            WHERE type = :t AND id = :i
            """
        ),
        {
            **params,
            "sort": derived.sort_key,
            "branch": derived.branch_id,
            "id_hash": derived.id_hash,
            "phone_hash": derived.phone_hash,
        },
    )


def rebase(connection: Connection, deriver: Deriver) -> set[Key]:
    """Recompute the optimistic view in ``connection``'s transaction; returns the records
    whose local state changed."""
    overlay = _overlay(connection)
    current: dict[Key, Any] = {
        (row[0], row[1]): row[2]
        for row in connection.execute(
            text("SELECT type, id, local_data FROM sync_records WHERE local_data IS NOT NULL")
        )
    }
    changed: set[Key] = set()
    for key in current.keys() - overlay.keys():
        _drop_local(connection, deriver, key)
        changed.add(key)
    for key, data in overlay.items():
        if key in current and json.loads(current[key]) == data:
            continue
        _set_local(connection, deriver, key, data)
        changed.add(key)
    return changed
