"""Reading and writing customers: sealing on the way in, opening on the way out."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from server.customers.keys import CustomerKeyStore
from server.customers.tables import customers
from server.customers.vault import CustomerVault
from server.db.raw import unconverted, utc_iso, uuid_hex, uuid_text
from server.sync.answer import json_string
from server.sync.scope import branch_bucket
from shared.canonical import dumps_canonical
from shared.customers import Customer

_CUSTOMER_JSON = b'{"id":"%s","branch_id":"%s","status":%s,"fields":%s,"created_at":"%s","updated_at":"%s"}'


class CustomerStore:
    def __init__(self, vault: CustomerVault, keys: CustomerKeyStore) -> None:
        self.vault = vault
        self.keys = keys

    sync_columns = (
        unconverted(customers.c.branch_id),
        customers.c.status,
        customers.c.personal,
        unconverted(customers.c.created_at),
        unconverted(customers.c.updated_at),
    )
    """What the sync feed reads for :meth:`encoded`, without converting them into Python
    objects only to turn them back into text."""

    async def encoded(self, rows: Sequence[Sequence[Any]]) -> list[bytes]:
        """Customers as a device receives them, as JSON objects, from rows of the feed's
        (position, id, version) and then :attr:`sync_columns`, values converted or not.
        The opened personal fields are the canonical JSON they were sealed as,
        authenticated by the data key, so they go in as they are.  A customer whose key
        was destroyed comes out with no personal fields, whatever the row still holds."""
        hex_ids = [uuid_hex(row[1]) for row in rows]
        keys = await self.keys.wrapped_keys_by_hex(
            [hex_id for hex_id, row in zip(hex_ids, rows, strict=True) if row[5] is not None]
        )
        open_fields = self.vault.open_fields
        encoded: list[bytes] = []
        for hex_id, (_, _, _, branch_id, status, personal, created_at, updated_at) in zip(
            hex_ids, rows, strict=True
        ):
            wrapped_key = keys.get(hex_id) if personal is not None else None
            fields = b"null" if wrapped_key is None else open_fields(hex_id, wrapped_key, personal)
            encoded.append(
                _CUSTOMER_JSON
                % (
                    uuid_text(hex_id).encode(),
                    uuid_text(branch_id).encode(),
                    json_string(status),
                    fields,
                    utc_iso(created_at).encode(),
                    utc_iso(updated_at).encode(),
                )
            )
        return encoded

    async def records(self, rows: Sequence[Row[Any]]) -> list[dict[str, Any]]:
        """Customers (whole rows of the table) as a device receives them (JSON-ready)."""
        feed_rows = [
            (
                row.position,
                row.id,
                row.version,
                row.branch_id,
                row.status,
                row.personal,
                row.created_at,
                row.updated_at,
            )
            for row in rows
        ]
        return [json.loads(encoded) for encoded in await self.encoded(feed_rows)]

    async def record(self, row: Row[Any]) -> dict[str, Any]:
        return (await self.records([row]))[0]

    async def row(
        self, connection: AsyncConnection, customer_id: uuid.UUID, *, lock: bool = False
    ) -> Row[Any] | None:
        query = select(customers).where(customers.c.id == customer_id)
        if lock and connection.dialect.name == "postgresql":
            query = query.with_for_update()
        return (await connection.execute(query)).first()

    def _hashes(self, customer: Customer) -> dict[str, bytes | None]:
        fields = customer.fields
        if fields is None:
            return {"id_number_hash": None, "passport_hash": None, "phone_hash": None}
        passport = f"{fields.passport_country}:{fields.passport_number}" if fields.passport_number else None
        return {
            "id_number_hash": self.vault.search_hash("id_number", fields.id_number)
            if fields.id_number
            else None,
            "passport_hash": self.vault.search_hash("passport", passport) if passport else None,
            "phone_hash": self.vault.search_hash("phone", fields.phone) if fields.phone else None,
        }

    async def _data_key(self, customer_id: uuid.UUID, now: dt.datetime) -> bytes:
        existing = await self.keys.wrapped_keys([customer_id])
        if customer_id in existing:
            return self.vault.unwrap(customer_id, existing[customer_id])
        key, wrapped = self.vault.new_key(customer_id)
        stored = await self.keys.store(customer_id, wrapped, now)
        return key if stored == wrapped else self.vault.unwrap(customer_id, stored)

    async def write(
        self,
        connection: AsyncConnection,
        customer: Customer,
        *,
        previous: Row[Any] | None,
        actor: uuid.UUID,
        position: int,
    ) -> None:
        """Insert or replace a customer at ``position`` in the change feed."""
        values: dict[str, Any] = {
            "branch_id": customer.branch_id,
            "bucket": branch_bucket(customer.branch_id),
            "position": position,
            "status": customer.status,
            "updated_at": customer.updated_at,
            "updated_by": actor,
            **self._hashes(customer),
        }
        if customer.fields is None:
            values["personal"] = None
        else:
            key = await self._data_key(customer.id, customer.updated_at)
            plaintext = dumps_canonical(customer.fields.model_dump(mode="json"))
            values["personal"] = self.vault.seal(customer.id, key, plaintext)
        if previous is None:
            await connection.execute(
                insert(customers).values(
                    id=customer.id,
                    version=1,
                    created_at=customer.created_at,
                    created_by=actor,
                    **values,
                )
            )
        else:
            await connection.execute(
                update(customers)
                .where(customers.c.id == customer.id)
                .values(version=previous.version + 1, **values)
            )

    async def find(self, connection: AsyncConnection, *, kind: str, value: str) -> list[Row[Any]]:
        column = {
            "id_number": customers.c.id_number_hash,
            "passport": customers.c.passport_hash,
            "phone": customers.c.phone_hash,
        }[kind]
        query = select(customers).where(column == self.vault.search_hash(kind, value))
        return list((await connection.execute(query)).all())

    async def erase(
        self,
        connection: AsyncConnection,
        previous: Row[Any],
        *,
        actor: uuid.UUID,
        position: int,
        now: dt.datetime,
    ) -> None:
        """Destroy the customer's data key, then every trace that could find them again."""
        await self.keys.destroy(previous.id)
        await connection.execute(
            update(customers)
            .where(customers.c.id == previous.id)
            .values(
                status="erased",
                personal=None,
                id_number_hash=None,
                passport_hash=None,
                phone_hash=None,
                version=previous.version + 1,
                position=position,
                updated_at=now,
                updated_by=actor,
            )
        )
