"""Access records: every open, reveal and search of customers becomes a signed audit event
(shared/audit), queued in the vault's audit outbox and uploaded by the sync engine.

An event names who (user, device, role), what (action, the customer's UUID as its
pseudonymous id), why (a purpose code) and when; it never carries a name, an ID number or
what was searched for."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable

from console.auth.identity import StaffIdentity
from console.customers.permissions import acting_role
from console.sync.store import LocalStore
from shared.audit.event import AuditEvent, SignedEvent
from shared.customers import RECORD_TYPE

OPEN = "open"
REVEAL = "reveal"
SEARCH = "search"


class AccessRecorder:
    """Builds, signs and queues access records.  :meth:`record` blocks (SQLCipher): call it
    on a worker thread."""

    def __init__(
        self,
        identity: StaffIdentity,
        sign: Callable[[bytes], bytes],
        store: LocalStore,
        *,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self._identity = identity
        self._sign = sign
        self._store = store
        self._clock = clock

    def event(
        self,
        action: str,
        customer_id: uuid.UUID | str | None,
        purpose: str | None,
        *,
        object_type: str = RECORD_TYPE,
    ) -> SignedEvent:
        """``object_type`` is a customer unless said otherwise (an auditor's export names
        the audit log, an object or a staff member)."""
        identity = self._identity
        event = AuditEvent(
            event_id=uuid.uuid4(),
            occurred_at=self._clock(),
            signer=f"device:{identity.device_id}",
            action=action,
            actor=identity.user_id,
            device=identity.device_id,
            role=acting_role(identity.roles),
            object_type=object_type,
            object_id=str(customer_id) if customer_id is not None else None,
            purpose=purpose,
        )
        data = event.to_bytes()
        return SignedEvent(event, data, self._sign(data))

    def record(
        self,
        action: str,
        customer_id: uuid.UUID | str | None,
        purpose: str | None,
        *,
        object_type: str = RECORD_TYPE,
    ) -> SignedEvent:
        signed = self.event(action, customer_id, purpose, object_type=object_type)
        self._store.queue_event(signed)
        return signed
