"""What a search means: exact ID and phone numbers through keyed hashes, names by part."""

from __future__ import annotations

import hashlib
import hmac

from console.customers.queries import interpret
from console.sync.derive import Deriver, fold


class KeyedStore:
    def __init__(self, key: bytes) -> None:
        self.deriver = Deriver(key)


def test_numbers_become_keyed_hashes_and_anything_else_a_folded_name():
    key = b"k" * 32
    store = KeyedStore(key)
    by_id = interpret(" 8001015009087 ", store)
    assert by_id.kind == "id_number"
    assert by_id.hash == hmac.new(key, b"id_number\x008001015009087", hashlib.sha256).digest()
    assert by_id.name == ""
    by_phone = interpret("082 123 4567", store)
    assert by_phone.kind == "phone"
    assert by_phone.hash == interpret("+27821234567", store).hash
    assert by_phone.hash != hmac.new(b"x" * 32, b"phone\x00+27821234567", hashlib.sha256).digest()
    assert interpret("  Van  der MERWE ", store).name == "van der merwe"
    assert interpret("", store).kind == "all"
    assert fold("Nkosi  Thandi") == "nkosi thandi"


def test_an_erased_customer_sorts_last_and_has_no_hashes():
    deriver = Deriver(b"k" * 32)
    erased = deriver.derive("customer", {"branch_id": "b", "fields": None})
    assert (
        erased.sort_key
        > deriver.derive("customer", {"fields": {"surname": "Zz", "first_names": "Z"}}).sort_key
    )
    assert (erased.id_hash, erased.phone_hash) == (None, None)
