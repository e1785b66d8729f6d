"""Metrics (Prometheus) and the access log, fed by the HTTP listeners."""

from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.exposition import generate_latest

from server.http.listener import ListenerEvents
from server.http.routing import METHODS
from server.logs import fields

access_logger = logging.getLogger("kluis.access")

# The *_created series double the exposition for no use to a dashboard.
disable_created_metrics()  # type: ignore[no-untyped-call]

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """The server's metrics, in a registry of their own (several servers may share a process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "kluis_http_requests",
            "HTTP requests answered, by route template, method and status.",
            ["listener", "route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "kluis_http_request_duration_seconds",
            "Time from a request's first byte to its response being written.",
            ["listener", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.open_connections = Gauge(
            "kluis_http_open_connections",
            "Connections being served.",
            ["listener"],
            registry=self.registry,
        )
        self.refused_connections = Counter(
            "kluis_http_refused_connections",
            "Connections answered 503 because the server was at capacity or shutting down.",
            ["listener"],
            registry=self.registry,
        )
        self.handshake_failures = Counter(
            "kluis_tls_handshake_failures",
            "TLS handshakes that failed or timed out.",
            ["listener"],
            registry=self.registry,
        )

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class ListenerObserver(ListenerEvents):
    """Counts one listener's connections and requests, and writes its access log."""

    def __init__(self, metrics: Metrics, listener: str, *, access_log: bool) -> None:
        self._metrics = metrics
        self._listener = listener
        self._access_log = access_log
        self._open = metrics.open_connections.labels(listener)
        self._refused = metrics.refused_connections.labels(listener)
        self._handshakes = metrics.handshake_failures.labels(listener)
        self._open.set(0)
        self._request_counters: dict[tuple[str, str, int], Counter] = {}
        self._latencies: dict[str, Histogram] = {}

    def connection_opened(self) -> None:
        self._open.inc()

    def connection_closed(self) -> None:
        self._open.dec()

    def connection_refused(self) -> None:
        self._refused.inc()

    def handshake_failed(self) -> None:
        self._handshakes.inc()

    def request_finished(self, request_id: str, method: str, route: str, status: int, seconds: float) -> None:
        if method not in METHODS:
            method = "OTHER" if method != "-" else method
        key = (route, method, status)
        counter = self._request_counters.get(key)
        if counter is None:
            counter = self._metrics.requests.labels(self._listener, route, method, str(status))
            self._request_counters[key] = counter
        counter.inc()
        latency = self._latencies.get(route)
        if latency is None:
            latency = self._metrics.latency.labels(self._listener, route)
            self._latencies[route] = latency
        latency.observe(seconds)
        if self._access_log:
            access_logger.info(
                "request",
                extra=fields(
                    request_id=request_id,
                    listener=self._listener,
                    method=method,
                    route=route,
                    status=status,
                    duration_ms=round(seconds * 1000, 3),
                ),
            )
