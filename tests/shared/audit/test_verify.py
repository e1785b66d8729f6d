"""The offline bundle verifier on bundles built here, in memory: untouched bundles pass, and
each kind of tampering fails naming the entry."""

from __future__ import annotations

import copy
import datetime as dt
import json
import uuid

import pytest

from shared.audit.bundle import BundleError, load_bundle
from shared.audit.codec import b64url_encode, format_time
from shared.audit.entry import entry_for, new_salt
from shared.audit.event import AuditEvent, sign_event
from shared.audit.verify import verify_bundle
from shared.checkpoint import Checkpoint, sign_checkpoint
from shared.crypto import generate_private_key, public_key_to_raw
from shared.merkle import MerkleTree, range_node_ids
from shared.note import Signer

ORIGIN = "test.example/audit"
T0 = dt.datetime(2026, 11, 1, 8, 0, tzinfo=dt.UTC)


class Log:
    """A tiny in-memory audit log producing bundles in the documented format."""

    def __init__(self, count: int = 12) -> None:
        self.signer = Signer.generate(ORIGIN)
        self.key = generate_private_key()
        self.device = uuid.uuid4()
        self.user = uuid.uuid4()
        self.rows: list[dict] = []
        self.tree = MerkleTree()
        for n in range(count):
            self.append(object_id=f"cust-{n % 3}")

    def append(self, **fields) -> None:
        values = {
            "event_id": uuid.uuid4(),
            "occurred_at": T0 + dt.timedelta(minutes=len(self.rows)),
            "signer": f"device:{self.device}",
            "action": "open",
            "actor": self.user,
            "device": self.device,
            "role": "teller",
            "object_type": "customer",
            "object_id": "cust-0",
        }
        values.update(fields)
        signed = sign_event(AuditEvent(**values), self.key)
        salt = new_salt()
        entry = entry_for(signed, salt, len(self.rows), T0 + dt.timedelta(minutes=len(self.rows), seconds=1))
        self.tree.append_entry(entry.to_bytes())
        self.rows.append(
            {
                "index": entry.index,
                "entry": b64url_encode(entry.to_bytes()),
                "event": signed.event.to_value(),
                "salt": b64url_encode(salt),
                "signature": b64url_encode(signed.signature),
                "erased": None,
                "inclusion": None,
            }
        )

    def _common(self, size: int, scope: dict, entries: list[dict], **extra) -> dict:
        checkpoint = sign_checkpoint(Checkpoint(ORIGIN, size, self.tree.root(size)), self.signer).decode()
        value = {
            "format": "kluis-audit-bundle/1",
            "origin": ORIGIN,
            "log_key": self.signer.verifier.encode(),
            "checkpoint": checkpoint,
            "exported_at": format_time(T0 + dt.timedelta(days=1)),
            "scope": scope,
            "pruned_below": 0,
            "server_keys": [],
            "device_keys": [
                {
                    "device_id": str(self.device),
                    "user_id": str(self.user),
                    "public_key": b64url_encode(public_key_to_raw(self.key)),
                    "enrolled_at": format_time(T0),
                    "revoked_at": None,
                }
            ],
            "prefix": [],
            "range_proof": [],
            "previous": None,
            "entries": entries,
        }
        value.update(extra)
        return value

    def range_bundle(self, start: int = 0, end: int | None = None, size: int | None = None) -> dict:
        size = self.tree.size if size is None else size
        end = size if end is None else end
        entries = []
        for row in self.rows[start:end]:
            entry = dict(row, leaf_hash=b64url_encode(self.tree.leaf_hash(row["index"])))
            entries.append(entry)
        return self._common(
            size,
            {"kind": "range", "start": start, "end": end},
            entries,
            prefix=[b64url_encode(h) for h in self.tree.get_nodes(range_node_ids(0, start))],
            range_proof=[b64url_encode(h) for h in self.tree.consistency_proof(end, size)],
        )

    def trail_bundle(self, object_id: str) -> dict:
        entries = []
        for row in self.rows:
            if row["event"]["object_id"] == object_id:
                proof = self.tree.inclusion_proof(row["index"])
                entries.append(dict(row, leaf_hash=None, inclusion=[b64url_encode(h) for h in proof]))
        return self._common(
            self.tree.size, {"kind": "object", "object_type": "customer", "object_id": object_id}, entries
        )


def check(value: dict, **options):
    return verify_bundle(load_bundle(json.dumps(value).encode()), **options)


def codes(report) -> list[tuple[int | None, str]]:
    return [(finding.index, finding.code) for finding in report.findings]


@pytest.fixture
def log() -> Log:
    return Log()


def test_an_untouched_range_verifies(log):
    report = check(log.range_bundle(), log_key=log.signer.verifier.encode())
    assert report.ok, report.findings
    assert report.events == report.signatures_checked == 12
    assert report.checkpoint.size == 12


@pytest.mark.parametrize(
    ("start", "end", "size"), [(0, 5, 12), (5, 12, 12), (3, 7, 12), (4, 4, 9), (0, 0, 0)]
)
def test_any_slice_verifies_against_a_later_checkpoint(log, start, end, size):
    report = check(log.range_bundle(start, end, size))
    assert report.ok, report.findings
    assert report.entries == end - start


def test_a_trail_verifies_with_inclusion_proofs(log):
    report = check(log.trail_bundle("cust-1"))
    assert report.ok, report.findings
    assert report.entries == 4


def test_the_bundle_log_key_alone_is_noted(log):
    report = check(log.range_bundle())
    assert any("pin it" in note for note in report.notes)


def test_altering_an_event_names_its_entry(log):
    bundle = log.range_bundle()
    bundle["entries"][4]["event"]["object_id"] = "cust-other"
    assert codes(check(bundle)) == [(4, "commitment_mismatch")]


