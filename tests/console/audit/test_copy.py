"""The auditor's copy of the log: downloaded from a real server over TLS into the SQLCipher
vault, then verified with no network.  Tampering with the copy is found and named by entry;
erasures and pruning on the server reach the copy; a log that shrinks, forks or changes its
key is refused and the copy is left as it was; an interrupted download resumes."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid

import pytest
from sqlalchemy import text

from console.audit.copy import EntryFilter
from console.audit.errors import LogForked, LogKeyChanged, LogShrank
from console.audit.verify import NothingToVerify, verify_copy
from console.net.errors import ServerUnreachable
from shared.audit.codec import b64url_encode
from shared.checkpoint import Checkpoint, sign_checkpoint


def verify(desk, **options):
    return desk.auditor.blocking(lambda: verify_copy(desk.copy, **options))


def codes(verification):
    return [(finding.index, finding.code) for finding in verification.report.findings]


def test_the_log_is_copied_and_verifies_offline(run, desk_on_each_backend):
    desk = desk_on_each_backend

    async def scenario():
        await desk.teller_work(customers=4, opens=2)
        await desk.sign_in_auditor()
        size = await desk.settle()
        outcome = await desk.download()
        assert outcome.state.size >= size
        assert outcome.new_entries == outcome.state.size
        # The copy holds exactly the server's entries, byte for byte.
        state = outcome.state
        server_entries = await asyncio.to_thread(desk.log.running.run, _server_entries(desk, state.size))
        copied = [
            e
            for chunk in await desk.auditor.blocking(lambda: list(desk.copy.bundle_entries(0, state.size)))
            for e in chunk
        ]
        assert [e["index"] for e in copied] == list(range(state.size))
        assert {e["index"]: e["entry"] for e in copied} == server_entries

        # No network from here on: the server is gone.
        desk.servers.stop()
        progress: list[tuple[int, int]] = []
        verification = await verify(
            desk, workers=1, progress=lambda done, total: progress.append((done, total))
        )
        report = verification.report
        assert report.ok, report.findings
        assert report.entries == state.size
        assert report.signatures_checked == report.events == state.size
        assert progress[0] == (0, state.size)
        assert progress[-1] == (state.size, state.size)
        after = await desk.auditor.blocking(desk.copy.state)
        assert after.trusted_checkpoint == state.checkpoint
        assert after.verified_ok is True
        assert after.verified_current

        actions = await desk.auditor.blocking(lambda: desk.copy.distinct("action"))
        assert {"create", "open", "sign_in", "device_enrolled"} <= set(actions)
        opens = await desk.auditor.blocking(lambda: desk.copy.count(EntryFilter(action="open")))
        assert opens == 8

    run(scenario(), timeout=120)


async def _server_entries(desk, size):
    async with desk.consoles.server.server.database.transaction() as connection:
        rows = await connection.execute(
            text("SELECT idx, entry FROM audit_entries WHERE idx < :size"), {"size": size}
        )
        return {row.idx: b64url_encode(bytes(row.entry)) for row in rows}


def test_nothing_to_verify_before_the_first_download(run, desk):
    async def scenario():
        await desk.sign_in_auditor()
        with pytest.raises(NothingToVerify):
            await verify(desk)

    run(scenario())


@pytest.mark.parametrize(
    ("column", "value", "code"),
    [
        ("event = NULL, salt = NULL, signature", None, "event_missing"),
        ("event = NULL, erased", "erasure", "malformed"),
        ("signature", b"\x00" * 64, "commitment_mismatch"),
        ("entry", None, "not_in_log"),
    ],
)
def test_tampering_with_the_copy_names_the_entry(run, desk, column, value, code):
    async def scenario():
        await desk.teller_work(customers=2, opens=1)
        await desk.sign_in_auditor()
        await desk.settle()
        await desk.download()
        target = 3

        def tamper():
            with desk.auditor.store.writing() as connection:
                if column == "entry":
                    row = connection.execute(
                        text("SELECT entry FROM audit_copy_entries WHERE idx = :i"), {"i": target}
                    ).one()
                    changed = json.loads(bytes(row.entry))
                    changed["received_at"] = "2020-01-01T00:00:00.000000Z"
                    connection.execute(
                        text("UPDATE audit_copy_entries SET entry = :e WHERE idx = :i"),
                        {
                            "e": json.dumps(changed, separators=(",", ":"), sort_keys=True).encode(),
                            "i": target,
                        },
                    )
                else:
                    connection.execute(
                        text(f"UPDATE audit_copy_entries SET {column} = :v WHERE idx = :i"),
                        {"v": value, "i": target},
                    )

        await desk.auditor.blocking(tamper)
        verification = await verify(desk, workers=1)
        assert (target, code) in codes(verification)
        assert all(index == target for index, _ in codes(verification) if index is not None)
        state = await desk.auditor.blocking(desk.copy.state)
        assert state.verified_ok is False
        assert state.trusted_checkpoint is None
        stored = await desk.auditor.blocking(desk.copy.findings)
        assert (target, code) in [(f.index, f.code) for f in stored]
        detail = await desk.auditor.blocking(lambda: desk.copy.entry(target))
        assert code in [found for found, _ in detail.findings]

    run(scenario())


def test_deleting_or_reordering_entries_in_the_copy_is_found(run, desk):
    async def scenario():
        await desk.teller_work(customers=2, opens=1)
        await desk.sign_in_auditor()
        await desk.settle()
        await desk.download()

        def swap():
            with desk.auditor.store.writing() as connection:
                connection.execute(text("UPDATE audit_copy_entries SET idx = -1 WHERE idx = 4"))
                connection.execute(text("UPDATE audit_copy_entries SET idx = 4 WHERE idx = 5"))
                connection.execute(text("UPDATE audit_copy_entries SET idx = 5 WHERE idx = -1"))

        await desk.auditor.blocking(swap)
        found = codes(await verify(desk, workers=1))
        assert (4, "wrong_index") in found
        assert (5, "wrong_index") in found

        await desk.auditor.blocking(lambda: _execute(desk, "DELETE FROM audit_copy_entries WHERE idx = 2"))
        found = codes(await verify(desk, workers=1))
        assert (None, "wrong_count") in found
        assert (2, "out_of_place") in found

    run(scenario())


def _execute(desk, statement):
    with desk.auditor.store.writing() as connection:
        connection.execute(text(statement))


def test_new_entries_arrive_and_must_extend_the_trusted_checkpoint(run, desk):
    async def scenario():
        await desk.teller_work(customers=1, opens=1)
        await desk.sign_in_auditor()
        await desk.settle()
        first = await desk.download()
        assert (await verify(desk, workers=1)).report.ok

        await desk.teller_work(customers=2, opens=3)
        second = await desk.download()
        assert second.state.size > first.state.size
        assert second.new_entries == second.state.size - first.state.size
        assert second.state.trusted_checkpoint == first.state.checkpoint
        assert second.state.consistency_proof
        verification = await verify(desk, workers=1)
        assert verification.report.ok, verification.report.findings
        assert (await desk.auditor.blocking(desk.copy.state)).trusted_checkpoint == second.state.checkpoint

        # A consistency proof that does not join the two checkpoints fails the check.
        await desk.teller_work(customers=1, opens=1)
        await desk.download()

        def break_proof():
            with desk.auditor.store.writing() as connection:
                proof = bytes(
                    connection.execute(text("SELECT consistency_proof FROM audit_copy_state")).scalar_one()
                )
                flipped = bytes([proof[0] ^ 1]) + proof[1:]
                connection.execute(text("UPDATE audit_copy_state SET consistency_proof = :p"), {"p": flipped})

        await desk.auditor.blocking(break_proof)
        assert (None, "inconsistent") in codes(await verify(desk, workers=1))

    run(scenario())


def test_an_interrupted_download_resumes_and_leaves_the_copy_as_it_was(run, desk):
    async def scenario():
        await desk.teller_work(customers=3, opens=3)
        await desk.sign_in_auditor()
        size = await desk.settle()
        assert size > 20
        desk.auditor.flaky.lose("/api/v1/audit/entries?start=10&end=15")
        with pytest.raises(ServerUnreachable):
            await desk.download(page=5)
        state = await desk.auditor.blocking(desk.copy.state)
        assert state.empty
        assert state.size == 0
        requested = len([p for p in desk.auditor.flaky.sent if p.startswith("/api/v1/audit/entries")])
        outcome = await desk.download(page=5)
        again = [p for p in desk.auditor.flaky.sent if p.startswith("/api/v1/audit/entries")][requested:]
        assert again[0] == "/api/v1/audit/entries?start=10&end=15"
        assert outcome.state.size >= size
        assert outcome.new_entries == outcome.state.size - 10
        assert (await verify(desk, workers=1)).report.ok

    run(scenario())


def test_erasures_on_the_server_reach_the_copy_and_it_still_verifies(run, desk):
    async def scenario():
        await desk.teller_work(customers=2, opens=1)
        await desk.sign_in_auditor()
        await desk.settle()
        await desk.download()
        detail = await desk.auditor.blocking(lambda: desk.copy.entry(5))
        event_id = uuid.UUID(detail.event["event_id"])
        running = desk.consoles.server
        assert await asyncio.to_thread(running.run, running.server.state.audit.erase(event_id)) == 5

        outcome = await desk.download()
        assert outcome.erased == 1
        erased = await desk.auditor.blocking(lambda: desk.copy.entry(5))
        assert erased.event is None
        assert erased.salt is None
        assert erased.signature is None
        assert erased.erased == "erasure"
        report = (await verify(desk, workers=1)).report
        assert report.ok, report.findings
        assert (5, "erasure") in report.erased

    run(scenario())


def test_a_pruned_log_is_copied_from_its_minimum_index_and_verifies(run, desk):
    async def scenario():
        await desk.teller_work(customers=3, opens=2)
        await desk.sign_in_auditor()
        await desk.settle()
        await desk.download()
        running = desk.consoles.server

        async def cut_time():
            async with running.server.database.transaction() as connection:
                return await connection.scalar(text("SELECT received_at FROM audit_entries WHERE idx = 9"))

        cut = await asyncio.to_thread(running.run, cut_time())
        cut_at = cut if isinstance(cut, dt.datetime) else dt.datetime.fromisoformat(str(cut))
        if cut_at.tzinfo is None:
            cut_at = cut_at.replace(tzinfo=dt.UTC)
        await desk.teller_work(customers=1, opens=1)
        pruned = await asyncio.to_thread(
            running.run, running.server.state.audit.prune(cut_at + dt.timedelta(days=2557, microseconds=1))
        )
        assert pruned.min_index > 9
        await desk.settle()

        outcome = await desk.download()
        assert outcome.state.min_index == pruned.min_index
        assert len(outcome.state.prefix) == pruned.min_index.bit_count()
        held = await desk.auditor.blocking(lambda: desk.copy.count(EntryFilter()))
        assert held == outcome.state.size - pruned.min_index
        report = (await verify(desk, workers=1)).report
        assert report.ok, report.findings
        assert report.entries == outcome.state.held

    run(scenario())


def test_a_log_that_shrank_forked_or_changed_its_key_is_refused(run, desk):
    async def scenario():
        await desk.teller_work(customers=1, opens=1)
        await desk.sign_in_auditor()
        await desk.settle()
        held = (await desk.download()).state

        def restate(**values):
            def change():
                with desk.auditor.store.writing() as connection:
                    assignments = ", ".join(f"{name} = :{name}" for name in values)
                    connection.execute(text(f"UPDATE audit_copy_state SET {assignments}"), values)

            return desk.auditor.blocking(change)

        await restate(size=held.size + 50)
        with pytest.raises(LogShrank):
            await desk.download()
        await restate(size=held.size)

        key = held.log_key
        forged = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
        await restate(log_key=forged)
        with pytest.raises(LogKeyChanged):
            await desk.download()
        await restate(log_key=key)

        # A checkpoint of the copy's size, properly signed with the log's key, over another
        # root: whatever the server signs now, no consistency proof joins it to this one.
        log = desk.consoles.server.server.state.audit
        forged_note = sign_checkpoint(Checkpoint(held.origin, held.size, b"\x07" * 32), log.keys.note_signer)
        await restate(checkpoint=forged_note)
        with pytest.raises(LogForked):
            await desk.download()
        after = await desk.auditor.blocking(desk.copy.state)
        assert after.checkpoint == forged_note
        assert after.size == held.size

    run(scenario())
