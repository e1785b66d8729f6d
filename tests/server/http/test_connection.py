"""The HTTP connection over real TLS sockets: keep-alive, pipelining, limits, timeouts."""

from __future__ import annotations

import json
import socket
import ssl
import time

import pytest

from testkit.clients import RawClient, build_request

SECURITY_HEADERS = {
    "strict-transport-security": "max-age=63072000; includeSubDomains",
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
    "referrer-policy": "no-referrer",
}


CHUNKED_ECHO = (
    b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
)


def client(running, **options):
    return RawClient(running.address, running.ca_file, **options)


def assert_error(response, status, code):
    assert response.status == status
    assert response.header("content-type") == "application/json"
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["status"] == status
    assert body["error"]["code"] == code
    assert body["error"]["request_id"] == response.header("x-request-id")
    return body["error"]


# -- TLS -------------------------------------------------------------------------------


def test_tls12_client_is_refused_at_the_handshake(serve):
    running = serve()
    context = ssl.create_default_context(cafile=str(running.ca_file))
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    raw = socket.create_connection(running.address, timeout=5)
    with pytest.raises(ssl.SSLError), context.wrap_socket(raw, server_hostname="localhost"):
        pass
    raw.close()
    failures = running.call(lambda: running.metrics.handshake_failures.labels("test")._value.get())
    deadline = time.monotonic() + 5
    while failures < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
        failures = running.call(lambda: running.metrics.handshake_failures.labels("test")._value.get())
    assert failures == 1


def test_tls13_and_alpn_http11_are_negotiated(serve):
    running = serve()
    with client(running) as c:
        assert c.sock.version() == "TLSv1.3"
        assert c.sock.selected_alpn_protocol() == "http/1.1"
        assert c.request("GET", "/hello").status == 200


def test_client_trusting_another_ca_rejects_the_server(serve, tmp_path):
    running = serve()
    from server.tls import client_context, ensure_development_tls

    other = ensure_development_tls(tmp_path / "other", [])
    with pytest.raises(ssl.SSLCertVerificationError):
        RawClient(running.address, other.ca_file, context=client_context(other.ca_file))


def test_handshake_timeout_closes_a_silent_connection(serve):
    running = serve(tls_handshake_timeout=0.5)
    raw = socket.create_connection(running.address, timeout=5)
    started = time.monotonic()
    assert raw.recv(1) == b""
    assert time.monotonic() - started < 4
    raw.close()


# -- keep-alive and pipelining ------------------------------------------------------------


def test_every_response_carries_the_security_headers_and_a_request_id(serve):
    running = serve()
    with client(running) as c:
        for method, path in [("GET", "/hello"), ("GET", "/missing"), ("GET", "/boom")]:
            response = c.request(method, path)
            for name, value in SECURITY_HEADERS.items():
                assert response.header(name) == value, (path, name)
            assert response.header("x-request-id")
            assert response.header("date")


def test_a_safe_request_id_is_echoed_and_an_unsafe_one_replaced(serve):
    running = serve()
    with client(running) as c:
        assert (
            c.request("GET", "/hello", headers={"X-Request-ID": "abc-123.x"}).header("x-request-id")
            == "abc-123.x"
        )
        replaced = c.request("GET", "/hello", headers={"X-Request-ID": "<script>alert(1)</script>"})
        assert replaced.header("x-request-id") not in {None, "<script>alert(1)</script>"}
        assert len(replaced.header("x-request-id")) == 24


def test_keep_alive_serves_several_requests_on_one_connection(serve):
    running = serve()
    with client(running) as c:
        for _ in range(5):
            response = c.request("GET", "/hello")
            assert response.status == 200
            assert response.json() == {"message": "hello"}
            assert response.header("connection") is None
    assert running.call(lambda: running.metrics.tally.requests[("test", "/hello", "GET", "200")]) == 5


def test_pipelined_requests_are_answered_in_order(serve):
    running = serve()
    with client(running) as c:
        c.send(
            build_request("GET", "/items/1")
            + build_request(
                "POST",
                "/echo",
                body=b'{"text":"two","count":2}',
                headers={"Content-Type": "application/json"},
            )
            + build_request("GET", "/items/3")
        )
        assert c.read_response().json() == {"message": "item 1"}
        assert c.read_response().json()["text"] == "two"
        assert c.read_response().json() == {"message": "item 3"}


