"""The writer tells its ``CommitObserver`` about every batch, and says whether it is alive."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from ledger.memory import MemoryStore
from ledger.note import generate_signer
from ledger.service import Ledger
from tests.support.builders import (
    COMMUNITY,
    HOST,
    a_clock,
    a_neighbourhood,
    accepted,
    code_of,
    earn,
    transfer,
)


@dataclass
class Recorder:
    committed: list[tuple[str, int, int, float]] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def batch_committed(self, community: str, drafts: int, entries: int, seconds: float) -> None:
        self.committed.append((community, drafts, entries, seconds))

    def batch_failed(self, community: str) -> None:
        self.failed.append(community)


async def test_every_answered_draft_is_in_one_observed_commit() -> None:
    recorder = Recorder()
    ledger = Ledger(MemoryStore(), generate_signer(HOST), HOST, a_clock(), recorder)
    setup = a_neighbourhood(members=2)
    await accepted(ledger, *setup, earn("org-1", "member-1", 600))
    payments = [transfer("member-1", "member-2", 1) for _ in range(20)]
    too_much = transfer("member-2", "member-1", 10_000)

    results = await asyncio.gather(*(ledger.append(COMMUNITY, d) for d in [*payments, too_much]))

    assert [code_of(r) for r in results] == ["accepted"] * 20 + ["exceeds_balance"]
    assert sum(drafts for _, drafts, _, _ in recorder.committed) == len(setup) + 1 + 21
    assert sum(entries for _, _, entries, _ in recorder.committed) == len(setup) + 1 + 20
    assert {community for community, *_ in recorder.committed} == {COMMUNITY}
    assert all(seconds >= 0 for *_, seconds in recorder.committed)
    assert recorder.failed == []
    writer = ledger.writers()[COMMUNITY]
    assert writer.alive and writer.waiting == 0
    await ledger.close()


async def test_a_writer_that_stopped_on_a_broken_invariant_is_not_alive() -> None:
    ledger = Ledger(MemoryStore(), generate_signer(HOST), HOST, a_clock(), Recorder())
    await accepted(ledger, *a_neighbourhood(members=1))
    writer = ledger.writers()[COMMUNITY]

    writer._stop([], AssertionError("the stored tree does not match"))

    assert not writer.alive
    await ledger.close()
