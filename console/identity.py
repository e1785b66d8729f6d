"""Who the server is, as one snapshot: its own report, checked against what the console
knows locally (the CA it trusts, its clock, the TLS connection it got)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from console.net.client import ServerClient
from console.net.models import Readiness


@dataclass(frozen=True)
class ServerIdentity:
    server: str
    version: str
    api_version: int
    schema_revision: str
    tls_version: str
    ca_fingerprint: str  # computed here, from the CA file the console trusts
    reported_ca_fingerprint: str | None  # what the server says its CA is
    readiness: Readiness
    server_time: dt.datetime
    clock_skew: dt.timedelta  # server clock minus ours; positive when the server is ahead
    checked_at: dt.datetime

    @property
    def ca_matches(self) -> bool | None:
        """None when the server does not report a fingerprint."""
        if self.reported_ca_fingerprint is None:
            return None
        return self.reported_ca_fingerprint.upper() == self.ca_fingerprint.upper()


async def fetch_identity(client: ServerClient) -> ServerIdentity:
    """Ask the first server that answers who it is, then ask the same server whether it is
    ready."""
    info = await client.server_info()
    readiness = await client.readiness(server=info.server)
    # The server read its clock somewhere between our sending and our receiving.
    midpoint = info.sent_at + (info.received_at - info.sent_at) / 2
    body = info.body
    return ServerIdentity(
        server=info.server,
        version=body.version,
        api_version=body.api_version,
        schema_revision=body.schema_revision,
        tls_version=info.tls_version,
        ca_fingerprint=client.trust.fingerprint,
        reported_ca_fingerprint=body.ca_fingerprint,
        readiness=readiness.body,
        server_time=body.time.astimezone(dt.UTC),
        clock_skew=body.time - midpoint,
        checked_at=readiness.received_at,
    )
