"""Starting, running and stopping the server: storage, TLS, listeners and signals."""

from __future__ import annotations

import asyncio
import logging
import signal
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from server.app import Application, build_application
from server.audit.log import AuditLog
from server.audit.worker import AuditWorker
from server.auth.keystore import ServerKeys
from server.config import Settings
from server.db.engine import Database
from server.db.migrate import require_head
from server.db.urls import redacted
from server.http.dispatch import Authorizer, Dispatcher
from server.http.limits import Limits
from server.http.listener import HTTPListener
from server.http.routing import Router
from server.logs import fields
from server.observability import ListenerObserver, Metrics
from server.state import ServerState
from server.tls import ensure_development_tls, server_context
from shared.crypto import certificate_fingerprint

logger = logging.getLogger("kluis.server")


@dataclass(frozen=True)
class TLSFiles:
    cert_file: Path
    key_file: Path
    ca_file: Path | None


def resolve_tls(settings: Settings) -> TLSFiles:
    if settings.tls_cert_file is None:
        development = ensure_development_tls(settings.data_dir, settings.tls_server_names)
        return TLSFiles(development.cert_file, development.key_file, development.ca_file)
    if settings.tls_key_file is None:
        raise ValueError("KLUIS_TLS_KEY_FILE must be set with KLUIS_TLS_CERT_FILE")
    return TLSFiles(settings.tls_cert_file, settings.tls_key_file, settings.tls_ca_file)


class KluisServer:
    """One server instance.  ``start`` returns once it listens; ``shutdown`` drains it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.limits = Limits.from_settings(settings)
        self.metrics = Metrics()
        self.database = Database(settings.effective_database_url())
        self.listeners: list[HTTPListener] = []
        self.api_address: tuple[str, int] | None = None
        self.metrics_address: tuple[str, int] | None = None
        self.state: ServerState | None = None
        self.application: Application | None = None
        self.audit_worker: AuditWorker | None = None
        self.tls: TLSFiles | None = None
        self._stopped = asyncio.Event()

    async def start(self) -> None:
        try:
            await self._start()
        except BaseException:
            # A server that fails to start leaves nothing open behind it.
            await self._release_resources()
            raise

    async def _start(self) -> None:
        settings = self.settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        await require_head(self.database)
        self.tls = tls = resolve_tls(settings)
        fingerprint = certificate_fingerprint(tls.ca_file.read_bytes()) if tls.ca_file else None
        context = server_context(tls.cert_file, tls.key_file)
        keys = ServerKeys.load(settings)
        audit = AuditLog.from_settings(settings, self.database)
        self.state = state = ServerState(
            settings=settings,
            database=self.database,
            metrics=self.metrics,
            ca_fingerprint=fingerprint,
            keys=keys,
            audit=audit,
        )
        self.application = application = build_application(state)
        self.metrics.read_ahead.source = application.sync.ahead.counts
        await application.start()
        self.audit_worker = AuditWorker(
            audit,
            interval=settings.audit_checkpoint_interval,
            prune_interval=settings.audit_prune_interval_minutes * 60.0,
        )
        self.audit_worker.start()
        api = application.api
        if settings.metrics_address is None:
            api.include(application.metrics)
        self.api_address = await self._listen(
            "api", api, application.authorizer, context, settings.listen_address
        )
        if settings.metrics_address is not None:
            self.metrics_address = await self._listen(
                "metrics", application.metrics, application.authorizer, context, settings.metrics_address
            )
        logger.info(
            "server started",
            extra=fields(
                address=f"{self.api_address[0]}:{self.api_address[1]}",
                database=redacted(self.database.url),
                fingerprint=fingerprint,
            ),
        )

    async def _release_resources(self) -> None:
        """Stop background work and close stores; the listeners are done by now."""
        for listener in self.listeners:
            await listener.abort_all()
        if self.application is not None:
            await self.application.release()
            await self.application.close()
        if self.audit_worker is not None:
            await self.audit_worker.stop()
            self.audit_worker.log.close()
        await self.database.dispose()

    async def _listen(
        self,
        name: str,
        router: Router,
        authorizer: Authorizer,
        context: ssl.SSLContext,
        address: tuple[str, int],
    ) -> tuple[str, int]:
        listener = HTTPListener(
            name=name,
            dispatcher=Dispatcher(router, max_body_bytes=self.limits.max_body_bytes, authorizer=authorizer),
            limits=self.limits,
            ssl_context=context,
            observer=ListenerObserver(self.metrics, name, access_log=self.settings.access_log),
        )
        self.listeners.append(listener)
        return await listener.start(*address)

    async def shutdown(self) -> None:
        """Readiness fails, the listeners close, idle connections close, in-flight requests
        get the grace period, the rest are cancelled."""
        if self.state is not None:
            self.state.draining = True
        logger.info("shutdown started", extra=fields(seconds=self.settings.shutdown_grace))
        for listener in self.listeners:
            listener.begin_drain()
        if self.application is not None:
            await self.application.release()
        if self.settings.drain_delay:
            await asyncio.sleep(self.settings.drain_delay)
        for listener in self.listeners:
            listener.stop_accepting()
        remaining = sum(
            await asyncio.gather(
                *(listener.wait_closed(self.settings.shutdown_grace) for listener in self.listeners)
            )
        )
        if remaining:
            logger.warning(
                "cancelling requests still running after the grace period", extra=fields(count=remaining)
            )
        await self._release_resources()
        logger.info("shutdown complete")
        self._stopped.set()

    async def serve(self, on_started: Callable[[KluisServer], None] | None = None) -> None:
        """Start, serve until SIGTERM or SIGINT, then shut down gracefully."""
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()

        def on_signal(signum: int) -> None:
            if stop.is_set():
                logger.info("shutdown already in progress", extra=fields(signal=signal.Signals(signum).name))
            stop.set()

        # Installed before starting, so that a signal during start-up is not lost, and kept
        # until shutdown completes, so that a second SIGTERM cannot kill requests mid-flight.
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, on_signal, signum)
        try:
            await self.start()
            if on_started is not None:
                on_started(self)
            await stop.wait()
            await self.shutdown()
        finally:
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)
