"""The customer key store on each backend: what a pull's batch lookup finds, what a
second store of the same customer keeps, what destroying a key leaves behind, and a
store written by a newer version."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import update

from server.customers.keys import SCHEMA_VERSION, CustomerKeyStore, KeyStoreError, key_store_version

NOW = dt.datetime(2026, 12, 7, 20, 30, tzinfo=dt.UTC)


@pytest.fixture
async def store(empty_database_url):
    keys = CustomerKeyStore(empty_database_url)
    await keys.prepare()
    yield keys
    await keys.close()


async def test_a_batch_lookup_returns_the_keys_that_exist_and_only_those(store):
    held = {uuid.uuid4(): n.to_bytes(2, "big") * 30 for n in range(400)}
    for customer_id, wrapped in held.items():
        assert await store.store(customer_id, wrapped, NOW) == wrapped
    missing = [uuid.uuid4() for _ in range(100)]
    asked = [*held, *missing, *list(held)[:10]]

    found = await store.wrapped_keys(asked)

    assert found == held
    assert all(isinstance(customer_id, uuid.UUID) for customer_id in found)
    assert await store.wrapped_keys([]) == {}
    assert await store.wrapped_keys(missing) == {}


async def test_the_first_key_stored_for_a_customer_wins(store):
    customer_id = uuid.uuid4()
    first = await store.store(customer_id, b"first-wrapped-key", NOW)
    second = await store.store(customer_id, b"second-wrapped-key", NOW)

    assert first == second == b"first-wrapped-key"
    assert await store.wrapped_keys([customer_id]) == {customer_id: b"first-wrapped-key"}


async def test_a_destroyed_key_is_gone_and_the_others_stay(store):
    kept, destroyed = uuid.uuid4(), uuid.uuid4()
    await store.store(kept, b"kept", NOW)
    await store.store(destroyed, b"destroyed", NOW)

    await store.destroy(destroyed)

    assert await store.wrapped_keys([kept, destroyed]) == {kept: b"kept"}


async def test_a_key_store_from_a_newer_version_is_refused(store, empty_database_url):
    async with store.database.transaction(write=True) as connection:
        await connection.execute(update(key_store_version).values(version=SCHEMA_VERSION + 1))
    again = CustomerKeyStore(empty_database_url)
    try:
        with pytest.raises(KeyStoreError, match="newer than this server"):
            await again.prepare()
    finally:
        await again.close()
