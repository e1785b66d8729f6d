"""The TOTP replay guard under concurrency: of two verifications of one code, one wins."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import pytest
from sqlalchemy import text

from server.auth.accounts import Actor, create_account, create_branch
from server.auth.mfa import consume_totp_step
from server.db.engine import Database
from server.http.errors import HTTPError
from testkit.auth import Device, service_sign_in


async def make_user(database: Database) -> uuid.UUID:
    now = dt.datetime.now(dt.UTC)
    async with database.transaction(write=True) as connection:
        branch = await create_branch(connection, code="B1", name="B", region="R", actor=Actor.cli(), now=now)
        account, _ = await create_account(
            connection,
            username="racer",
            display_name="Racer",
            branch_id=branch.id,
            roles=["teller"],
            enrollment_lifetime=dt.timedelta(hours=1),
            actor=Actor.cli(),
            now=now,
        )
    return account.id


async def waiting_on_a_lock(database: Database) -> int:
    async with database.engine.connect() as connection:
        return int(
            await connection.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            )
        )


@pytest.mark.postgres_only
async def test_the_second_of_two_concurrent_updates_waits_then_finds_the_step_taken(postgres):
    url = postgres.create(migrated=True)
    database = Database(url, pool_size=4)
    try:
        user_id = await make_user(database)
        step = 59_123_456
        async with database.engine.connect() as first, database.engine.connect() as second:
            await first.begin()
            await second.begin()
            assert await consume_totp_step(first, user_id, step)
            contender = asyncio.create_task(consume_totp_step(second, user_id, step))
            for _ in range(200):
                if await waiting_on_a_lock(database):
                    break
                await asyncio.sleep(0.05)
            assert await waiting_on_a_lock(database) == 1
            assert not contender.done()
            await first.commit()
            assert await contender is False
            await second.commit()
        async with database.transaction() as connection:
            stored = await connection.scalar(
                text("SELECT totp_last_step FROM users WHERE username = 'racer'")
            )
        assert stored == step
    finally:
        await database.dispose()
        postgres.drop(url)


async def test_two_concurrent_sign_ins_with_one_code_let_exactly_one_in(context, enroll):
    staff = await enroll("thandi", "teller")
    code = staff.code(at=context.clock())
    results = await asyncio.gather(
        service_sign_in(context, staff, Device(), code=code),
        service_sign_in(context, staff, Device(), code=code),
        return_exceptions=True,
    )
    errors = [result for result in results if isinstance(result, HTTPError)]
    assert len(errors) == 1
    assert errors[0].code == "invalid_credentials"
