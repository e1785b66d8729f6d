"""The engine against a real server: a first sync, an edit that shows at once and is
confirmed by the next pull, and the store's state equal to the server's."""

from __future__ import annotations

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
