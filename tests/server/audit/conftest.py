"""A real server over TLS on each database, and its audit API client."""

from __future__ import annotations

import pytest

from testkit.audit import AuditClient, audit_settings
from testkit.servers import RunningServer


@pytest.fixture
def running(tmp_path, database_url):
    server = RunningServer(audit_settings(tmp_path, database_url))
    yield server
    server.stop()


@pytest.fixture
def client(running):
    audit = AuditClient(running)
    yield audit
    audit.close()
