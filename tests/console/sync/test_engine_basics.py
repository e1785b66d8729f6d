"""The engine against a real server: a first sync, an edit that shows at once and is
confirmed by the next pull, and the store's state equal to the server's; pages keep
coming while a batch is kept, and a batch that cannot be kept ends the pull."""

from __future__ import annotations

import asyncio
import time

import pytest

from console.sync import engine as sync_engine
from console.sync.errors import SyncUnavailable
from console.sync.store import PullBatch, StoreFailed
from testkit.console_sync import server_customer_versions


def test_an_edit_shows_at_once_and_the_next_sync_confirms_it(run, consoles):
    async def scenario():
        teller = await consoles.sign_in(await consoles.staff("thandi", "teller"))
        first = await teller.sync()
        assert first.reset  # a first pull starts from nothing
        customer = await teller.create_customer(first_names="Lerato", surname="Mokoena")
        shown = await teller.customers()
        assert shown[customer]["fields"]["surname"] == "Mokoena"  # optimistic, before any push
        assert await teller.server_customers() == {}
        assert (await teller.counts()).mutations == 1
        applied = await teller.sync()
        assert applied.confirmed == 1
        assert (await teller.counts()).mutations == 0
        server_side = await teller.server_customers()
        assert set(server_side) == {customer}
        assert server_side[customer]["fields"]["first_names"] == "Lerato"
        assert teller.session.vault.path.exists()
        return customer

    customer = run(scenario())
    versions = server_customer_versions(consoles.server.settings)
    assert versions == {customer: 1}


def test_the_next_page_is_asked_for_before_the_last_ones_changes_are_validated(run, consoles):
    """The server makes the next page while this console validates and derives the last:
    the next request needs only the last page's envelope."""

    async def scenario():
        teller = await consoles.sign_in(await consoles.staff("nomsa", "teller"))
        for n in range(120):
            await teller.create_customer(surname=f"Page{n:03d}")
        await teller.sync()
        other = await consoles.sign_in(await consoles.staff("sizwe", "teller"))
        engine, steps = other.engine, []
        fetch_page, digest = engine._fetch_page, engine._digest

        def spied_fetch(client):
            steps.append("ask")
            return fetch_page(client)

        def spied_digest(changes):
            steps.append(f"digest {len(changes)}")
            return digest(changes)

        engine._fetch_page, engine._digest = spied_fetch, spied_digest
        await other.sync()
        assert len(await other.customers()) == 120
        return steps

    # Pages of 50, 50 and 20: each page after the first is asked for before the one
    # before it is digested.
    assert run(scenario()) == ["ask", "ask", "digest 50", "ask", "digest 50", "digest 20"]


async def _two_hundred_customers(consoles):
    teller = await consoles.sign_in(await consoles.staff("lindiwe", "teller"))
    for n in range(200):
        await teller.create_customer(surname=f"Keep{n:03d}")
    await teller.sync()
    return await consoles.sign_in(await consoles.staff("mpho", "teller"))


def test_pages_are_fetched_and_digested_while_a_batch_is_kept(run, consoles, monkeypatch):
    monkeypatch.setattr(sync_engine, "STAGE_BATCH_ROWS", 50)  # pages of 50: a batch each
    steps: list[str] = []
    keep = PullBatch.keep

    def slow_keep(batch):
        steps.append("keep starts")
        time.sleep(1.0 if steps.count("keep starts") == 1 else 0)
        keep(batch)
        steps.append("keep ends")

    async def scenario():
        other = await _two_hundred_customers(consoles)
        monkeypatch.setattr(PullBatch, "keep", slow_keep)
        digest = other.engine._digest

        def spied_digest(changes):
            steps.append("digest")
            return digest(changes)

        other.engine._digest = spied_digest
        await other.sync()
        return len(await other.customers())

    assert run(scenario()) == 200
    during_first_keep = steps[steps.index("keep starts") : steps.index("keep ends")]
    assert during_first_keep.count("digest") >= 2  # pages 2 and 3 did not wait for it


def test_a_batch_that_cannot_be_kept_ends_the_pull_with_nothing_applied(run, consoles, monkeypatch):
    monkeypatch.setattr(sync_engine, "STAGE_BATCH_ROWS", 50)
    monkeypatch.setattr(sync_engine, "PAGES_AHEAD", 1)  # the fetching side soon waits on a full queue
    keep = PullBatch.keep

    def failing_keep(_batch):
        time.sleep(0.5)
        raise StoreFailed()

    async def scenario():
        other = await _two_hundred_customers(consoles)
        monkeypatch.setattr(PullBatch, "keep", failing_keep)
        with pytest.raises(SyncUnavailable):
            await asyncio.wait_for(other.sync(), 30)  # ends with the error; never hangs
        assert await other.customers() == {}
        _, staging = await other.blocking(other.store.sync_client)
        assert staging is None
        assert other.store._engine.pool.checkedout() == 0
        monkeypatch.setattr(PullBatch, "keep", keep)
        await other.sync()
        return len(await other.customers())

    assert run(scenario()) == 200
