"""How much a client may send and how long it may take."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from server.config import Settings


@dataclass(frozen=True, slots=True)
class Limits:
    max_header_bytes: int = 16 * 1024
    max_body_bytes: int = 8 * 1024 * 1024
    tls_handshake_timeout: float = 10.0
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    keepalive_timeout: float = 15.0
    max_connections: int = 1000
    # Bytes read from the socket but not yet parsed before reading pauses.
    read_high_water: int = 256 * 1024
    # A connection refused for capacity gets this long to send its request head.
    refused_head_timeout: float = 2.0

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        return cls(
            max_header_bytes=settings.max_header_bytes,
            max_body_bytes=settings.max_body_bytes,
            tls_handshake_timeout=settings.tls_handshake_timeout,
            header_timeout=settings.header_timeout,
            body_timeout=settings.body_timeout,
            keepalive_timeout=settings.keepalive_timeout,
            max_connections=settings.max_connections,
        )
