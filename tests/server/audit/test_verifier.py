"""Checking a device's signatures in worker processes: answers in order, bad ones found,
and a dead worker costs nothing but time."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import time
import uuid

import pytest

from server.audit.ingest import Caller, Reason, Refused, check_batch
from server.audit.verifier import INLINE_AT_MOST, WORKER_NICENESS, SignatureVerifier, check_signatures
from shared.audit.event import AuditEvent, event_fields, parse_event, sign_event
from shared.crypto import generate_private_key, public_key_to_raw, sign, verify
from testkit.processes import run_killed_script, still_running


def signed_pairs(count: int, bad: set[int]) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    key = generate_private_key()
    pairs = []
    for number in range(count):
        message = b"event %d" % number
        signature = sign(key, message)
        if number in bad:
            signature = bytes([signature[0] ^ 1]) + signature[1:]
        pairs.append((message, signature))
    return public_key_to_raw(key), pairs


@pytest.fixture
def verifier():
    checker = SignatureVerifier(workers=2)
    yield checker
    checker.close()


@pytest.mark.parametrize("count", [1, INLINE_AT_MOST, INLINE_AT_MOST + 1, 301])
def test_every_answer_is_in_order_and_only_tampered_signatures_fail(verifier, count):
    bad = {0, count // 2, count - 1}
    public, pairs = signed_pairs(count, bad)
    results = asyncio.run(verifier.verify(public, pairs))
    assert results == [number not in bad for number in range(count)]


def test_large_batches_are_checked_in_worker_processes(verifier):
    public, pairs = signed_pairs(200, set())
    assert verifier._pool is None
    assert all(asyncio.run(verifier.verify(public, pairs)))
    assert verifier._pool is not None
    workers = verifier._pool._processes
    assert workers
    assert all(pid != os.getpid() for pid in workers)


NOW = dt.datetime(2026, 12, 4, 12, 0, tzinfo=dt.UTC)


def device_batch(count: int) -> tuple[Caller, bytes, list[tuple[bytes, bytes]]]:
    """``count`` events from one device, a few of them refused each for its own reason."""
    key = generate_private_key()
    user, device = uuid.uuid4(), uuid.uuid4()
    caller = Caller(user, device, frozenset({"teller"}))

    def event(number: int, **changes: object) -> AuditEvent:
        values: dict[str, object] = {
            "event_id": uuid.UUID(int=number + 1, version=4),
            "occurred_at": NOW - dt.timedelta(seconds=number),
            "signer": f"device:{device}",
            "action": "open",
            "actor": user,
            "device": device,
            "role": "teller",
            "object_type": "customer",
            "object_id": f"cust-{number:06x}",
        }
        values.update(changes)
        return AuditEvent(**values)  # type: ignore[arg-type]

    items = []
    for number in range(count):
        signed = sign_event(event(number), key)
        items.append((signed.data, signed.signature))
    items[3] = (items[3][0], bytes([items[3][1][0] ^ 1]) + items[3][1][1:])
    forged = sign_event(event(7, actor=uuid.uuid4()), key)
    items[7] = (forged.data, forged.signature)
    items[count - 2] = (b'{"action":"open"}', bytes(64))
    future = sign_event(event(count - 1, occurred_at=NOW + dt.timedelta(hours=1)), key)
    items[count - 1] = (future.data, future.signature)
    return caller, public_key_to_raw(key), items


def test_workers_screen_and_check_events_exactly_as_the_event_loop_would(verifier):
    caller, public, items = device_batch(300)
    inline = check_batch(caller, public, NOW, items)
    assert verifier._pool is None
    in_workers = asyncio.run(verifier.check_events(caller, public, NOW, items))
    assert verifier._pool is not None
    assert in_workers == inline
    refused = {n: answer.reason for n, answer in enumerate(in_workers) if isinstance(answer, Refused)}
    assert refused == {
        3: Reason.BAD_SIGNATURE,
        7: Reason.FORGED_ACTOR,
        298: Reason.MALFORMED,
        299: Reason.TIME_IN_FUTURE,
    }
    assert in_workers[3].event_id == uuid.UUID(int=4, version=4)
    for number in (0, 150, 297):
        assert in_workers[number] == event_fields(parse_event(items[number][0]))


def test_workers_run_below_the_servers_priority(verifier):
    public, pairs = signed_pairs(INLINE_AT_MOST + 1, set())
    assert all(asyncio.run(verifier.verify(public, pairs)))
    assert verifier._pool is not None
    lower = min(os.getpriority(os.PRIO_PROCESS, 0) + WORKER_NICENESS, 19)
    workers = list(verifier._pool._processes)
    assert len(workers) == 2
    # A worker that got no share of the batch may still be starting: give it time.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        seen = [os.getpriority(os.PRIO_PROCESS, pid) for pid in workers]
        if seen == [lower, lower]:
            break
        time.sleep(0.05)
    assert seen == [lower, lower]


def test_check_signatures_answers_each_pair_as_verify_does():
    key = generate_private_key()
    public = public_key_to_raw(key)
    messages = [b"event %d" % n for n in range(6)]
    pairs = [(m, sign(key, m)) for m in messages]
    pairs[1] = (messages[1], pairs[1][1][:-1] + bytes([pairs[1][1][-1] ^ 1]))
    pairs[3] = (b"another", pairs[3][1])
    pairs[4] = (messages[4], pairs[4][1][:63])
    expected = bytes(verify(public, m, s) for m, s in pairs)
    assert expected == b"\x01\x00\x01\x00\x00\x01"
    assert check_signatures(public, pairs) == expected
    assert check_signatures(public[:31], pairs) == bytes(6)
    assert check_signatures(public, []) == b""
    with pytest.raises(TypeError):
        check_signatures(public, [("text", pairs[0][1])])  # type: ignore[list-item]


def test_an_unusable_public_key_fails_every_signature(verifier):
    _, pairs = signed_pairs(40, set())
    assert asyncio.run(verifier.verify(b"\x01" * 31, pairs)) == [False] * 40
    assert check_signatures(b"\x01" * 31, pairs[:3]) == b"\x00\x00\x00"


def test_a_dead_worker_costs_the_batch_nothing(verifier, caplog):
    public, pairs = signed_pairs(120, {7})
    expected = [number != 7 for number in range(120)]

    async def scenario():
        assert await verifier.verify(public, pairs) == expected
        broken = verifier._pool
        for pid in list(broken._processes):
            os.kill(pid, signal.SIGKILL)
        on_a_thread = await verifier.verify(public, pairs)
        assert verifier._pool is None
        still_on_a_thread = await verifier.verify(public, pairs)
        assert verifier._pool is None
        verifier._no_workers_until = 0.0  # the retry delay has passed
        by_new_workers = await verifier.verify(public, pairs)
        assert verifier._pool not in (None, broken)
        return on_a_thread, still_on_a_thread, by_new_workers

    with caplog.at_level("WARNING", logger="kluis.audit"):
        answers = asyncio.run(scenario())
    assert answers == (expected, expected, expected)
    assert caplog.text.count("a signature worker died or could not start") == 1


def test_workers_ignore_ctrl_c_so_the_server_stops_them_in_order(verifier):
    pool = verifier._executor()
    # Two jobs at once: both workers have started and run their initializer.
    for job in [pool.submit(time.sleep, 0.5) for _ in range(verifier.workers)]:
        job.result()
    workers = dict(pool._processes)
    assert len(workers) == verifier.workers
    for pid in workers:
        os.kill(pid, signal.SIGINT)
    public, pairs = signed_pairs(60, set())
    assert all(asyncio.run(verifier.verify(public, pairs)))
    assert verifier._pool is pool
    assert all(process.is_alive() for process in workers.values())


KILLED_SERVER = """
import asyncio, os, signal, sys
from server.audit.verifier import SignatureVerifier
from shared.crypto import generate_private_key, public_key_to_raw, sign, verify

if __name__ == "__main__":
    key = generate_private_key()
    pairs = [(b"%d" % n, sign(key, b"%d" % n)) for n in range(100)]
    verifier = SignatureVerifier(workers=2)
    assert all(asyncio.run(verifier.verify(public_key_to_raw(key), pairs)))
    workers = list(verifier._pool._processes)
    fork_servers = {open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1] for pid in workers}
    print(" ".join(str(pid) for pid in workers), " ".join(fork_servers), sep="\\n", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_workers_and_their_fork_server_end_when_the_server_is_killed(tmp_path):
    worker_line, fork_server_line = run_killed_script(tmp_path, KILLED_SERVER).splitlines()
    workers = [int(pid) for pid in worker_line.split()]
    fork_servers = [int(pid) for pid in fork_server_line.split()]
    assert len(workers) == 2
    assert len(fork_servers) == 1
    assert os.getpid() not in fork_servers
    assert still_running([*workers, *fork_servers]) == []