def test_altering_an_entry_names_it(log):
    bundle = log.range_bundle()
    entry = bundle["entries"][6]
    from shared.audit.codec import b64url_decode

    data = b64url_decode(entry["entry"], "entry").replace(
        b'"received_at":"2026-11-01T08:06', b'"received_at":"2026-11-01T09:06'
    )
    entry["entry"] = b64url_encode(data)
    assert codes(check(bundle)) == [(6, "not_in_log")]


def test_deleting_an_entry_is_found(log):
    bundle = log.range_bundle()
    del bundle["entries"][3]
    found = codes(check(bundle))
    assert (3, "out_of_place") in found
    assert (None, "wrong_count") in found


def test_reordering_entries_is_found(log):
    bundle = log.range_bundle()
    entries = bundle["entries"]
    entries[2], entries[3] = entries[3], entries[2]
    found = codes(check(bundle))
    assert (2, "out_of_place") in found
    assert (3, "out_of_place") in found


def test_swapping_contents_but_keeping_positions_is_found(log):
    bundle = log.range_bundle()
    entries = bundle["entries"]
    for name in ("entry", "event", "salt", "signature", "leaf_hash"):
        entries[2][name], entries[3][name] = entries[3][name], entries[2][name]
    found = codes(check(bundle))
    assert (2, "wrong_index") in found
    assert (3, "wrong_index") in found


def test_inserting_an_entry_is_found(log):
    bundle = log.range_bundle()
    bundle["entries"].insert(5, copy.deepcopy(bundle["entries"][5]))
    found = codes(check(bundle))
    assert (5, "out_of_place") in found or (6, "out_of_place") in found
    assert any(code == "duplicate_event" for _, code in found)


def test_a_forged_signature_is_found(log):
    bundle = log.range_bundle()
    other = generate_private_key()
    row = bundle["entries"][1]
    event = AuditEvent(**_fields(row["event"]))
    forged = sign_event(event, other)
    row["signature"] = b64url_encode(forged.signature)
    found = codes(check(bundle))
    assert (1, "commitment_mismatch") in found


def test_an_erased_event_is_reported_as_erased_and_everything_still_verifies(log):
    bundle = log.range_bundle()
    for name in ("event", "salt", "signature"):
        bundle["entries"][7][name] = None
    bundle["entries"][7]["erased"] = "erasure"
    report = check(bundle)
    assert report.ok, report.findings
    assert report.erased == ((7, "erasure"),)


def test_a_missing_event_that_is_not_marked_erased_is_a_failure(log):
    bundle = log.range_bundle()
    for name in ("event", "salt", "signature"):
        bundle["entries"][7][name] = None
    assert codes(check(bundle)) == [(7, "event_missing")]


def test_a_checkpoint_signed_by_another_key_fails(log):
    bundle = log.range_bundle()
    impostor = Signer.generate(ORIGIN)
    report = check(bundle, log_key=impostor.verifier.encode())
    assert codes(report) == [(None, "bad_checkpoint")]


def test_a_trail_entry_with_a_wrong_proof_is_named(log):
    bundle = log.trail_bundle("cust-2")
    index = bundle["entries"][1]["index"]
    bundle["entries"][1]["inclusion"] = bundle["entries"][1]["inclusion"][:-1]
    assert codes(check(bundle)) == [(index, "not_included")]


def test_an_entry_outside_the_trail_is_named(log):
    bundle = log.trail_bundle("cust-2")
    other = log.trail_bundle("cust-1")["entries"][0]
    bundle["entries"].insert(0, other)
    assert (other["index"], "out_of_scope") in codes(check(bundle))


def test_events_received_after_their_device_was_revoked_fail(log):
    bundle = log.range_bundle()
    bundle["device_keys"][0]["revoked_at"] = format_time(T0 + dt.timedelta(minutes=9, seconds=30))
    assert codes(check(bundle)) == [(10, "revoked_device"), (11, "revoked_device")]


def test_a_kept_earlier_checkpoint_must_be_extended(log):
    earlier = sign_checkpoint(Checkpoint(ORIGIN, 5, log.tree.root(5)), log.signer)
    bundle = log.range_bundle()
    assert codes(check(bundle, previous=earlier)) == [(None, "no_consistency_proof")]
    bundle["previous"] = {
        "size": 5,
        "checkpoint": None,
        "proof": [b64url_encode(h) for h in log.tree.consistency_proof(5)],
    }
    assert check(bundle, previous=earlier).ok
    forked = sign_checkpoint(Checkpoint(ORIGIN, 5, bytes(32)), log.signer)
    assert codes(check(bundle, previous=forked)) == [(None, "inconsistent")]


@pytest.mark.parametrize(
    "damage",
    [
        lambda value: value.pop("checkpoint"),
        lambda value: value.update(format="kluis-audit-bundle/0"),
        lambda value: value.update(entries={}),
        lambda value: value.update(scope={"kind": "range", "start": 3, "end": 1}),
        lambda value: value["device_keys"][0].update(public_key="!!"),
    ],
)
def test_unreadable_bundles_are_refused_as_a_whole(log, damage):
    value = log.range_bundle()
    damage(value)
    with pytest.raises(BundleError):
        load_bundle(json.dumps(value).encode())


def _fields(value: dict) -> dict:
    from shared.audit.event import event_from_value

    event = event_from_value(value)
    return {
        "event_id": event.event_id,
        "occurred_at": event.occurred_at,
        "signer": event.signer,
        "action": event.action,
        "actor": event.actor,
        "device": event.device,
        "role": event.role,
        "object_type": event.object_type,
        "object_id": event.object_id,
    }
