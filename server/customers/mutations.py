"""The server carrying out customer commands: the shared mutators, plus what only the
server can check (permissions, the branch the staff member may write to, uniqueness of an
ID number across every branch)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from server.audit.pending import record_server_event
from server.auth.authorizer import Principal
from server.auth.permissions import Permission, permissions_of
from server.customers.store import CustomerStore
from server.sync.positions import write_position
from server.sync.scope import branch_bucket, scope_of
from server.sync.service import MutationHandler
from shared.customers import MUTATIONS, RECORD_TYPE, Customer
from shared.sync.mutators import Rejection
from shared.sync.protocol import Mutation

SOUTH_AFRICA = dt.timezone(dt.timedelta(hours=2), "SAST")

_PERMISSIONS = {
    "customer.create": Permission.CUSTOMERS_CREATE,
    "customer.update": Permission.CUSTOMERS_UPDATE,
}


def _target(args: dict[str, Any]) -> uuid.UUID:
    try:
        return uuid.UUID(str(args["id"]))
    except (KeyError, ValueError):
        raise Rejection("invalid_fields", "Check these fields: id.") from None


def acting_role(principal: Principal, permission: Permission) -> str:
    """The role an audit event names: the first role held that grants ``permission``."""
    for role in principal.roles:
        if permission in permissions_of((role,)):
            return role
    return principal.roles[0]


def _may_write_branch(principal: Principal, branch_id: uuid.UUID) -> bool:
    return branch_id == principal.branch_id or principal.may(Permission.CUSTOMERS_READ_ALL)


class CustomerCommands:
    def __init__(self, store: CustomerStore) -> None:
        self.store = store

    def handlers(self) -> dict[str, MutationHandler]:
        return {name: self.apply for name in MUTATIONS}

    async def apply(
        self, connection: AsyncConnection, principal: Principal, mutation: Mutation, now: dt.datetime
    ) -> set[str]:
        """Carry the command out, and record it in the audit log in the same transaction: the
        change and its record exist together or not at all."""
        permission = _PERMISSIONS[mutation.name]
        if not principal.may(permission):
            raise Rejection("forbidden", "Your role may not make this change to customers.")
        customer_id = _target(mutation.args)
        previous = await self.store.row(connection, customer_id, lock=True)
        visible = previous is not None and scope_of(principal).includes(previous.bucket)
        if previous is not None and not visible:
            raise Rejection("not_found", "The customer does not exist or is not visible to you.")
        current = await self.store.record(previous) if previous is not None else None

        def read(record_type: str, record_id: uuid.UUID) -> dict[str, Any] | None:
            return current if record_type == RECORD_TYPE and record_id == customer_id else None

        puts = MUTATIONS[mutation.name](mutation.args, read, now.astimezone(SOUTH_AFRICA).date(), now)
        buckets: set[str] = set()
        for put in puts:
            customer = Customer.model_validate(put.data)
            if not _may_write_branch(principal, customer.branch_id):
                raise Rejection("branch_not_allowed", "You may only add customers to your own branch.")
            await self._check_unique(connection, customer)
            try:
                await self.store.write(
                    connection,
                    customer,
                    previous=previous,
                    actor=principal.user_id,
                    position=await write_position(connection),
                )
            except IntegrityError:
                raise Rejection(
                    "duplicate_identity", "Another customer already has this ID or passport number."
                ) from None
            await record_server_event(
                connection,
                action="change" if previous is not None else "create",
                object_type=RECORD_TYPE,
                object_id=str(customer.id),
                actor=principal.user_id,
                device=principal.device_id,
                role=acting_role(principal, permission),
                occurred_at=now,
            )
            buckets.add(branch_bucket(customer.branch_id))
            if previous is not None:
                buckets.add(previous.bucket)
        return buckets

    async def _check_unique(self, connection: AsyncConnection, customer: Customer) -> None:
        fields = customer.fields
        if fields is None:
            return
        if fields.id_number is not None:
            for row in await self.store.find(connection, kind="id_number", value=fields.id_number):
                if row.id != customer.id:
                    raise Rejection("duplicate_id_number", "Another customer already has this ID number.")
        if fields.passport_number is not None:
            passport = f"{fields.passport_country}:{fields.passport_number}"
            for row in await self.store.find(connection, kind="passport", value=passport):
                if row.id != customer.id:
                    raise Rejection(
                        "duplicate_passport", "Another customer already has this passport number."
                    )
