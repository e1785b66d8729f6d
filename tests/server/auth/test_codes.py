"""Enrollment and recovery codes: random, readable, stored only as user-bound hashes."""

from __future__ import annotations

import re
import uuid

from server.auth.codes import (
    enrollment_code_hash,
    new_enrollment_code,
    new_recovery_codes,
    normalise,
    recovery_code_hash,
)

SHAPE = re.compile(r"[a-z2-9]{5}(-[a-z2-9]{5}){3}")


def test_codes_have_a_readable_shape_without_ambiguous_characters():
    codes = [new_enrollment_code(), *new_recovery_codes()]
    assert len(codes) == 11
    assert len(set(codes)) == 11
    for code in codes:
        assert SHAPE.fullmatch(code)
        assert not set(code) & set("01ilo")


def test_typing_variations_hash_the_same_and_hashes_are_bound_to_user_and_kind():
    user, other = uuid.uuid4(), uuid.uuid4()
    code = new_enrollment_code()
    assert normalise(f"  {code.upper()} ") == code.replace("-", "")
    assert enrollment_code_hash(user, code.upper().replace("-", " ")) == enrollment_code_hash(user, code)
    assert enrollment_code_hash(user, code) != enrollment_code_hash(other, code)
    assert enrollment_code_hash(user, code) != recovery_code_hash(user, code)
    assert code.encode() not in enrollment_code_hash(user, code)
