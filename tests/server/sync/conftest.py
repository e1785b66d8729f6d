"""A real server with the identity API and sync, on SQLite and PostgreSQL, and signed-in
headless consoles."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest

from server.config import Settings
from server.tls import client_context
from testkit.auth import FAST_ARGON2, AuthClient, Device, Staff, provision
from testkit.servers import RunningServer, server_settings
from testkit.sync import HeadlessConsole


@pytest.fixture
def sync_settings(tmp_path, database_url) -> Settings:
    return server_settings(tmp_path, database_url, **FAST_ARGON2)


@pytest.fixture
def sync_server(sync_settings) -> Iterator[RunningServer]:
    server = RunningServer(sync_settings)
    yield server
    server.stop()


@pytest.fixture
def http(sync_server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sync_server.base_url, verify=client_context(sync_server.ca_file)) as client:
        yield client


class SignedIn:
    def __init__(self, staff: Staff, session: dict, http: httpx.Client) -> None:
        self.staff = staff
        self.session = session
        self.http = http
        self.branch_id = uuid.UUID(session["user"]["branch"]["id"])

    def console(self) -> HeadlessConsole:
        return HeadlessConsole(self.http, self.session["access_token"])


@pytest.fixture
def sign_in(sync_settings, http) -> Callable[..., SignedIn]:
    auth = AuthClient(http)

    def make(username: str, *roles: str, branch_code: str = "JHB01") -> SignedIn:
        staff = provision(sync_settings, username, roles or ("teller",), branch_code=branch_code)
        session = auth.session(staff, Device())
        return SignedIn(staff, session, http)

    return make
