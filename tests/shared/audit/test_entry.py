"""Log entries: canonical bytes, the salted commitment, and what erasure leaves behind."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid

import pytest

from shared.audit.codec import FormatError
from shared.audit.entry import SALT_SIZE, LogEntry, commitment, entry_for, new_salt, new_salts, parse_entry
from shared.audit.event import AuditEvent, sign_event
from shared.canonical import dumps_canonical, loads_canonical
from shared.crypto import generate_private_key

WHEN = dt.datetime(2026, 11, 28, 9, 0, tzinfo=dt.UTC)


def signed_event():
    device = uuid.uuid4()
    event = AuditEvent(
        event_id=uuid.uuid4(),
        occurred_at=WHEN,
        signer=f"device:{device}",
        action="open",
        actor=uuid.uuid4(),
        device=device,
        role="teller",
        object_type="customer",
        object_id="cust-1",
    )
    return sign_event(event, generate_private_key())


def test_the_commitment_is_the_documented_hash():
    signed = signed_event()
    salt = bytes(range(32))
    expected = hashlib.sha256(
        b"kluis-audit-commitment/1\x00" + salt + signed.signature + signed.data
    ).digest()
    assert commitment(salt, signed.signature, signed.data) == expected


def test_an_entry_is_canonical_json_and_parses_back():
    signed = signed_event()
    salt = new_salt()
    entry = entry_for(signed, salt, 41, WHEN)
    data = entry.to_bytes()
    assert dumps_canonical(loads_canonical(data)) == data
    assert parse_entry(data) == entry
    assert entry.commits_to(salt, signed.signature, signed.data)
    assert entry.event_class == "access"
    assert entry.signer == signed.event.signer


def test_the_entry_holds_nothing_of_the_event_but_its_id_class_and_signer():
    signed = signed_event()
    data = entry_for(signed, new_salt(), 0, WHEN).to_bytes()
    for secret in (b"cust-1", str(signed.event.actor).encode(), b"teller", b"open"):
        assert secret not in data


def test_a_commitment_does_not_reveal_a_guessed_event_without_its_salt():
    signed = signed_event()
    entry = entry_for(signed, new_salt(), 0, WHEN)
    assert not entry.commits_to(bytes(32), signed.signature, signed.data)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda data: data.replace(b'"index":7', b'"index":07'),
        lambda data: data.replace(b'"index":7', b'"index":-7'),
        lambda data: data.replace(b'"class":"access"', b'"class":"other"'),
        lambda data: data.replace(b"kluis-audit-entry/1", b"kluis-audit-entry/9"),
        lambda data: data.replace(b',"signer"', b' ,"signer"'),
        lambda data: data[:-1] + b',"x":1}',
    ],
)
def test_parsing_refuses_anything_but_the_canonical_entry(mutate):
    data = entry_for(signed_event(), new_salt(), 7, WHEN).to_bytes()
    with pytest.raises(FormatError):
        parse_entry(mutate(data))


def test_entries_check_their_fields():
    with pytest.raises(FormatError, match="index"):
        LogEntry(-1, uuid.uuid4(), WHEN, "access", "server:0123456789abcdef", bytes(32))
    with pytest.raises(FormatError, match="signer"):
        LogEntry(0, uuid.uuid4(), WHEN, "access", "someone", bytes(32))


def test_salts_made_together_are_full_length_and_all_different():
    salts = new_salts(1000)
    assert len(salts) == 1000
    assert {len(salt) for salt in salts} == {SALT_SIZE}
    assert len(set(salts)) == 1000
    assert new_salts(0) == []
