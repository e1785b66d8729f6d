"""TOTP as RFC 6238 defines it, through the functions sign-in uses."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import urllib.parse

import pytest

from server.auth import totp

DIGESTS = {"SHA1": hashlib.sha1, "SHA256": hashlib.sha256, "SHA512": hashlib.sha512}


def vectors(vectors_dir):
    return json.loads((vectors_dir / "rfc6238-totp.json").read_text())["vectors"]


def test_rfc6238_vectors(vectors_dir):
    checked = {name: 0 for name in DIGESTS}
    for vector in vectors(vectors_dir):
        moment = dt.datetime.fromtimestamp(vector["unix_time"], dt.UTC)
        code = totp.code_for_time(
            vector["secret_base32"], moment, digits=vector["digits"], digest=DIGESTS[vector["algorithm"]]
        )
        assert code == vector["totp"], vector
        checked[vector["algorithm"]] += 1
    assert checked["SHA1"] >= 6


def test_the_sha1_vectors_verify_through_the_six_digit_sign_in_path(vectors_dir):
    """Sign-in uses 6 digits: an RFC 6238 8-digit code's last six digits are the 6-digit code
    (both are the same HOTP value modulo a power of ten)."""
    for vector in vectors(vectors_dir):
        if vector["algorithm"] != "SHA1":
            continue
        moment = dt.datetime.fromtimestamp(vector["unix_time"], dt.UTC)
        six = vector["totp"][-6:]
        assert totp.matching_step(vector["secret_base32"], six, moment) == vector["unix_time"] // 30
        assert totp.matching_step(vector["secret_base32"], six, moment, window=0) == vector["unix_time"] // 30


def test_one_step_either_side_is_accepted_and_no_more():
    secret = totp.new_secret()
    now = dt.datetime(2026, 11, 28, 8, 0, 15, tzinfo=dt.UTC)
    current = totp.time_step(now)
    for offset in (-1, 0, 1):
        assert totp.matching_step(secret, totp.code_at(secret, current + offset), now) == current + offset
    for offset in (-2, 2):
        code = totp.code_at(secret, current + offset)
        if code not in {totp.code_at(secret, current + near) for near in (-1, 0, 1)}:
            assert totp.matching_step(secret, code, now) is None


@pytest.mark.parametrize("code", ["", "12345", "1234567", "abcdef", "12 34 5x"])
def test_malformed_codes_match_nothing(code):
    assert totp.matching_step(totp.new_secret(), code, dt.datetime.now(dt.UTC)) is None


def test_spaces_in_a_typed_code_are_ignored():
    secret = totp.new_secret()
    now = dt.datetime.now(dt.UTC)
    code = totp.code_for_time(secret, now)
    assert totp.matching_step(secret, f"{code[:3]} {code[3:]}", now) == totp.time_step(now)


def test_secrets_are_160_bits_and_the_uri_is_what_authenticator_apps_read():
    secret = totp.new_secret()
    assert len(secret) == 32
    uri = totp.provisioning_uri(secret, "thandi")
    parsed = urllib.parse.urlparse(uri)
    assert (parsed.scheme, parsed.netloc, urllib.parse.unquote(parsed.path)) == (
        "otpauth",
        "totp",
        "/Kluis:thandi",
    )
    query = dict(urllib.parse.parse_qsl(parsed.query))
    assert query["secret"] == secret
    assert query["issuer"] == "Kluis"
    assert query.get("digits", "6") == "6"
    assert query.get("period", "30") == "30"
    assert query.get("algorithm", "SHA1") == "SHA1"