def test_idle_keep_alive_connection_is_closed_after_the_timeout(serve):
    running = serve(keepalive_timeout=0.5)
    with client(running) as c:
        assert c.request("GET", "/hello").status == 200
        started = time.monotonic()
        assert c.is_closed(wait=5)
        assert 0.3 < time.monotonic() - started < 4


def test_head_gets_headers_without_a_body(serve):
    running = serve()
    with client(running) as c:
        response = c.request("HEAD", "/hello")
        assert response.status == 200
        assert response.header("content-length") == str(len(b'{"message":"hello"}'))
        assert c.request("GET", "/hello").json() == {"message": "hello"}


def test_204_has_no_body_or_length(serve):
    running = serve()
    with client(running) as c:
        response = c.request("DELETE", "/items/9")
        assert response.status == 204
        assert response.header("content-length") is None
        assert c.request("GET", "/hello").status == 200


# -- malformed input -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"GARBAGE\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        b"GET / HTTP/1.1\r\n\r\n",
        b"GET http://evil.example/ HTTP/1.1\r\nHost: a\r\n\r\n",
        CHUNKED_ECHO + b"ZZ\r\n",
    ],
)
def test_malformed_http_gets_400_and_close(serve, raw):
    running = serve()
    with client(running) as c:
        c.send(raw)
        response = c.read_response()
        error = assert_error(response, 400, "bad_request")
        assert response.header("connection") == "close"
        assert "Traceback" not in response.body.decode()
        assert "GARBAGE" not in error["message"]
        assert c.is_closed()


def test_handler_exception_is_500_without_detail(serve):
    running = serve()
    with client(running) as c:
        response = c.request("GET", "/boom")
        error = assert_error(response, 500, "internal_error")
        assert "8001015009087" not in response.body.decode()
        assert "RuntimeError" not in response.body.decode()
        assert error["details"] == []
        assert c.request("GET", "/hello").status == 200


def test_bad_percent_encoding_is_400(serve):
    running = serve()
    with client(running) as c:
        c.send(b"GET /items/%ff%fe HTTP/1.1\r\nHost: a\r\n\r\n")
        assert_error(c.read_response(), 400, "bad_request")


# -- size limits ---------------------------------------------------------------------------------


def test_complete_oversized_header_block_is_431(serve):
    running = serve(max_header_bytes=4096)
    with client(running) as c:
        c.send(build_request("GET", "/hello", headers={"X-Filler": "a" * 5000}))
        response = c.read_response()
        assert_error(response, 431, "headers_too_large")
        assert c.is_closed()


def test_incomplete_oversized_header_block_is_431(serve):
    running = serve(max_header_bytes=4096)
    with client(running) as c:
        c.send(b"GET /hello HTTP/1.1\r\nHost: a\r\nX-Filler: " + b"a" * 6000)
        assert_error(c.read_response(), 431, "headers_too_large")


def test_default_header_limit_is_16_kib(serve):
    running = serve()
    with client(running) as c:
        assert c.request("GET", "/hello", headers={"X-Filler": "a" * 15_000}).status == 200
        c.send(build_request("GET", "/hello", headers={"X-Filler": "a" * 17_000}))
        assert c.read_response().status == 431


def test_content_length_over_the_limit_is_413_before_the_body_is_sent(serve, probe):
    running = serve(max_body_bytes=2048)
    with client(running) as c:
        c.send(
            b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100000\r\nExpect: 100-continue\r\n\r\n"
        )
        response = c.read_response()
        assert_error(response, 413, "body_too_large")
        assert response.header("connection") == "close"
    assert probe.echo_calls == 0


def test_default_body_limit_is_8_mib(serve):
    running = serve()
    with client(running) as c:
        c.send(
            b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {8 * 1024 * 1024 + 1}\r\n\r\n".encode()
        )
        assert c.read_response().status == 413


