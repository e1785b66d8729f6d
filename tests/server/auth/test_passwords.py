"""Argon2id hashing and the password policy."""

from __future__ import annotations

import unicodedata

import pytest
from argon2 import extract_parameters

from server.auth.passwords import (
    MIN_LENGTH,
    Argon2Hasher,
    Argon2Parameters,
    common_passwords,
    password_problems,
)
from server.config import Settings

FAST = Argon2Parameters(memory_kib=19456, time_cost=2, parallelism=1)


async def test_hashes_are_argon2id_phc_strings_with_the_configured_costs():
    hasher = Argon2Hasher(FAST)
    stored = await hasher.hash("a long enough passphrase")
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert await hasher.verify(stored, "a long enough passphrase")
    assert not await hasher.verify(stored, "a long enough passphrasE")
    assert not await hasher.verify("not a hash", "anything")
    assert not hasher.needs_rehash(stored)


def test_defaults_are_rfc9106_and_settings_cannot_go_below_owasp():
    parameters = Argon2Parameters.from_settings(Settings())
    assert parameters == Argon2Parameters(memory_kib=65536, time_cost=3, parallelism=4)
    with pytest.raises(ValueError, match="argon2_memory_kib"):
        Settings(argon2_memory_kib=19455)
    with pytest.raises(ValueError, match="argon2_time_cost"):
        Settings(argon2_time_cost=1)


async def test_a_hash_made_with_other_costs_needs_rehashing():
    old = await Argon2Hasher(FAST).hash("a long enough passphrase")
    stronger = Argon2Hasher(Argon2Parameters(memory_kib=19456 * 2, time_cost=2, parallelism=1))
    assert stronger.needs_rehash(old)
    assert await stronger.verify(old, "a long enough passphrase")
    assert extract_parameters(stronger.dummy_hash).memory_cost == 19456 * 2


async def test_the_dummy_hash_is_a_real_hash_with_the_current_costs():
    hasher = Argon2Hasher(FAST)
    assert hasher.dummy_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert not await hasher.verify(hasher.dummy_hash, "")


async def test_composed_and_decomposed_accents_are_the_same_password():
    hasher = Argon2Hasher(FAST)
    composed = "Überwachung-Söhne-Café"
    stored = await hasher.hash(composed)
    assert await hasher.verify(stored, unicodedata.normalize("NFD", composed))


@pytest.mark.parametrize(
    ("password", "username", "problems"),
    [
        ("short1!", "thandi", ["too_short"]),
        ("x" * (MIN_LENGTH - 1), "thandi", ["too_short"]),
        ("P@ssword2024!", "thandi", ["common"]),
        ("QWERTYUIOP12", "thandi", ["common"]),
        ("springboks2023", "thandi", ["common"]),
        ("my name is Thandi, really", "thandi", ["contains_username"]),
        ("x" * 129, "thandi", ["too_long"]),
        ("thandi", "thandi", ["too_short", "contains_username"]),
        ("four random words here", "thandi", []),
        ("x" * MIN_LENGTH, "thandi", []),
    ],
)
def test_password_policy(password, username, problems):
    assert password_problems(password, username) == problems


def test_length_counts_characters_not_bytes():
    assert password_problems("ééééééééééé", "x") == ["too_short"]  # 11 characters, 22 bytes
    assert password_problems("éééééééééééé", "x") == []


def test_the_common_password_list_is_bundled_and_only_lists_what_the_length_rule_lets_through():
    listed = common_passwords()
    assert len(listed) > 5000
    assert "password1234" in listed
    assert all(len(entry) >= MIN_LENGTH for entry in listed)
    assert all(entry == entry.casefold() for entry in listed)
