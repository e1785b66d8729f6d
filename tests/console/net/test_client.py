"""The server client against real servers over real TLS 1.3, and against canned answers."""

from __future__ import annotations

import asyncio
import json

import pytest

from console.net.client import MAX_RESPONSE_BYTES, ServerClient
from console.net.errors import (
    InvalidResponse,
    NoServerAvailable,
    ServerHTTPError,
    ServerUnreachable,
    TLSHandshakeFailed,
    TLSVerificationFailed,
)
from console.net.models import ServerInfo
from console.net.trust import load_trust_anchor
from server import __version__
from server.db.migrate import head_revision
from shared.crypto import certificate_fingerprint


def test_server_info_over_verified_tls13(run, server, trust):
    async def scenario():
        client = ServerClient([server.base_url], trust)
        try:
            return await client.server_info()
        finally:
            await client.aclose()

    reply = run(scenario())
    assert reply.server == server.base_url
    assert reply.tls_version == "TLSv1.3"
    assert reply.body.version == __version__
    assert reply.body.schema_revision == head_revision()
    assert reply.body.ca_fingerprint == certificate_fingerprint(server.ca_file.read_bytes())
    assert reply.request_id
    assert reply.sent_at <= reply.received_at
    assert reply.received_at.tzinfo is not None


def test_readiness_and_liveness(run, server, trust):
    async def scenario():
        client = ServerClient([server.base_url], trust)
        try:
            return await client.readiness(), await client.liveness()
        finally:
            await client.aclose()

    readiness, liveness = run(scenario())
    assert readiness.status == 200
    assert readiness.body.status == "ready"
    assert readiness.body.checks.database == "ok"
    assert liveness.body.status == "alive"


def test_a_server_with_a_certificate_from_another_ca_is_refused(run, servers):
    server = servers.start("real")
    stranger = servers.start("stranger")
    trusted = load_trust_anchor(stranger.ca_file)

    async def scenario():
        client = ServerClient([server.base_url], trusted)
        try:
            await client.server_info()
        finally:
            await client.aclose()

    with pytest.raises(TLSVerificationFailed) as failure:
        run(scenario())
    assert failure.value.expected_fingerprint == trusted.fingerprint
    assert trusted.fingerprint in str(failure.value)
    assert "TLS verification failed" in str(failure.value)
    assert failure.value.server == server.base_url


def test_a_server_that_cannot_speak_tls13_is_refused(run, canned):
    body = json.dumps({"status": "alive"}).encode()
    server = canned.serve(canned.response("200 OK", body), canned.tls12_only())

    async def scenario():
        client = ServerClient([server.url], canned.trust)
        try:
            await client.liveness()
        finally:
            await client.aclose()

    with pytest.raises(TLSHandshakeFailed, match=r"does not offer TLS 1\.3"):
        run(scenario())


def test_an_error_answer_carries_the_servers_code_message_and_request_id(run, server, trust):
    async def scenario():
        client = ServerClient([server.base_url], trust)
        try:
            await client.get("/api/v1/no-such-thing", ServerInfo)
        finally:
            await client.aclose()

    with pytest.raises(ServerHTTPError) as failure:
        run(scenario())
    error = failure.value
    assert error.status == 404
    assert error.code == "not_found"
    assert error.server_message
    assert error.request_id
    assert error.request_id in str(error)
    assert "404 not_found" in str(error)


def test_an_unreachable_server_is_named(run, trust, closed_port):
    url = f"https://localhost:{closed_port}"

    async def scenario():
        client = ServerClient([url], trust)
        try:
            await client.liveness()
        finally:
            await client.aclose()

    with pytest.raises(ServerUnreachable) as failure:
        run(scenario())
    assert failure.value.server == url
    assert str(failure.value) == f"Cannot reach {url}: the connection was refused."


