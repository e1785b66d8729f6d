"""What a thief would find: the synced customers are in the vault file, but no name or ID
number in clear, and flipping bytes in the file gives the vault's integrity error."""

from __future__ import annotations

import datetime as dt

import pytest

from console.vault.database import SIDE_FILES
from console.vault.errors import VaultCorrupt
from console.vault.keyring_store import KeyringStore
from console.vault.vault import Vault
from testkit.sync import sa_id_number


def test_synced_customers_are_not_in_the_file_in_clear_and_tampering_is_detected(run, consoles):
    number = sa_id_number(dt.date(1979, 11, 23))

    async def scenario():
        teller = await consoles.sign_in(await consoles.staff("buhle", "teller"))
        await teller.create_customer(
            first_names="Nomvuyiso", surname="Qwabe-Mthembu", id_number=number, date_of_birth="1979-11-23"
        )
        await teller.sync()
        assert len(await teller.server_customers()) == 1
        await teller.session.close("signed_out")  # folds the write-ahead log into the file
        return teller

    teller = run(scenario())
    vault = teller.session.vault
    files = [vault.path, *(vault.path.with_name(vault.path.name + suffix) for suffix in SIDE_FILES)]
    contents = b"".join(path.read_bytes() for path in files if path.exists())
    assert len(contents) > 8192
    for secret in (b"Nomvuyiso", b"Qwabe-Mthembu", number.encode(), number[-4:].encode() + b'"'):
        assert secret not in contents

    data = bytearray(vault.path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 16] = bytes(byte ^ 0xFF for byte in data[middle : middle + 16])
    vault.path.write_bytes(bytes(data))
    with pytest.raises(VaultCorrupt) as corrupt:
        Vault.open_with_password(vault.directory, teller.staff.password, keyring=KeyringStore())
    assert str(vault.path) in str(corrupt.value)
