"""Liveness, readiness, identity, metrics and the OpenAPI document of a real server,
on SQLite and PostgreSQL."""

from __future__ import annotations

import httpx
import pytest
from openapi_spec_validator import validate

from server import __version__
from server.db.migrate import head_revision
from server.tls import client_context
from shared.crypto import certificate_fingerprint
from testkit.servers import RunningServer, server_settings


@pytest.fixture
def running(tmp_path, database_url):
    server = RunningServer(server_settings(tmp_path, database_url))
    yield server
    server.stop()


@pytest.fixture
def http(running):
    with httpx.Client(base_url=running.base_url, verify=client_context(running.ca_file)) as client:
        yield client


def test_livez(http):
    response = http.get("/livez")
    assert response.status_code == 200
    assert response.json() == {"status": "alive"}


def test_readyz_when_ready(http):
    response = http.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"database": "ok", "schema": "ok"}}


def test_readyz_fails_while_draining(running, http):
    running.server.state.draining = True
    response = http.get("/readyz")
    assert response.status_code == 503
    assert response.json()["status"] == "draining"


def test_readyz_fails_when_the_schema_is_not_at_head(running, http):
    from sqlalchemy import text

    async def rewind() -> None:
        async with running.server.database.transaction(write=True) as connection:
            await connection.execute(text("UPDATE alembic_version SET version_num = 'ffff'"))

    running.run(rewind())
    response = http.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "not_ready", "checks": {"database": "ok", "schema": "not_at_head"}}


def test_server_info_identifies_the_server_and_its_ca(running, http):
    info = http.get("/api/v1/server-info").json()
    assert info["name"] == "kluis"
    assert info["version"] == __version__
    assert info["schema_revision"] == head_revision()
    assert info["ca_fingerprint"] == certificate_fingerprint(running.ca_file.read_bytes())
    assert info["time"].endswith("Z")


def test_metrics_are_served_on_their_own_address(running, http):
    http.get("/livez")
    http.get("/nowhere")
    assert http.get("/metrics").status_code == 404
    _, port = running.metrics_address
    with httpx.Client(verify=client_context(running.ca_file)) as client:
        response = client.get(f"https://localhost:{port}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = response.text
    assert 'kluis_http_requests_total{listener="api",method="GET",route="/livez",status="200"} 1.0' in text
    assert 'kluis_http_requests_total{listener="api",method="GET",route="-",status="404"} 2.0' in text
    assert 'kluis_http_request_duration_seconds_bucket{le="0.001",listener="api",route="/livez"}' in text
    assert 'kluis_http_open_connections{listener="api"} 1.0' in text
    assert "kluis_tls_handshake_failures_total" in text


def test_openapi_document_is_valid_and_lists_every_route(running, http):
    document = http.get("/api/openapi.json").json()
    validate(document)
    from server.app import build_application
    from server.http.openapi import openapi_path

    application = build_application(running.server.state)
    listed = {
        (path, method.upper()) for path, operations in document["paths"].items() for method in operations
    }
    expected = {(openapi_path(route.path), route.method) for route in application.api}
    assert listed == expected
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert operation["responses"], (path, method)
            assert "security" in operation, (path, method)
            assert operation["operationId"]
    assert "bearerAuth" in document["components"]["securitySchemes"]
    assert "ErrorBody" in document["components"]["schemas"]
