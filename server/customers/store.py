"""Reading and writing customers: sealing on the way in, opening on the way out."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from server.customers.tables import customers
from server.customers.vault import CustomerVault
from server.sync.scope import branch_bucket
from shared.canonical import dumps_canonical
from shared.customers import Customer


class CustomerStore:
    def __init__(self, vault: CustomerVault) -> None:
        self.vault = vault

    def record(self, row: Row[Any]) -> dict[str, Any]:
        """The customer as a device receives it (JSON-ready)."""
        fields = None
        if row.personal is not None and row.wrapped_key is not None:
            fields = json.loads(self.vault.open(row.id, row.wrapped_key, row.personal))
        return {
            "id": str(row.id),
            "branch_id": str(row.branch_id),
            "status": row.status,
            "fields": fields,
            "created_at": _iso(row.created_at),
            "updated_at": _iso(row.updated_at),
        }

    def records(self, rows: Sequence[Row[Any]]) -> list[dict[str, Any]]:
        return [self.record(row) for row in rows]

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
            values.update(wrapped_key=None, personal=None)
        else:
            plaintext = dumps_canonical(customer.fields.model_dump(mode="json"))
            sealed = self.vault.seal(
                customer.id, plaintext, previous.wrapped_key if previous is not None else None
            )
            values.update(wrapped_key=sealed.wrapped_key, personal=sealed.personal)
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
        """Destroy the customer's data key and every trace that could find them again."""
        await connection.execute(
            update(customers)
            .where(customers.c.id == previous.id)
            .values(
                status="erased",
                wrapped_key=None,
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


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat()
