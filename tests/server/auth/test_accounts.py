"""Accounts and branches: validation, uniqueness on both backends, listing."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from server.auth import accounts
from server.auth.accounts import AccountError, Actor

NOW = dt.datetime(2026, 11, 28, 8, 0, tzinfo=dt.UTC)
LIFETIME = dt.timedelta(hours=72)


async def refused(coroutine) -> AccountError:
    with pytest.raises(AccountError) as caught:
        await coroutine
    return caught.value


async def test_accounts_are_validated_and_unique(database):
    async with database.transaction(write=True) as connection:
        branch = await accounts.create_branch(
            connection,
            code="jhb01",
            name=" Johannesburg  Central ",
            region="Gauteng",
            actor=Actor.cli(),
            now=NOW,
        )
        assert (branch.code, branch.name) == ("JHB01", "Johannesburg Central")

        def create(**overrides):
            values = {
                "username": "Thandi.M",
                "display_name": "Thandi M",
                "branch_id": branch.id,
                "roles": ["teller"],
                "enrollment_lifetime": LIFETIME,
                "actor": Actor.cli(),
                "now": NOW,
            }
            values.update(overrides)
            return accounts.create_account(connection, **values)

        account, code = await create()
        assert account.username == "thandi.m"
        assert code.expires_at == NOW + LIFETIME
        assert (await refused(create())).code == "username_taken"
        assert (await refused(create(username="x"))).code == "invalid_username"
        assert (await refused(create(username="has space"))).code == "invalid_username"
        assert (await refused(create(username="ok.name", roles=[]))).code == "invalid_role"
        assert (await refused(create(username="ok.name", roles=["root"]))).code == "invalid_role"
        assert (await refused(create(username="ok.name", display_name="\x00"))).code == "invalid_display_name"
        assert (await refused(create(username="ok.name", branch_id=uuid.uuid4()))).code == "unknown_branch"
        duplicate = await refused(
            accounts.create_branch(
                connection, code="JHB01", name="Again", region="Gauteng", actor=Actor.cli(), now=NOW
            )
        )
        assert (duplicate.status, duplicate.code) == (409, "branch_code_taken")


async def test_listing_and_admin_counts(database):
    async with database.transaction(write=True) as connection:
        head = await accounts.create_branch(
            connection, code="HO", name="Head", region="Gauteng", actor=Actor.cli(), now=NOW
        )
        cape = await accounts.create_branch(
            connection, code="CPT01", name="Cape", region="WC", actor=Actor.cli(), now=NOW
        )
        for username, branch, roles in (
            ("admin", head, ["admin"]),
            ("auditor", head, ["auditor"]),
            ("teller", cape, ["teller", "supervisor"]),
        ):
            await accounts.create_account(
                connection,
                username=username,
                display_name=username,
                branch_id=branch.id,
                roles=roles,
                enrollment_lifetime=LIFETIME,
                actor=Actor.cli(),
                now=NOW,
            )
        assert await accounts.count_admins(connection) == 1
        assert await accounts.count_active_admins(connection) == 1
        everyone = await accounts.list_accounts(connection)
        assert [account.username for account in everyone] == ["admin", "auditor", "teller"]
        assert everyone[2].roles == ("supervisor", "teller")
        assert all(account.enrollment_pending for account in everyone)
        capeonly = await accounts.list_accounts(connection, branch_id=cape.id)
        assert [account.username for account in capeonly] == ["teller"]
        admin = everyone[0]
        await accounts.set_active(connection, admin.id, False, actor=Actor.cli(), now=NOW)
        assert await accounts.count_active_admins(connection) == 0
        assert [account.username for account in await accounts.list_accounts(connection, active=False)] == [
            "admin"
        ]
        assert [branch.code for branch in await accounts.list_branches(connection)] == ["CPT01", "HO"]
