"""The console's all-core signature checker: worker processes from a fork server, answers in
job order, a bad signature found wherever it is."""

from __future__ import annotations

import hashlib

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from console.audit.signatures import PARALLEL_FROM, SignatureChecker
from shared.audit.verify import SignatureJob
from shared.crypto import public_key_to_raw
from testkit.processes import run_killed_script, still_running


def jobs(count: int, bad: set[int]) -> list[SignatureJob]:
    key = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"checker test").digest())
    public = public_key_to_raw(key.public_key())
    made = []
    for n in range(count):
        data = b"event %d" % n
        signature = key.sign(data)
        if n in bad:
            signature = bytes([signature[0] ^ 1]) + signature[1:]
        made.append(SignatureJob(n, "device:x", public, data, signature))
    return made


def test_many_signatures_are_checked_in_worker_processes_in_order():
    bad = {0, 333, PARALLEL_FROM * 2 - 1}
    batch = jobs(PARALLEL_FROM * 2, bad)
    with SignatureChecker(workers=2) as checker:
        first = checker.submit(batch)
        second = checker.submit(batch[:10])
        assert first.result() == [n not in bad for n in range(len(batch))]
        assert second.result() == [n not in bad for n in range(10)]
        assert checker._pool is not None


def test_small_batches_are_checked_here():
    with SignatureChecker(workers=4) as checker:
        assert checker.submit(jobs(5, {2})).result() == [True, True, False, True, True]
        assert checker._pool is None


KILLED_CONSOLE = """
import os, signal
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from console.audit.signatures import PARALLEL_FROM, SignatureChecker
from shared.audit.verify import SignatureJob
from shared.crypto import public_key_to_raw

if __name__ == "__main__":
    key = Ed25519PrivateKey.generate()
    public = public_key_to_raw(key.public_key())
    data = [b"%d" % n for n in range(PARALLEL_FROM * 2)]
    jobs = [SignatureJob(n, "device:x", public, d, key.sign(d)) for n, d in enumerate(data)]
    checker = SignatureChecker(workers=2)
    assert all(checker.submit(jobs).result())
    print(" ".join(str(pid) for pid in checker._pool._processes), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_checkers_end_when_the_console_is_killed(tmp_path):
    checkers = [int(pid) for pid in run_killed_script(tmp_path, KILLED_CONSOLE).split()]
    assert len(checkers) == 2
    assert still_running(checkers) == []
