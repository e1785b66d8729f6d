"""The customer list's queries over the local store: what a search means, and pages of rows
in name order fetched by key (never by offset), so the 100,000th row costs what the first
does.  Every function blocks (SQLCipher): run it on a worker thread."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import text

from console.sync.derive import fold
from console.sync.store import LocalStore
from shared.customers import RECORD_TYPE, display_name, masked

QueryKind = Literal["all", "name", "id_number", "phone"]
_DIGITS = re.compile(r"[0-9]{13}")
_PHONE_LIKE = re.compile(r"[+0-9][0-9\s\-()]{8,}")


@dataclass(frozen=True)
class CustomerQuery:
    kind: QueryKind = "all"
    name: str = ""
    hash: bytes | None = None

    @property
    def is_search(self) -> bool:
        return self.kind != "all"


@dataclass(frozen=True)
class CustomerRow:
    id: uuid.UUID
    sort_key: str
    name: str
    id_number: str | None  # masked
    phone: str | None  # masked
    branch_id: str | None
    status: str
    pending: bool

    @property
    def key(self) -> tuple[str, str]:
        return (self.sort_key, str(self.id))


def interpret(search: str, store: LocalStore) -> CustomerQuery:
    """13 digits: an exact ID number; something like a phone number: an exact phone; anything
    else: part of a name.  Exact matches use the keyed hashes, never the numbers."""
    text_ = search.strip()
    if not text_:
        return CustomerQuery()
    compact = text_.replace(" ", "")
    if _DIGITS.fullmatch(compact):
        return CustomerQuery("id_number", hash=store.deriver.search_hash("id_number", compact))
    if _PHONE_LIKE.fullmatch(text_):
        phone = store.deriver.phone_hash(text_)
        if phone is not None:
            return CustomerQuery("phone", hash=phone)
    return CustomerQuery("name", name=fold(text_))


def _where(query: CustomerQuery) -> tuple[str, dict[str, Any]]:
    if query.kind == "name":
        return " AND instr(sort_key, :name) > 0", {"name": query.name}
    if query.kind == "id_number":
        return " AND id_hash = :hash", {"hash": query.hash}
    if query.kind == "phone":
        return " AND phone_hash = :hash", {"hash": query.hash}
    return "", {}


def row_of(record_id: str, sort_key: str, data: dict[str, Any], pending: bool) -> CustomerRow:
    shown = masked(data)
    return CustomerRow(
        id=uuid.UUID(record_id),
        sort_key=sort_key,
        name=display_name(data),
        id_number=shown["id_number"] or shown["passport_number"],
        phone=shown["phone"],
        branch_id=data.get("branch_id"),
        status=str(data.get("status", "active")),
        pending=pending,
    )


def customer_page(
    store: LocalStore, query: CustomerQuery, after: tuple[str, str] | None, limit: int
) -> list[CustomerRow]:
    condition, params = _where(query)
    if after is not None:
        condition += " AND (sort_key, id) > (:after_key, :after_id)"
        params.update(after_key=after[0], after_id=after[1])
    # Only fixed fragments are joined here; every value is a bound parameter.
    sql = (
        "SELECT id, sort_key, COALESCE(local_data, server_data), local_data IS NOT NULL "  # noqa: S608
        f"FROM sync_records WHERE type = :type{condition} ORDER BY sort_key, id LIMIT :limit"
    )
    with store.reading() as connection:
        rows = connection.execute(text(sql), {"type": RECORD_TYPE, "limit": limit, **params}).all()
    return [row_of(row[0], row[1], json.loads(row[2]), bool(row[3])) for row in rows]


def customer_count(store: LocalStore, query: CustomerQuery) -> int:
    condition, params = _where(query)
    sql = f"SELECT count(*) FROM sync_records WHERE type = :type{condition}"  # noqa: S608 - fixed fragments
    with store.reading() as connection:
        return int(connection.execute(text(sql), {"type": RECORD_TYPE, **params}).scalar_one())
