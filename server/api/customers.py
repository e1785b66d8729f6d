"""Customer endpoints beyond sync: exact-match search across the staff member's scope.  Each
search is recorded in the audit log (who, why; never what was searched for)."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from server.audit.pending import record_server_event
from server.auth.authorizer import principal_of
from server.auth.permissions import Permission
from server.customers.mutations import acting_role
from server.customers.store import CustomerStore
from server.db.engine import Database
from server.http.errors import HTTPError
from server.http.messages import Request
from server.http.routing import Requires, Router
from server.sync.scope import scope_of
from shared.customers import RECORD_TYPE, display_name, masked, normalise_phone


class CustomerSearch(BaseModel):
    """Exact match on one identifier; sent in the body so it never lands in a URL or log."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["id_number", "passport", "phone"]
    value: str = Field(min_length=3, max_length=40)
    passport_country: str | None = Field(None, min_length=2, max_length=2)
    purpose: str = Field(
        pattern=r"^[a-z][a-z0-9_.-]{0,63}$",
        description="Why the staff member is searching, as a purpose code (the audit log records it).",
    )

    @field_validator("value")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.replace(" ", "")


class CustomerMatch(BaseModel):
    id: uuid.UUID
    branch_id: uuid.UUID
    name: str
    masked_id_number: str | None
    masked_phone: str | None


class CustomerSearchResult(BaseModel):
    matches: list[CustomerMatch]


def _normalised(search: CustomerSearch) -> str:
    if search.kind == "phone":
        try:
            return normalise_phone(search.value)
        except ValueError:
            raise HTTPError(422, "invalid_phone", "That is not a South African phone number.") from None
    if search.kind == "passport":
        if search.passport_country is None:
            raise HTTPError(422, "passport_country_missing", "Give the passport's issuing country.")
        return f"{search.passport_country.upper()}:{search.value.upper()}"
    return search.value


def customer_routes(router: Router, database: Database, store: CustomerStore) -> None:
    @router.post(
        "/api/v1/customers/search",
        access=Requires(Permission.CUSTOMERS_SEARCH),
        summary="Find customers by exact ID, passport or phone number, within the caller's scope.",
        tags=["customers"],
    )
    async def search_customers(request: Request, body: CustomerSearch) -> CustomerSearchResult:
        principal = principal_of(request)
        scope = scope_of(principal)
        value = _normalised(body)
        async with database.transaction(write=True) as connection:
            rows = await store.find(connection, kind=body.kind, value=value)
            await record_server_event(
                connection,
                action="search",
                object_type=RECORD_TYPE,
                actor=principal.user_id,
                device=principal.device_id,
                role=acting_role(principal, Permission.CUSTOMERS_SEARCH),
                purpose=body.purpose,
            )
        matches = []
        visible = [row for row in rows if scope.includes(row.bucket)]
        for row, record in zip(visible, await store.records(visible), strict=True):
            shown = masked(record)
            matches.append(
                CustomerMatch(
                    id=row.id,
                    branch_id=row.branch_id,
                    name=display_name(record),
                    masked_id_number=shown["id_number"],
                    masked_phone=shown["phone"],
                )
            )
        return CustomerSearchResult(matches=matches)
