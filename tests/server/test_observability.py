"""The request tally as Prometheus reads it: counts by label, cumulative latency buckets."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from server.observability import LATENCY_BUCKETS, ListenerObserver, Metrics


def scraped(metrics: Metrics) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(metrics.exposition().decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def test_requests_are_counted_by_listener_route_method_and_status():
    metrics = Metrics()
    api = ListenerObserver(metrics, "api", access_log=False)
    other = ListenerObserver(metrics, "metrics", access_log=False)
    for _ in range(3):
        api.request_finished("r", "GET", "/livez", 200, 0.0004)
    api.request_finished("r", "POST", "/livez", 405, 0.0004)
    api.request_finished("r", "BREW", "-", 400, 0.0004)
    other.request_finished("r", "GET", "/metrics", 200, 0.002)
    counts = scraped(metrics)["kluis_http_requests_total"]
    assert counts == {
        (("listener", "api"), ("method", "GET"), ("route", "/livez"), ("status", "200")): 3.0,
        (("listener", "api"), ("method", "POST"), ("route", "/livez"), ("status", "405")): 1.0,
        (("listener", "api"), ("method", "OTHER"), ("route", "-"), ("status", "400")): 1.0,
        (("listener", "metrics"), ("method", "GET"), ("route", "/metrics"), ("status", "200")): 1.0,
    }


def test_latency_buckets_are_cumulative_with_the_sum_and_count():
    metrics = Metrics()
    api = ListenerObserver(metrics, "api", access_log=False)
    durations = [0.0005, 0.001, 0.003, 0.003, 0.2, 30.0]
    for seconds in durations:
        api.request_finished("r", "GET", "/livez", 200, seconds)
    samples = scraped(metrics)
    route = (("listener", "api"), ("route", "/livez"))
    buckets = {
        labels[0][1]: value
        for labels, value in samples["kluis_http_request_duration_seconds_bucket"].items()
        if labels[1:] == route
    }
    expected = {str(bound): float(sum(d <= bound for d in durations)) for bound in LATENCY_BUCKETS}
    expected["+Inf"] = float(len(durations))
    assert buckets == expected
    assert samples["kluis_http_request_duration_seconds_count"][route] == len(durations)
    assert abs(samples["kluis_http_request_duration_seconds_sum"][route] - sum(durations)) < 1e-9


def test_pages_read_ahead_are_read_from_the_sync_service_when_scraped():
    metrics = Metrics()
    assert "kluis_sync_pages_read_ahead_total" not in scraped(metrics)  # no sync service yet
    counts = [3, 1, 2]
    metrics.read_ahead.source = lambda: (counts[0], counts[1], counts[2])
    samples = scraped(metrics)
    assert samples["kluis_sync_pages_read_ahead_total"] == {
        (("outcome", "used"),): 3.0,
        (("outcome", "missed"),): 1.0,
    }
    assert samples["kluis_sync_pages_read_ahead_held"] == {(): 2.0}
    counts[0] = 7
    assert scraped(metrics)["kluis_sync_pages_read_ahead_total"][(("outcome", "used"),)] == 7.0
