"""Graceful shutdown of a listener: stop accepting, close idle connections, let in-flight
requests finish within the grace period and cancel the rest."""

from __future__ import annotations

import socket
import threading
import time

from testkit.clients import RawClient


def start_slow_request(running, seconds: float) -> tuple[RawClient, dict]:
    c = RawClient(running.address, running.ca_file, timeout=30)
    outcome: dict = {}

    def wait() -> None:
        try:
            outcome["response"] = c.request("GET", f"/slow?seconds={seconds}")
        except (OSError, ConnectionError) as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=wait)
    thread.start()
    outcome["thread"] = thread
    return c, outcome


def wait_for(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def test_in_flight_request_finishes_and_idle_connections_close(serve, probe):
    running = serve()
    idle = RawClient(running.address, running.ca_file)
    assert idle.request("GET", "/hello").status == 200
    busy, outcome = start_slow_request(running, 1.0)
    wait_for(lambda: probe.slow_started.is_set())

    shutdown = threading.Thread(target=lambda: outcome.setdefault("remaining", running.shutdown(grace=10)))
    shutdown.start()
    assert idle.is_closed(wait=5)
    outcome["thread"].join(10)
    response = outcome["response"]
    assert response.status == 200
    assert response.json() == {"message": "slept 1.0"}
    assert response.header("connection") == "close"
    shutdown.join(10)
    assert outcome["remaining"] == 0
    assert probe.slow_finished == 1
    assert probe.slow_cancelled == 0
    busy.close()
    idle.close()


def test_listener_refuses_new_connections_once_shutdown_begins(serve, probe):
    running = serve()
    busy, outcome = start_slow_request(running, 1.0)
    wait_for(lambda: probe.slow_started.is_set())
    shutdown = threading.Thread(target=lambda: running.shutdown(grace=10))
    shutdown.start()
    time.sleep(0.2)
    refused = False
    try:
        with socket.create_connection(running.address, timeout=2) as raw:
            raw.sendall(b"\x16\x03\x01")
            refused = raw.recv(1) == b""
    except OSError:
        refused = True
    assert refused
    outcome["thread"].join(10)
    shutdown.join(10)
    busy.close()


def test_requests_beyond_the_grace_period_are_cancelled(serve, probe):
    running = serve()
    busy, outcome = start_slow_request(running, 20.0)
    wait_for(lambda: probe.slow_started.is_set())
    started = time.monotonic()
    remaining = running.shutdown(grace=0.5)
    assert remaining == 1
    assert time.monotonic() - started < 5
    outcome["thread"].join(10)
    assert "error" in outcome or outcome["response"] is None
    assert probe.slow_cancelled == 1
    assert probe.slow_finished == 0
    busy.close()


def test_shutdown_closes_a_connection_still_in_its_tls_handshake(serve):
    running = serve(tls_handshake_timeout=60)
    with socket.create_connection(running.address, timeout=10) as raw:
        raw.sendall(b"\x16\x03\x01")  # the start of a ClientHello, never finished
        time.sleep(0.2)
        started = time.monotonic()
        assert running.shutdown(grace=0.5) == 0
        try:
            closed = raw.recv(1) == b""
        except ConnectionResetError:
            closed = True
        assert closed
        assert time.monotonic() - started < 5