def test_fails_over_in_order_and_remembers_the_server_that_answered(run, servers, closed_port):
    first = servers.start("one")
    second = servers.start("two", port=0)
    # Both servers must be trusted by one CA: the second serves the first's certificate.
    servers.stop(second)
    (second_dir := second.settings.data_dir / "tls").mkdir(exist_ok=True)
    for name in ("ca.pem", "ca-key.pem", "server.pem", "server-key.pem"):
        (second_dir / name).write_bytes((first.settings.data_dir / "tls" / name).read_bytes())
    second = servers.start("two")
    trust = load_trust_anchor(first.ca_file)
    dead = f"https://localhost:{closed_port}"
    changes: list[str] = []

    async def scenario():
        client = ServerClient(
            [dead, first.base_url, second.base_url], trust, on_server_changed=changes.append
        )
        try:
            answered = [(await client.liveness()).server]
            assert client.current == first.base_url
            answered.append((await client.liveness()).server)
            await asyncio.to_thread(servers.stop, first)
            answered.append((await client.liveness()).server)
            assert client.current == second.base_url
            return answered
        finally:
            await client.aclose()

    assert run(scenario()) == [first.base_url, first.base_url, second.base_url]
    assert changes == [first.base_url, second.base_url]


def test_a_remembered_server_is_tried_first(run, servers):
    first = servers.start("one")
    trust = load_trust_anchor(first.ca_file)
    other = "https://localhost:1"

    async def scenario():
        client = ServerClient([other, first.base_url], trust, preferred=first.base_url)
        try:
            return client.current, (await client.liveness()).server
        finally:
            await client.aclose()

    assert run(scenario()) == (first.base_url, first.base_url)


def test_when_every_server_fails_each_failure_is_reported(run, servers, closed_port):
    server = servers.start("real")
    stranger = servers.start("stranger")
    trusted = load_trust_anchor(stranger.ca_file)
    dead = f"https://localhost:{closed_port}"

    async def scenario():
        client = ServerClient([dead, server.base_url], trusted)
        try:
            await client.liveness()
        finally:
            await client.aclose()

    with pytest.raises(NoServerAvailable) as failure:
        run(scenario())
    assert [type(error) for error in failure.value.failures] == [ServerUnreachable, TLSVerificationFailed]
    assert failure.value.tls_failure() is failure.value.failures[1]
    assert trusted.fingerprint in str(failure.value)


def test_readiness_503_is_an_answer_not_an_error(run, canned):
    body = json.dumps({"status": "not_ready", "checks": {"database": "unreachable", "schema": "unknown"}})
    server = canned.serve(canned.response("503 Service Unavailable", body.encode()))

    async def scenario():
        client = ServerClient([server.url], canned.trust)
        try:
            return await client.readiness()
        finally:
            await client.aclose()

    reply = run(scenario())
    assert reply.status == 503
    assert reply.body.status == "not_ready"
    assert reply.body.checks.database == "unreachable"


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        (("200 OK", b"<html>hello</html>", "text/html"), "expected JSON, got text/html"),
        (("200 OK", b"{not json", "application/json"), "unexpected or missing fields: body"),
        (
            (
                "200 OK",
                json.dumps({"name": "kluis", "version": "8001015009087"}).encode(),
                "application/json",
            ),
            "unexpected or missing fields: api_version, schema_revision, time",
        ),
        (("302 Found", b"{}", "application/json"), "unexpected HTTP status 302"),
    ],
)
def test_answers_the_console_cannot_use_are_invalid(run, canned, response, reason):
    server = canned.serve(canned.response(*response))

    async def scenario():
        client = ServerClient([server.url], canned.trust)
        try:
            await client.server_info()
        finally:
            await client.aclose()

    with pytest.raises(InvalidResponse) as failure:
        run(scenario())
    assert reason in str(failure.value)
    assert "8001015009087" not in str(failure.value)


def test_an_oversized_answer_is_refused(run, canned):
    head = f"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {MAX_RESPONSE_BYTES + 1}"
    server = canned.serve((head + "\r\nconnection: close\r\n\r\n{}").encode())

    async def scenario():
        client = ServerClient([server.url], canned.trust)
        try:
            await client.server_info()
        finally:
            await client.aclose()

    with pytest.raises(InvalidResponse, match="larger than"):
        run(scenario())
