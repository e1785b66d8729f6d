"""Checking a device's signatures in worker processes: answers in order, bad ones found,
and a dead worker costs nothing but time."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

from server.audit.verifier import INLINE_AT_MOST, SignatureVerifier, check_signatures
from shared.crypto import generate_private_key, public_key_to_raw, sign
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
from shared.crypto import generate_private_key, public_key_to_raw, sign

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
