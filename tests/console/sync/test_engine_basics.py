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
