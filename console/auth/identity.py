"""Who is signed in, as the server described them at the last sign-in or refresh."""

from __future__ import annotations

import uuid
from dataclasses import dataclass


@dataclass(frozen=True)
class StaffIdentity:
    user_id: uuid.UUID
    username: str
    display_name: str
    roles: tuple[str, ...]
    branch_id: uuid.UUID
    branch_code: str
    device_id: uuid.UUID
