"""The derived search hashes are stored in every vault: their form may never change."""

from __future__ import annotations

import hashlib
import hmac
import threading

from console.sync.derive import Deriver

KEY = bytes(range(32))


def test_a_search_hash_is_hmac_sha256_of_kind_nul_value_as_vaults_already_hold_them():
    deriver = Deriver(KEY)
    # Pinned: vaults written by earlier versions hold exactly these.
    assert deriver.search_hash("phone", "+27821234567").hex() == (
        "6851b5c694d238d717913717c4e54f431a8b18b0e6082c3d64a9115b1a63e7e7"
    )
    assert deriver.search_hash("id_number", "9202204720082").hex() == (
        "67d210d5bc6ed72fe7dac77aefa217866d86dadf0ea62dc5a858891430c19bb5"
    )
    for kind, value in (("phone", ""), ("id_number", "é" * 300), ("phone", "+27 82 123 4567")):
        expected = hmac.new(KEY, f"{kind}\x00{value}".encode(), hashlib.sha256).digest()
        assert deriver.search_hash(kind, value) == expected


def test_hashes_made_at_once_on_several_threads_do_not_mix():
    deriver = Deriver(KEY)
    values = [f"+2782{n:07d}" for n in range(2000)]
    expected = {
        value: hmac.new(KEY, b"phone\x00" + value.encode(), hashlib.sha256).digest() for value in values
    }
    wrong: list[str] = []

    def hash_all() -> None:
        wrong.extend(value for value in values if deriver.search_hash("phone", value) != expected[value])

    threads = [threading.Thread(target=hash_all) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []
