"""Audit events: their canonical signed bytes, strict parsing, and what they refuse to hold."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.audit.codec import FormatError, format_time
from shared.audit.event import (
    ACCESS_ACTIONS,
    SECURITY_ACTIONS,
    AuditEvent,
    EventClass,
    event_fields,
    event_from_value,
    parse_event,
    parse_event_and_fields,
    sign_event,
    verify_event_signature,
)
from shared.canonical import dumps_canonical
from shared.crypto import generate_private_key, public_key_to_raw

DEVICE = uuid.UUID("7b0b4c3e-9a5d-4f7e-8c2a-1d3e5f708192")
ACTOR = uuid.UUID("0f1e2d3c-4b5a-4968-8776-655443322110")
WHEN = dt.datetime(2026, 11, 28, 8, 30, 15, 123456, tzinfo=dt.UTC)


def device_event(**fields) -> AuditEvent:
    values = {
        "event_id": uuid.UUID("11111111-2222-4333-8444-555555555555"),
        "occurred_at": WHEN,
        "signer": f"device:{DEVICE}",
        "action": "reveal",
        "actor": ACTOR,
        "device": DEVICE,
        "role": "teller",
        "object_type": "customer",
        "object_id": "cust-9f8e7d",
        "purpose": "kyc_review",
    }
    values.update(fields)
    return AuditEvent(**values)


def test_the_signed_bytes_are_exactly_the_documented_ones():
    assert device_event().to_bytes() == (
        b'{"action":"reveal","actor":"0f1e2d3c-4b5a-4968-8776-655443322110",'
        b'"device":"7b0b4c3e-9a5d-4f7e-8c2a-1d3e5f708192","event_id":"11111111-2222-4333-8444-555555555555",'
        b'"format":"kluis-audit-event/1","object_id":"cust-9f8e7d","object_type":"customer",'
        b'"occurred_at":"2026-11-28T08:30:15.123456Z","outcome":"success","purpose":"kyc_review",'
        b'"reason":null,"role":"teller","signer":"device:7b0b4c3e-9a5d-4f7e-8c2a-1d3e5f708192"}'
    )


codes = st.from_regex(r"[a-z][a-z0-9_.-]{0,20}", fullmatch=True)
ids = st.from_regex(r"[A-Za-z][A-Za-z0-9._:-]{0,40}", fullmatch=True)


@given(
    action=st.sampled_from(sorted(ACCESS_ACTIONS)),
    object_id=ids,
    purpose=codes,
    reason=st.none() | codes,
    outcome=st.sampled_from(["success", "failure", "denied"]),
    when=st.datetimes(
        min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2099, 1, 1), timezones=st.just(dt.UTC)
    ),
)
def test_the_fast_encoding_is_rfc8785_canonical_json(action, object_id, purpose, reason, outcome, when):
    event = device_event(
        action=action, object_id=object_id, purpose=purpose, reason=reason, outcome=outcome, occurred_at=when
    )
    assert event.to_bytes() == dumps_canonical(event.to_value())
    assert parse_event(event.to_bytes()) == event


@given(
    action=st.sampled_from(sorted(ACCESS_ACTIONS)),
    object_id=ids,
    purpose=codes,
    reason=st.none() | codes,
    when=st.datetimes(
        min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2099, 1, 1), timezones=st.just(dt.UTC)
    ),
)
def test_an_events_fields_are_the_text_its_canonical_bytes_hold(action, object_id, purpose, reason, when):
    event = device_event(action=action, object_id=object_id, purpose=purpose, reason=reason, occurred_at=when)
    fields = event_fields(event)
    assert all(type(value) is str or value is None for value in fields)
    assert fields[:2] == (str(event.event_id), format_time(event.occurred_at))
    # What the canonical bytes hold is exactly the fields, with nothing converted back.
    assert parse_event_and_fields(event.to_bytes()) == (event, fields)


def test_a_server_events_fields_keep_its_nulls():
    event = AuditEvent(
        event_id=uuid.uuid4(), occurred_at=WHEN, signer="server:0123456789abcdef", action="sign_in"
    )
    fields = event_fields(event)
    assert fields[5:7] == (None, None)
    assert parse_event_and_fields(event.to_bytes()) == (event, fields)


def test_server_events_may_leave_actor_and_device_out():
    event = AuditEvent(
        event_id=uuid.uuid4(),
        occurred_at=WHEN,
        signer="server:0123456789abcdef",
        action="sign_in",
        outcome="failure",
    )
    assert parse_event(event.to_bytes()) == event
    assert event.event_class is EventClass.SECURITY
    assert device_event().event_class is EventClass.ACCESS


@pytest.mark.parametrize(
    ("changes", "where"),
    [
        ({"object_id": "8001015009087"}, "object_id"),
        ({"object_id": "082 555 0199"}, "object_id"),
        ({"object_id": "thandi@example.co.za"}, "object_id"),
        ({"object_id": "Thandi Nkosi"}, "object_id"),
        ({"purpose": "Because She Asked"}, "purpose"),
        ({"action": "sign_in"}, "action"),
        ({"action": "peek"}, "action"),
        ({"device": ACTOR}, "device"),
        ({"role": None}, "actor"),
        ({"purpose": None}, "purpose"),
        ({"object_type": None, "object_id": None}, "object_type"),
        ({"signer": "device:not-a-uuid"}, "signer"),
        ({"outcome": "ok"}, "outcome"),
        ({"occurred_at": dt.datetime(2026, 1, 1)}, "occurred_at"),
    ],
)
def test_events_refuse_personal_information_and_nonsense(changes, where):
    with pytest.raises(FormatError) as raised:
        device_event(**changes)
    assert raised.value.where == where
    for value in changes.values():
        if isinstance(value, str) and len(value) > 8:
            assert value not in str(raised.value)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda data: data.replace(b'","', b'", "', 1),  # whitespace
        lambda data: data.replace(b'"reason":null,', b""),  # missing member
        lambda data: data[:-1] + b',"extra":null}',  # extra member
        lambda data: data.replace(b"kluis-audit-event/1", b"kluis-audit-event/2"),
        lambda data: data.replace(b".123456Z", b".123456+00:00"),
        lambda data: json.dumps(json.loads(data), sort_keys=False, separators=(",", ":"))[::-1].encode(),
        lambda data: data.replace(
            b'"object_id":"cust-9f8e7d","object_type":"customer"',
            b'"object_type":"customer","object_id":"cust-9f8e7d"',
        ),
    ],
)
def test_parsing_insists_on_the_canonical_bytes(mutate):
    with pytest.raises(FormatError):
        parse_event(mutate(device_event().to_bytes()))


def test_event_from_value_names_the_bad_member():
    value = device_event().to_value()
    value["actor"] = "not-a-uuid"
    with pytest.raises(FormatError, match="actor"):
        event_from_value(value)


def test_signatures_cover_every_byte():
    key = generate_private_key()
    signed = sign_event(device_event(), key)
    public = public_key_to_raw(key)
    assert verify_event_signature(public, signed.data, signed.signature)
    altered = signed.data.replace(b"cust-9f8e7d", b"cust-9f8e7e")
    assert not verify_event_signature(public, altered, signed.signature)


def test_every_identity_security_event_kind_is_a_known_audit_action():
    from server.auth.security_events import EventKind

    assert {kind.value for kind in EventKind} <= SECURITY_ACTIONS


def _read_member_by_member(data: bytes) -> AuditEvent:
    """What parse_event's general path decides, without its canonical-pattern shortcut."""
    event = event_from_value(json.loads(data))
    if event.to_bytes() != data:
        raise FormatError("event", "is not in canonical form")
    return event


@given(
    base=st.sampled_from(["device", "server"]),
    position=st.integers(min_value=0, max_value=400),
    byte=st.binary(min_size=1, max_size=2),
    delete=st.booleans(),
)
def test_the_canonical_shortcut_decides_exactly_as_reading_member_by_member(base, position, byte, delete):
    event = (
        device_event()
        if base == "device"
        else AuditEvent(
            event_id=uuid.uuid4(), occurred_at=WHEN, signer="server:0123456789abcdef", action="lockout"
        )
    )
    data = event.to_bytes()
    position %= len(data)
    changed = data[:position] + (b"" if delete else byte) + data[position + (1 if delete else 0) :]
    try:
        expected: AuditEvent | type[Exception] = _read_member_by_member(changed)
    except (FormatError, ValueError, UnicodeDecodeError, TypeError, KeyError):
        expected = FormatError
    if expected is FormatError:
        with pytest.raises(FormatError):
            parse_event(changed)
    else:
        assert parse_event(changed) == expected


def test_an_actions_class_name_is_its_retention_class():
    from shared.audit.event import ACCESS_ACTIONS, SECURITY_ACTIONS, EventClass, event_class, event_class_name

    for action in ACCESS_ACTIONS:
        assert event_class_name(action) == "access"
        assert event_class(action) is EventClass.ACCESS
    for action in SECURITY_ACTIONS:
        assert event_class_name(action) == "security"
        assert event_class(action) is EventClass.SECURITY
