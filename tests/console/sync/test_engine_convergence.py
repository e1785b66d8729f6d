"""Two consoles edit while the server is down, reconnect and converge; lost answers and
retries never apply anything twice; a refused change needs attention and its optimistic
effect goes away."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from console.sync import engine as sync_engine
from console.sync.engine import PULL_PATH, PUSH_PATH
from console.sync.errors import SyncUnavailable
from testkit.console_sync import server_customer_versions
from testkit.sync import sa_id_number


async def _two_tellers(consoles):
    first = await consoles.sign_in(await consoles.staff("naledi", "teller"))
    second = await consoles.sign_in(await consoles.staff("sipho", "teller"))
    return first, second


def test_two_consoles_edit_offline_reconnect_and_converge(
    run, consoles_on_each_backend, servers_on_each_backend
):
    consoles, holder = consoles_on_each_backend, servers_on_each_backend

    async def before():
        first, second = await _two_tellers(consoles)
        shared = await first.create_customer(first_names="Ayanda", surname="Zulu")
        await first.sync()
        await second.sync()
        assert shared in await second.customers()
        return first, second, shared

    first, second, shared = run(before())
    holder.stop()

    async def offline():
        await first.update_customer(shared, phone="0821112222")
        mine = await first.create_customer(first_names="Bongani", surname="Dube")
        await second.update_customer(shared, email="ayanda@example.org")
        theirs = await second.create_customer(first_names="Carmen", surname="Pillay")
        with pytest.raises(SyncUnavailable):
            await first.sync()
        seen = await first.customers()  # offline work shows on the console that did it
        assert seen[shared]["fields"]["phone"] == "+27821112222"
        assert seen[mine]["fields"]["surname"] == "Dube"
        assert (await second.customers())[shared]["fields"]["email"] == "ayanda@example.org"
        assert (await first.counts()).mutations == 2
        return mine, theirs

    mine, theirs = run(offline())
    holder.start()

    async def after():
        await first.sync()
        await second.sync()
        await first.sync()
        for console in (first, second):
            # On PostgreSQL a commit becomes pullable once older transactions end: allow a moment.
            for _ in range(50):
                if len(await console.server_customers()) == 3:
                    break
                await asyncio.sleep(0.1)
                await console.sync()
        one, two = await first.customers(), await second.customers()
        assert one == two
        assert set(one) == {shared, mine, theirs}
        assert one[shared]["fields"]["phone"] == "+27821112222"  # each field's last writer wins
        assert one[shared]["fields"]["email"] == "ayanda@example.org"
        assert one == await first.server_customers()  # nothing is left only locally
        assert (await first.counts()).mutations == 0
        assert (await second.counts()).mutations == 0

    run(after())
    versions = server_customer_versions(holder.settings)
    assert versions == {shared: 3, mine: 1, theirs: 1}


def test_lost_answers_are_retried_without_applying_anything_twice(run, consoles):
    async def scenario():
        teller = await consoles.sign_in(await consoles.staff("lindiwe", "teller"))
        await teller.sync()
        created = [await teller.create_customer(surname=f"Ndlovu{n}") for n in range(3)]
        await teller.update_customer(created[0], phone="0831234567")
        teller.flaky.lose(PUSH_PATH)  # the server applies the batch; the answer never arrives
        with pytest.raises(SyncUnavailable):
            await teller.sync()
        assert (await teller.counts()).mutations == 4
        await teller.sync()
        # Enough records for several pages, and an answer lost half way through the pull.
        for n in range(120):
            await teller.create_customer(surname=f"Page{n:03d}")
        await teller.sync()
        other = await consoles.sign_in(await consoles.staff("ntsako", "teller"))
        other.flaky.lose(PULL_PATH)
        with pytest.raises(SyncUnavailable):
            await other.sync()
        pulls_before = other.flaky.sent.count(PULL_PATH)
        await other.sync()
        assert await other.customers() == await teller.customers()
        assert len(await other.customers()) == 123
        assert (await teller.counts()).mutations == 0
        return created, other.flaky.sent.count(PULL_PATH) - pulls_before

    created, pulls = run(scenario())
    assert pulls >= 3  # 123 records at 50 a page: the pull went on over several pages
    versions = server_customer_versions(consoles.server.settings)
    assert len(versions) == 123
    assert versions[created[0]] == 2  # created once, updated once: the resent batch was skipped
    assert all(versions[customer] == 1 for customer in created[1:])


@pytest.mark.parametrize(
    ("limit", "value"),
    [
        ("STAGE_BATCH_ROWS", 50),  # each 50-record page fills a batch
        ("STAGE_BATCH_SECONDS", 0.0),  # each page finds its batch gathering long enough
    ],
)
def test_a_long_pull_keeps_its_batches_and_a_cut_resumes_after_the_last_one(
    run, consoles, monkeypatch, limit, value
):
    monkeypatch.setattr(sync_engine, limit, value)

    async def scenario():
        teller = await consoles.sign_in(await consoles.staff("zanele", "teller"))
        for n in range(120):
            await teller.create_customer(surname=f"Batch{n:03d}")
        await teller.sync()
        other = await consoles.sign_in(await consoles.staff("themba", "teller"))
        other.flaky.lose(PULL_PATH, after=2)  # pages of 50, 50 and 20: the third answer is lost
        with pytest.raises(SyncUnavailable):
            await other.sync()
        _, staging = await other.blocking(other.store.sync_client)
        assert staging is not None
        assert staging.cursor
        assert await other.customers() == {}  # kept, but not shown until the pull completes
        assert other.store._engine.pool.checkedout() == 0  # the cut pull gave its connection back
        before = other.flaky.sent.count(PULL_PATH)
        await other.sync()
        assert await other.customers() == await teller.customers()
        assert len(await other.customers()) == 120
        return other.flaky.sent.count(PULL_PATH) - before

    assert run(scenario()) == 1  # only the lost page was asked for again


def test_a_refused_change_needs_attention_and_its_optimistic_effect_goes(run, consoles):
    async def scenario():
        first, second = await _two_tellers(consoles)
        await first.sync()
        await second.sync()
        number = sa_id_number(dt.date(1985, 7, 3))
        taken = await second.create_customer(id_number=number, date_of_birth="1985-07-03")
        await second.sync()
        duplicate = await first.create_customer(
            first_names="Dup", surname="Licate", id_number=number, date_of_birth="1985-07-03"
        )
        assert duplicate in await first.customers()  # the console cannot know yet
        await first.sync()
        shown = await first.customers()
        assert duplicate not in shown
        assert taken in shown
        items = await first.blocking(first.store.attention)
        assert [(item.code, item.record_id) for item in items] == [("duplicate_id_number", str(duplicate))]
        assert items[0].args is not None
        assert items[0].args["fields"]["first_names"] == "Dup"  # what was typed is kept
        counts = await first.counts()
        assert (counts.mutations, counts.attention) == (0, 1)
        await first.sync()  # seen once, kept once
        assert len(await first.blocking(first.store.attention)) == 1
        await first.blocking(lambda: first.store.dismiss("mutation", items[0].ref))
        assert (await first.counts()).attention == 0

    run(scenario())
