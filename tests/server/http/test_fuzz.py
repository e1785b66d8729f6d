"""Arbitrary bytes and mangled requests: the server answers 4xx or closes, never 5xx, never
leaks an exception, and keeps serving."""

from __future__ import annotations

import socket
import ssl

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.http.limits import Limits
from server.tls import client_context
from testkit.http_routes import Probe, build_router
from testkit.servers import RunningListener

METHODS = st.sampled_from([b"GET", b"POST", b"PUT", b"DELETE", b"HEAD", b"OPTIONS", b"G\x00T", b""])
TARGETS = st.one_of(
    st.sampled_from([b"/hello", b"/echo", b"/items/1", b"/items/%ff", b"*", b"//", b"/" + b"a" * 300]),
    st.binary(max_size=40),
)
HEADER_NAMES = st.sampled_from(
    [b"Host", b"Content-Length", b"Transfer-Encoding", b"Content-Type", b"Expect", b"Accept", b"X-Request-ID"]
)
HEADER_VALUES = st.one_of(
    st.sampled_from([b"chunked", b"application/json", b"100-continue", b"-1", b"99999999999999999999", b"5"]),
    st.binary(max_size=30),
)


@st.composite
def requests(draw) -> bytes:
    method = draw(METHODS)
    target = draw(TARGETS)
    version = draw(st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2.0", b"HTTP/1.1 x", b""]))
    headers = draw(st.lists(st.tuples(HEADER_NAMES, HEADER_VALUES), max_size=6))
    separator = draw(st.sampled_from([b"\r\n", b"\n", b"\r"]))
    body = draw(st.binary(max_size=64))
    head = method + b" " + target + b" " + version + separator
    head += b"".join(name + b": " + value + separator for name, value in headers)
    return head + separator + body


PAYLOADS = st.one_of(st.binary(min_size=1, max_size=512), requests())


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory):
    running = RunningListener(
        build_router(Probe()),
        tmp_path_factory.mktemp("fuzz"),
        Limits(header_timeout=0.5, body_timeout=0.5, keepalive_timeout=0.5),
    )
    yield running
    running.stop()


def exchange(running, payload: bytes) -> bytes:
    context: ssl.SSLContext = client_context(running.ca_file)
    raw = socket.create_connection(running.address, timeout=10)
    with context.wrap_socket(raw, server_hostname="localhost") as sock:
        try:
            sock.sendall(payload)
        except OSError:
            return b""
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except (OSError, ssl.SSLError):
            pass
        return received


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=PAYLOADS)
def test_garbage_never_gets_a_5xx_or_a_leak(fuzz_server, payload):
    received = exchange(fuzz_server, payload)
    for line in received.split(b"\r\n"):
        if line.startswith(b"HTTP/1.1 "):
            status = int(line.split(b" ")[1])
            assert 100 <= status < 500, received[:200]
    assert b"Traceback" not in received
    assert b"Error(" not in received


def test_server_still_serves_after_the_fuzzing(fuzz_server):
    received = exchange(fuzz_server, b"GET /hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    assert received.startswith(b"HTTP/1.1 200 OK")
