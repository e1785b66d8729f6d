"""What the running server knows about itself, shared by its handlers."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from server.audit.log import AuditLog
from server.auth.keystore import ServerKeys
from server.config import Settings
from server.db.engine import Database
from server.observability import Metrics


@dataclass
class ServerState:
    settings: Settings
    database: Database
    metrics: Metrics
    ca_fingerprint: str | None
    # The server's own keys (token signing, MFA secrets; the audit log's later).
    keys: ServerKeys
    audit: AuditLog
    started_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    draining: bool = False
