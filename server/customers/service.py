"""The customer register as the rest of the server sees it."""

from __future__ import annotations

from dataclasses import dataclass

from server.auth.keystore import load_sealing_key
from server.config import Settings
from server.customers.keys import CustomerKeyStore, key_database_url
from server.customers.mutations import CustomerCommands
from server.customers.store import CustomerStore
from server.customers.tables import customers
from server.customers.vault import CustomerVault
from server.sync.feed import SyncedType

CUSTOMER_MASTER_KEY = "customer-master"
CUSTOMER_TYPE_CODE = 1


@dataclass(frozen=True)
class CustomerRegister:
    store: CustomerStore
    commands: CustomerCommands
    synced: SyncedType

    @classmethod
    def create(cls, settings: Settings) -> CustomerRegister:
        key = load_sealing_key(
            CUSTOMER_MASTER_KEY,
            keys_dir=settings.data_dir / "keys",
            key_file=settings.customer_master_key_file,
        )
        return cls.assemble(CustomerVault(key.key), CustomerKeyStore(key_database_url(settings)))

    @classmethod
    def assemble(cls, vault: CustomerVault, keys: CustomerKeyStore) -> CustomerRegister:
        store = CustomerStore(vault, keys)
        return cls(
            store=store,
            commands=CustomerCommands(store),
            synced=SyncedType(
                name="customer",
                code=CUSTOMER_TYPE_CODE,
                table=customers,
                columns=store.sync_columns,
                encode=store.encoded,
            ),
        )

    async def start(self) -> None:
        await self.store.keys.prepare()

    async def close(self) -> None:
        await self.store.keys.close()
