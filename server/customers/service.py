"""The customer register as the rest of the server sees it."""

from __future__ import annotations

from dataclasses import dataclass

from server.auth.keystore import load_sealing_key
from server.config import Settings
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
        return cls.from_vault(CustomerVault(key.key))

    @classmethod
    def from_vault(cls, vault: CustomerVault) -> CustomerRegister:
        store = CustomerStore(vault)
        return cls(
            store=store,
            commands=CustomerCommands(store),
            synced=SyncedType(name="customer", code=CUSTOMER_TYPE_CODE, table=customers, load=store.records),
        )
