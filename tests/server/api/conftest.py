"""A real server over TLS with the identity API, on SQLite and PostgreSQL, and helpers to
provision staff and sign them in."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from server.config import Settings
from server.tls import client_context
from testkit.auth import FAST_ARGON2, AuthClient, Staff, provision
from testkit.servers import RunningServer, server_settings


@pytest.fixture
def auth_settings(tmp_path, database_url) -> Settings:
    return server_settings(tmp_path, database_url, **FAST_ARGON2)


@pytest.fixture
def auth_server(auth_settings) -> Iterator[RunningServer]:
    server = RunningServer(auth_settings)
    yield server
    server.stop()


@pytest.fixture
def auth_http(auth_server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=auth_server.base_url, verify=client_context(auth_server.ca_file)) as client:
        yield client


@pytest.fixture
def auth(auth_http) -> AuthClient:
    return AuthClient(auth_http)


@pytest.fixture
def make_staff(auth_settings) -> Callable[..., Staff]:
    def make(username: str, *roles: str, branch_code: str = "JHB01") -> Staff:
        return provision(auth_settings, username, roles or ("teller",), branch_code=branch_code)

    return make
