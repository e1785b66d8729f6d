"""What every screen of the shell may use, handed to each workspace when it is built."""

from __future__ import annotations

from dataclasses import dataclass

from console.auth.sessions import Sessions
from console.monitor import ServerMonitor
from console.net.client import ServerClient
from console.operations import Operations
from console.state import ConnectionState, Outbox


@dataclass(frozen=True)
class ShellContext:
    operations: Operations
    client: ServerClient
    connection: ConnectionState
    outbox: Outbox
    monitor: ServerMonitor
    sessions: Sessions  # sessions.current: the signed-in Session, or None