def test_chunked_body_is_counted_while_read(serve, probe):
    running = serve(max_body_bytes=2048)
    with client(running) as c:
        c.send(CHUNKED_ECHO)
        chunk = b"x" * 1000
        try:
            for _ in range(5):
                c.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        except OSError:
            pass
        response = c.read_response()
        assert_error(response, 413, "body_too_large")
        assert response.header("connection") == "close"
    assert probe.echo_calls == 0


def test_small_chunked_body_is_accepted(serve):
    running = serve()
    body = json.dumps({"text": "chunks", "count": 3}).encode()
    with client(running) as c:
        c.send(
            CHUNKED_ECHO
            + b"%x\r\n%s\r\n" % (5, body[:5])
            + b"%x\r\n%s\r\n0\r\n\r\n" % (len(body) - 5, body[5:])
        )
        assert c.read_response().json()["text"] == "chunks"
        assert c.request("GET", "/hello").status == 200


# -- timeouts ----------------------------------------------------------------------------------------


def test_slow_request_head_gets_408(serve):
    running = serve(header_timeout=0.5)
    with client(running) as c:
        c.send(b"GET /hello HTTP/1.1\r\nHost: a\r\n")
        started = time.monotonic()
        response = c.read_response()
        assert_error(response, 408, "request_timeout")
        assert response.header("connection") == "close"
        assert time.monotonic() - started < 4
        assert c.is_closed()


def test_trickled_request_head_still_gets_408(serve):
    running = serve(header_timeout=1.0)
    with client(running) as c:
        started = time.monotonic()
        try:
            for byte in b"GET /hello HTTP/1.1\r\nHost: a\r\nX-Slow: " + b"a" * 200:
                c.send(bytes([byte]))
                time.sleep(0.02)
        except OSError:
            pass
        assert c.read_response().status == 408
        assert time.monotonic() - started < 5


def test_stalled_body_gets_408(serve, probe):
    running = serve(body_timeout=0.5)
    with client(running) as c:
        c.send(
            b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 50\r\n\r\n{"
        )
        response = c.read_response()
        assert_error(response, 408, "request_timeout")
        assert c.is_closed()
    assert probe.echo_calls == 0


# -- 100 Continue --------------------------------------------------------------------------------------


def test_100_continue_is_sent_when_the_handler_reads_the_body(serve):
    running = serve()
    body = b'{"text":"hi","count":1}'
    with client(running) as c:
        c.send(
            b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nExpect: 100-continue\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
        )
        interim = c.read_response()
        assert interim.status == 100
        c.send(body)
        final = c.read_response()
        assert final.status == 200
        assert final.json()["text"] == "hi"


def test_no_100_continue_when_the_request_is_refused_first(serve):
    running = serve()
    with client(running) as c:
        c.send(
            b"POST /protected HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
            b"Expect: 100-continue\r\nContent-Length: 20\r\n\r\n"
        )
        response = c.read_response()
        assert_error(response, 401, "unauthenticated")
        assert response.header("connection") == "close"


def test_no_100_continue_for_a_route_without_a_body(serve):
    running = serve()
    with client(running) as c:
        c.send(b"GET /hello HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n")
        assert c.read_response().status == 200


# -- capacity ------------------------------------------------------------------------------------------


def test_connections_beyond_the_maximum_get_503_and_close(serve):
    running = serve(max_connections=2)
    first, second = client(running), client(running)
    try:
        assert first.request("GET", "/hello").status == 200
        assert second.request("GET", "/hello").status == 200
        with client(running) as third:
            response = third.request("GET", "/hello")
            assert_error(response, 503, "overloaded")
            assert response.header("connection") == "close"
            assert third.is_closed()
        first.close()
        deadline = time.monotonic() + 5
        while running.call(lambda: running.listener.open_connections) > 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        with client(running) as fourth:
            assert fourth.request("GET", "/hello").status == 200
    finally:
        first.close()
        second.close()


def test_time_idle_between_keep_alive_requests_is_not_the_requests_duration(serve):
    running = serve()
    with client(running) as c:
        assert c.request("GET", "/hello").status == 200
        time.sleep(0.8)
        assert c.request("GET", "/hello").status == 200
    total = running.call(lambda: running.metrics.tally.latency[("test", "/hello")].total)
    assert total < 0.5
