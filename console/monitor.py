"""Keeps the connection state current: a cheap liveness probe every few seconds, so that
losing the server shows within seconds, and the full identity check (server-info and
readiness) at start, on Refresh, after any failure and every ``refresh`` seconds."""

from __future__ import annotations

import logging
import time

from PySide6.QtCore import QObject, QTimer

from console.identity import ServerIdentity, fetch_identity
from console.logs import fields
from console.net.client import Reply, ServerClient
from console.net.errors import ServerError
from console.net.models import Liveness
from console.operations import Operations
from console.state import ConnectionState, LinkStatus

logger = logging.getLogger("kluis.console.monitor")

HEARTBEAT_SECONDS = 3.0
REFRESH_SECONDS = 15.0


class ServerMonitor(QObject):
    def __init__(
        self,
        operations: Operations,
        client: ServerClient,
        connection: ConnectionState,
        *,
        heartbeat: float = HEARTBEAT_SECONDS,
        refresh: float = REFRESH_SECONDS,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._operations = operations
        self._client = client
        self._connection = connection
        self._refresh = refresh
        self._running = False
        self._in_flight = False
        self._full_wanted = True
        self._last_full = 0.0
        self._logged_status: LinkStatus | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(round(heartbeat * 1000))
        self._timer.timeout.connect(self._tick)

    def start(self) -> None:
        self._running = True
        self._timer.start()
        self.check_now()

    def stop(self) -> None:
        self._running = False
        self._timer.stop()

    def check_now(self) -> None:
        """Run the full check now, or as soon as the check in flight finishes."""
        self._full_wanted = True
        if not self._in_flight:
            self._tick()

    def _tick(self) -> None:
        if self._in_flight or not self._running:
            return
        due = time.monotonic() - self._last_full >= self._refresh
        healthy = self._connection.status in (LinkStatus.ONLINE, LinkStatus.SYNCING)
        self._in_flight = True
        if self._full_wanted or due or not healthy or self._connection.identity is None:
            self._full_wanted = False
            self._last_full = time.monotonic()
            self._operations.run(
                lambda: fetch_identity(self._client), on_success=self._identified, on_failure=self._failed
            )
        else:
            self._operations.run(self._client.liveness, on_success=self._alive, on_failure=self._failed)

    def _identified(self, identity: ServerIdentity) -> None:
        self._in_flight = False
        self._connection.identified(identity)
        self._log_transition()
        self._continue()

    def _alive(self, reply: Reply[Liveness]) -> None:
        self._in_flight = False
        if reply.server != self._connection.server:
            self._full_wanted = True  # failed over: the identity shown is another server's
        self._connection.contacted(reply.server, reply.received_at)
        self._log_transition()
        self._continue()

    def _failed(self, error: Exception) -> None:
        self._in_flight = False
        if not isinstance(error, ServerError):
            raise error
        self._connection.failed(error)
        self._log_transition()
        self._continue()

    def _log_transition(self) -> None:
        status = self._connection.status
        if status is self._logged_status:
            return
        self._logged_status = status
        error = self._connection.error
        logger.info(
            f"link {status.value}",
            extra=fields(server=self._connection.server, reason=str(error) if error else None),
        )

    def _continue(self) -> None:
        if self._full_wanted:
            self._tick()
