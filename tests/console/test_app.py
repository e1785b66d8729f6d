"""The console end to end: a real server over real TLS 1.3, the shell window, the monitor
and the status bar, driven on a qasync loop.

Each scenario starts and closes its console inside one run of the loop, so that nothing
is left in flight when the loop stops, and makes its assertions before the window is
closed."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re

import pytest
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QAbstractButton, QLabel

from console.app import Console
from console.net.trust import load_trust_anchor
from console.profile import ProfileData
from console.ui.format import fingerprint_lines
from server import __version__
from server.db.migrate import head_revision

NOT_YET = "—"
IDENTITY_FIELDS = (
    "version",
    "api_version",
    "schema_revision",
    "readiness",
    "server_time",
    "clock_skew",
    "tls_version",
    "ca_match",
)


@pytest.fixture
def make_console(qloop):
    unexpected: list[BaseException] = []

    def make(servers, trust, **options) -> Console:
        options.setdefault("heartbeat", 0.2)
        options.setdefault("refresh", 30.0)
        return Console(qloop, servers, trust, unexpected=unexpected.append, **options)

    yield make
    assert unexpected == []


@contextlib.asynccontextmanager
async def running(console: Console):
    console.start()
    try:
        yield console
    finally:
        await console.aclose()


def text(console: Console, name: str) -> str:
    label = console.window.findChild(QLabel, name)
    assert label is not None, name
    return label.text()


def banner(console: Console) -> str:
    label = console.window.findChild(QLabel, "banner")
    return label.text() if label.isVisibleTo(console.window) else ""


def online(console: Console) -> bool:
    return text(console, "link_status") == "Online"


def test_the_window_shows_the_servers_identity_over_verified_tls13(
    run, server, trust, make_console, wait_for
):
    console = make_console([server.base_url], trust)

    async def scenario():
        async with running(console):
            await wait_for(lambda: text(console, "tls_version") != NOT_YET)
            assert text(console, "server_url") == server.base_url
            assert text(console, "version") == __version__
            assert text(console, "api_version") == "1"
            assert text(console, "schema_revision") == head_revision()
            assert text(console, "tls_version") == "TLSv1.3"
            assert text(console, "ca_fingerprint") == fingerprint_lines(trust.fingerprint)
            assert text(console, "ca_match") == "✔ The server reports the same CA fingerprint."
            assert text(console, "readiness") == "Ready (database ok, schema ok)"
            assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", text(console, "server_time"))
            assert text(console, "clock_skew").endswith("(in step)")
            assert banner(console) == ""
            assert online(console)
            assert re.fullmatch(r"Last contact: \d\d:\d\d:\d\d UTC", text(console, "last_contact"))
            assert text(console, "outbox") == "Outbox: 0"
            assert text(console, "server_in_use") == f"Server: {server.base_url}"
            assert trust.fingerprint in console.window.findChild(QLabel, "ca_in_use").toolTip()
            assert console.window.workspace_titles() == ["Server"]
            assert console.window.workspace_area.currentWidget().objectName() == "server_page"

    run(scenario())


def test_stopping_the_server_shows_offline_and_its_return_shows_online(
    run, servers, server, trust, make_console, wait_for
):
    console = make_console([server.base_url], trust)
    port = server.address[1]

    async def scenario():
        async with running(console):
            await wait_for(lambda: online(console) and text(console, "version") == __version__)
            await asyncio.to_thread(servers.stop, server)
            await wait_for(lambda: text(console, "link_status") == "Offline", timeout=10)
            assert f"Cannot reach {server.base_url}" in banner(console)
            assert "from the last successful check" in banner(console)
            assert text(console, "version") == __version__  # the last known details, marked as such
            await asyncio.to_thread(servers.start, "server", port)
            await wait_for(lambda: online(console), timeout=10)
            assert banner(console) == ""

    run(scenario())


def test_a_console_given_the_wrong_ca_refuses_the_server_and_shows_none_of_its_data(
    run, servers, make_console, wait_for
):
    server = servers.start("real")
    stranger = servers.start("stranger")
    wrong = load_trust_anchor(stranger.ca_file)
    console = make_console([server.base_url], wrong)

    async def scenario():
        async with running(console):
            await wait_for(lambda: text(console, "link_status") == "Offline")
            message = banner(console)
            assert "TLS verification failed" in message
            assert wrong.fingerprint in message
            assert console.connection.identity is None
            for name in IDENTITY_FIELDS:
                assert text(console, name) == NOT_YET
            shown = " ".join(label.text() for label in console.window.findChildren(QLabel))
            assert __version__ not in shown
            assert head_revision() not in shown
            offered = [action.text() for action in console.window.findChildren(QAction)]
            offered += [button.text() for button in console.window.findChildren(QAbstractButton)]
            assert "Refresh" in offered
            way_around = re.compile(r"trust|ignore|continue|proceed|accept|anyway|insecure", re.IGNORECASE)
            assert [choice for choice in offered if way_around.search(choice)] == []

    run(scenario())


def test_refresh_checks_the_server_now(run, server, trust, make_console, wait_for):
    console = make_console([server.base_url], trust, heartbeat=3600.0, refresh=3600.0)

    async def scenario():
        async with running(console):
            await wait_for(lambda: console.connection.identity is not None)
            first = console.connection.identity
            server.server.state.draining = True
            console.window.refresh_action.trigger()
            await wait_for(lambda: console.connection.identity is not first)
            assert text(console, "readiness") == "Shutting down (draining) (database ok, schema ok)"
            assert "not ready" in banner(console)
            assert online(console)

    run(scenario())


def test_a_server_reporting_another_ca_is_flagged(run, server, trust, make_console, wait_for):
    server.server.state.ca_fingerprint = "SHA256:" + ":".join(["00"] * 32)
    console = make_console([server.base_url], trust)

    async def scenario():
        async with running(console):
            await wait_for(lambda: console.connection.identity is not None)
            assert text(console, "ca_match").startswith("✘ The server reports a different CA:")
            assert "different from the CA this console trusts" in banner(console)

    run(scenario())


def test_the_outbox_model_feeds_the_status_bar(run, server, trust, make_console):
    console = make_console([server.base_url], trust)

    async def scenario():
        async with running(console):
            console.outbox.set_size(3)
            assert text(console, "outbox") == "Outbox: 3"
            with pytest.raises(ValueError, match="fewer than zero"):
                console.outbox.set_size(-1)
            assert text(console, "outbox") == "Outbox: 3"

    run(scenario())


def test_syncing_shows_in_the_status_bar(run, server, trust, make_console, wait_for):
    console = make_console([server.base_url], trust)

    async def scenario():
        async with running(console):
            await wait_for(lambda: online(console))
            console.connection.set_syncing(True)
            assert text(console, "link_status") == "Syncing"
            console.connection.set_syncing(False)
            assert online(console)

    run(scenario())


def test_the_server_that_answered_is_remembered_in_the_profile(
    run, server, trust, make_console, wait_for, closed_port, tmp_path
):
    dead = f"https://localhost:{closed_port}"
    profile = ProfileData(
        ca_file=trust.ca_file, ca_fingerprint=trust.fingerprint, servers=(dead, server.base_url)
    )
    console = make_console([dead, server.base_url], trust, profile=(tmp_path, profile))
    stored = tmp_path / "profile.json"

    def remembered() -> str | None:
        return json.loads(stored.read_text())["last_server"] if stored.exists() else None

    async def scenario():
        async with running(console):
            await wait_for(lambda: online(console) and remembered() == server.base_url)
            assert text(console, "server_in_use") == f"Server: {server.base_url}"

    run(scenario())


def test_closing_the_window_ends_the_console(run, server, trust, make_console):
    console = make_console([server.base_url], trust)

    async def scenario():
        async with running(console):
            console.window.close()
            await asyncio.wait_for(console.closed.wait(), 5)
            assert not console.window.isVisible()

    run(scenario())
