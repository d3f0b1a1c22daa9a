"""Leases between processes: who takes which community, drafts forwarded to the holder,
and the lease moving when its holder lets go or is killed (``api.leases``)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

import pytest

from api import leases as leases_module
from api.leases import HostLeases, holder_pid
from api.services import upgrade_database
from ledger import limits
from ledger.memory import MemoryStore
from ledger.model import Draft, Rejected, Rejection
from ledger.note import generate_signer
from ledger.service import Ledger
from ledger.sql.store import SqlStore
from ledger.store import Store
from ledger.writer import Appended, LedgerUnavailable, Result
from tests.support.builders import (
    COMMUNITY,
    HOST,
    a_clock,
    a_neighbourhood,
    accepted,
    earn,
    transfer,
)
from tests.support.server import ROOT

BASE = a_neighbourhood(members=3, budget_minutes_per_month=600_000)


@pytest.fixture
def lease_dir() -> Iterator[Path]:
    # Short: a unix socket's path has at most 107 bytes.
    with tempfile.TemporaryDirectory(prefix="bm-lease-") as directory:
        yield Path(directory)


def communities_of(*names: str):  # type: ignore[no-untyped-def]
    async def communities() -> list[str]:
        return list(names)

    return communities


@asynccontextmanager
async def a_process(
    store: Store, directory: Path, spread: int = 1, communities: tuple[str, ...] = (COMMUNITY,)
) -> AsyncIterator[Ledger]:
    """A ledger as one worker process would have it: its own writers and leases."""
    ledger = Ledger(store, generate_signer(HOST), HOST, a_clock())
    leases = HostLeases(directory, spread, ledger.append_here, communities_of(*communities))
    await leases.start()
    ledger.leases = leases
    try:
        yield ledger
    finally:
        await ledger.close()


def leases_of(ledger: Ledger) -> HostLeases:
    assert isinstance(ledger.leases, HostLeases)
    return ledger.leases


async def test_each_process_takes_the_leases_its_slot_prefers(lease_dir: Path) -> None:
    store = MemoryStore()
    names = ("a", "b", "c", "d")
    async with (
        a_process(store, lease_dir, 2, names) as first,
        a_process(store, lease_dir, 2, names) as second,
    ):
        assert leases_of(first).held() == ["a", "c"]
        assert leases_of(second).held() == ["b", "d"]
        assert holder_pid(lease_dir, "b") == os.getpid()


async def test_a_draft_for_a_community_held_elsewhere_is_written_by_the_holder(
    lease_dir: Path,
) -> None:
    store = MemoryStore()
    async with a_process(store, lease_dir) as holder, a_process(store, lease_dir) as other:
        assert leases_of(holder).holds(COMMUNITY) and not leases_of(other).holds(COMMUNITY)

        entries = await accepted(other, *BASE, earn("org-1", "member-1", 90, id="earn-1"))

        assert COMMUNITY in holder.writers() and other.writers() == {}
        stored = await store.entry_by_id(COMMUNITY, "earn-1")
        assert stored == entries[-1], "the sender gets the entry as the holder stored it"


async def test_a_forwarded_rejection_is_the_holders_rejection(lease_dir: Path) -> None:
    store = MemoryStore()
    async with a_process(store, lease_dir) as holder, a_process(store, lease_dir) as other:
        await accepted(holder, *BASE)

        result = await other.append(COMMUNITY, transfer("member-1", "member-2", 5, id="t-1"))

        assert isinstance(result, Rejected) and result.code is Rejection.EXCEEDS_BALANCE
        assert result == await holder.append(
            COMMUNITY, transfer("member-1", "member-2", 5, id="t-1")
        )


async def test_when_the_holder_lets_go_another_takes_the_lease_and_a_retry_finds_the_original(
    lease_dir: Path,
) -> None:
    store = MemoryStore()
    async with a_process(store, lease_dir) as other:
        async with a_process(store, lease_dir) as holder:
            await accepted(holder, *BASE)
        draft = earn("org-1", "member-1", 30, id="earn-1")
        # ``other`` started after ``holder``: no slot prefers the community for it.
        first = await other.append(COMMUNITY, draft)
        again = await other.append(COMMUNITY, replace(draft))

        assert isinstance(first, Appended) and not first.accepted.retried
        assert isinstance(again, Appended) and again.accepted.retried
        assert again.entry == first.entry


async def test_an_unheld_community_is_written_here_and_its_lease_taken_after_the_grace(
    lease_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(leases_module, "LEASE_GRACE_SECONDS", 0.2)
    store = MemoryStore()
    names = (COMMUNITY, "zz")
    async with (
        a_process(store, lease_dir, 2, names) as first,
        a_process(store, lease_dir, 2, names) as second,
    ):
        assert leases_of(second).held() == ["zz"]
        await leases_of(first).close()  # the community's preferred holder goes away

        await accepted(second, *BASE)
        assert not leases_of(second).holds(COMMUNITY), "within the grace: written here"
        await asyncio.sleep(0.25)
        await accepted(second, earn("org-1", "member-1", 30))

        assert leases_of(second).holds(COMMUNITY)


# Another process, killed.


def start_holder(
    database_url: str, directory: Path, key: str, *flags: str
) -> subprocess.Popen[str]:
    command = [
        sys.executable,
        "-m",
        "tests.support.lease_holder",
        database_url,
        str(directory),
        key,
    ]
    process = subprocess.Popen(
        [*command, *flags], cwd=ROOT, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    return process


async def test_a_draft_in_flight_when_its_holder_is_killed_is_appended_once_and_the_lease_moves(
    lease_dir: Path, database_url: str
) -> None:
    url = database_url
    signer = generate_signer(HOST)
    store = SqlStore.from_url(url)
    await upgrade_database(store)
    setup = Ledger(store, signer, HOST, a_clock())
    await accepted(setup, *BASE)
    await setup.close()
    holder = start_holder(url, lease_dir, signer.key_string(), "--die-after-commit")
    try:
        assert holder_pid(lease_dir, COMMUNITY) == holder.pid
        ledger = Ledger(store, signer, HOST, a_clock())
        leases = HostLeases(lease_dir, 1, ledger.append_here, communities_of(COMMUNITY))
        await leases.start()
        ledger.leases = leases
        monkey = pytest.MonkeyPatch()
        monkey.setattr(leases_module, "LEASE_GRACE_SECONDS", 0.2)
        try:
            draft = earn("org-1", "member-1", 45, id="in-flight")
            result = await ledger.append(COMMUNITY, draft)  # the holder commits, then dies

            assert holder.wait(timeout=10) == -signal.SIGKILL
            assert isinstance(result, Appended) and result.accepted.retried, (
                "the holder committed it before it died: the retry must find it"
            )
            assert result.entry == await store.entry_by_id(COMMUNITY, "in-flight")
            await asyncio.sleep(0.25)
            await accepted(ledger, earn("org-1", "member-1", 15, id="after"))
            assert leases.holds(COMMUNITY) and holder_pid(lease_dir, COMMUNITY) == os.getpid()
            assert (await store.head(COMMUNITY)).size == len(BASE) + 2
        finally:
            monkey.undo()
            await ledger.close()
    finally:
        holder.kill()
        holder.wait()
        await store.close()


async def test_a_forward_to_a_hung_holder_answers_unavailable_and_the_retry_books_once(
    lease_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "FORWARD_WAIT_SECONDS", 0.2)
    store = MemoryStore()
    resume = asyncio.Event()
    async with a_process(store, lease_dir) as holder, a_process(store, lease_dir) as other:
        await accepted(holder, *BASE, earn("org-1", "member-1", 90, id="earn-1"))
        answer_now = leases_of(holder)._append_here

        async def hung(community: str, draft: Draft) -> Result:
            await resume.wait()  # a holder that is stopped, not dead
            return await answer_now(community, draft)

        leases_of(holder)._append_here = hung
        draft = replace(transfer("member-1", "member-2", 5, id="t-1"), key="caller:k-1")

        with pytest.raises(LedgerUnavailable):
            await asyncio.wait_for(other.append(COMMUNITY, draft), timeout=5)
        resume.set()  # the holder wakes up and commits the draft it had in hand
        for _ in range(100):
            if await store.entry_by_id(COMMUNITY, "t-1") is not None:
                break
            await asyncio.sleep(0.02)
        retry = await other.append(COMMUNITY, replace(draft, id="t-2"))

        assert isinstance(retry, Appended) and retry.accepted.retried
        assert retry.entry.id == "t-1", "the retry under the same key finds the first entry"
        assert await store.entry_by_id(COMMUNITY, "t-2") is None
        head = await store.head(COMMUNITY)
        assert head.size == len(BASE) + 2, "the transfer is booked once"


async def test_a_worker_started_in_place_of_a_dead_one_gets_its_preferred_leases_back(
    lease_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(leases_module, "LEASE_POLL_SECONDS", 0.05)
    store = MemoryStore()
    names = (COMMUNITY, "zz")
    async with a_process(store, lease_dir, 2, names) as survivor:
        async with a_process(store, lease_dir, 2, names) as first:
            assert leases_of(first).held() == ["zz"]
        # ``first`` is gone; the survivor takes its community on demand (the first
        # draft finds nobody listening, the second takes the lease).
        monkeypatch.setattr(leases_module, "LEASE_GRACE_SECONDS", 0.0)
        for _ in range(2):
            await survivor.append("zz", earn("org-1", "member-1", 30))
        assert leases_of(survivor).held() == [COMMUNITY, "zz"]

        async with a_process(store, lease_dir, 2, names) as restarted:
            for _ in range(100):
                if leases_of(restarted).holds("zz"):
                    break
                await asyncio.sleep(0.05)

            assert leases_of(restarted).held() == ["zz"]
            assert leases_of(survivor).held() == [COMMUNITY]
