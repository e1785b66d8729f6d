"""Metrics (Prometheus) and the access log, fed by the HTTP listeners (and the sync
service's pages read ahead)."""

from __future__ import annotations

import bisect
import itertools
import logging
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, disable_created_metrics
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from server.http.listener import ListenerEvents
from server.http.routing import METHODS
from server.logs import fields

access_logger = logging.getLogger("kluis.access")

# The *_created series double the exposition for no use to a dashboard.
disable_created_metrics()  # type: ignore[no-untyped-call]

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


_BUCKET_NAMES = (*(floatToGoString(bound) for bound in LATENCY_BUCKETS), "+Inf")  # type: ignore[no-untyped-call]


class _Latency:
    """One route's latency histogram: a count per bucket (not yet cumulative) and the sum."""

    __slots__ = ("buckets", "total")

    def __init__(self) -> None:
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)
        self.total = 0.0


class RequestTally(Collector):
    """Requests answered and their latencies, counted in plain numbers and handed to the
    registry only when it is scraped.  A prometheus_client Counter and Histogram take a
    lock and walk their buckets on every request: 3% of the work of a small request.
    The listeners and the scrape all run on the server's event loop, so nothing here
    needs a lock."""

    def __init__(self) -> None:
        self.requests: dict[tuple[str, str, str, str], int] = {}
        self.latency: dict[tuple[str, str], _Latency] = {}

    def count(self, listener: str, route: str, method: str, status: int, seconds: float) -> None:
        key = (listener, route, method, str(status))
        self.requests[key] = self.requests.get(key, 0) + 1
        histogram = self.latency.get((listener, route))
        if histogram is None:
            histogram = self.latency[(listener, route)] = _Latency()
        histogram.buckets[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        histogram.total += seconds

    def describe(self) -> list[Metric]:
        return [self._requests_family(), self._latency_family()]

    def collect(self) -> list[Metric]:
        requests = self._requests_family()
        for request_labels, value in list(self.requests.items()):
            requests.add_metric(request_labels, value)
        latency = self._latency_family()
        for route_labels, histogram in list(self.latency.items()):
            cumulative = list(itertools.accumulate(histogram.buckets))
            latency.add_metric(
                route_labels, list(zip(_BUCKET_NAMES, cumulative, strict=True)), histogram.total
            )
        return [requests, latency]

    @staticmethod
    def _requests_family() -> CounterMetricFamily:
        return CounterMetricFamily(
            "kluis_http_requests",
            "HTTP requests answered, by route template, method and status.",
            labels=["listener", "route", "method", "status"],
        )

    @staticmethod
    def _latency_family() -> HistogramMetricFamily:
        return HistogramMetricFamily(
            "kluis_http_request_duration_seconds",
            "Time from a request's first byte to its response being written.",
            labels=["listener", "route"],
        )


class ReadAheadTally(Collector):
    """Pull pages read ahead (``server/sync/ahead.py``): how many were handed over, how
    many were not, and how many are held now, read from the sync service when scraped."""

    def __init__(self) -> None:
        self.source: Callable[[], tuple[int, int, int]] | None = None
        """(used, missed, held); set once the sync service exists."""

    def describe(self) -> list[Metric]:
        return [self._pages_family(), self._held_family()]

    def collect(self) -> list[Metric]:
        pages, held = self._pages_family(), self._held_family()
        if self.source is not None:
            used, missed, holding = self.source()
            pages.add_metric(["used"], used)
            pages.add_metric(["missed"], missed)
            held.add_metric([], holding)
        return [pages, held]

    @staticmethod
    def _pages_family() -> CounterMetricFamily:
        return CounterMetricFamily(
            "kluis_sync_pages_read_ahead",
            "Pull pages read ahead for a client: handed to its next request (used) or not (missed).",
            labels=["outcome"],
        )

    @staticmethod
    def _held_family() -> GaugeMetricFamily:
        return GaugeMetricFamily("kluis_sync_pages_read_ahead_held", "Pull pages read ahead and held now.")


class Metrics:
    """The server's metrics, in a registry of their own (several servers may share a process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.tally = RequestTally()
        self.registry.register(self.tally)
        self.read_ahead = ReadAheadTally()
        self.registry.register(self.read_ahead)
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
        self._listener = listener
        self._access_log = access_log
        self._open = metrics.open_connections.labels(listener)
        self._refused = metrics.refused_connections.labels(listener)
        self._handshakes = metrics.handshake_failures.labels(listener)
        self._open.set(0)
        self._count = metrics.tally.count

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
        self._count(self._listener, route, method, status, seconds)
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
