"""Several OS processes append to one community on PostgreSQL at the same time.

Each child process runs its own ``Ledger`` (its own engine, its own writer) with
the same signing key, waits at a start line until all are ready, then sends
transfers from one shared payer and earns to its own members, in waves. The
journal must come out gapless and chained, every checkpoint must sign the tree
recomputed at its size, the shared payer must never go below zero, and exactly
the expected number of drafts must be accepted.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ledger.checkpoint import open_checkpoint
from ledger.note import generate_signer
from ledger.service import Ledger
from ledger.sql.migrate import upgrade
from ledger.sql.store import SqlStore
from tests.integration.test_concurrency import check_journal
from tests.support.builders import (
    COMMUNITY,
    HOST,
    a_member,
    a_neighbourhood,
    accepted,
    earn,
    open_account,
)

PROCESSES = 3
TRANSFERS_EACH = 8  # of one credit each, from member-1, which holds ten credits
EARNS_EACH = 30  # of one minute each, to the process's own members
WAVE = 4  # drafts sent together, so each process commits several batches

CHILD = r"""
import asyncio, json, os, sys
from collections import Counter
from ledger.cadence import EVERY_BATCH
from ledger.model import Draft, EntryKind, Posting, Rejected
from ledger.note import NoteSigner
from ledger.service import Ledger
from ledger.sql.store import SqlStore

url, key, host, community, name, go = sys.argv[1:7]
transfers, earns, wave = (int(n) for n in sys.argv[7:10])


def draft(kind, n, payer, payee, minutes):
    posting = Posting(payer, payee, minutes)
    return Draft(id=f"{name}-{kind.value}-{n}", kind=kind, actor="worker", postings=(posting,))


async def main():
    store = SqlStore.from_url(url)
    # Every batch signs, so the checkpoints count the batches (asserted below).
    ledger = Ledger(store, NoteSigner.from_key_string(key), host, cadence=EVERY_BATCH)
    await store.head(community)  # connect before the start line
    print("ready", flush=True)
    while not os.path.exists(go):
        await asyncio.sleep(0.002)
    drafts = [draft(EntryKind.TRANSFER, n, "member-1", f"{name}-m", 60) for n in range(transfers)]
    drafts += [draft(EntryKind.EARN, n, "org-1", f"{name}-m", 1) for n in range(earns)]
    drafts.sort(key=lambda d: d.id[::-1])  # interleave kinds
    outcomes = Counter()
    for start in range(0, len(drafts), wave):
        chunk = drafts[start : start + wave]
        for result in await asyncio.gather(*(ledger.append(community, d) for d in chunk)):
            outcomes[result.code.value if isinstance(result, Rejected) else "accepted"] += 1
    await ledger.close()
    await store.close()
    print(json.dumps(outcomes), flush=True)


asyncio.run(main())
"""


@pytest.fixture
async def store(postgres_url: str) -> AsyncIterator[SqlStore]:
    store = SqlStore.from_url(postgres_url)
    await upgrade(store.engine)
    yield store
    await store.close()


async def test_processes_appending_to_one_community_leave_one_consistent_journal(
    store: SqlStore, postgres_url: str, tmp_path: Path
) -> None:
    signer = generate_signer(HOST)
    setup = Ledger(store, signer, HOST)
    names = [f"p{n}" for n in range(PROCESSES)]
    await accepted(
        setup,
        *a_neighbourhood(members=1, budget_minutes_per_month=600_000),
        earn("org-1", "member-1", 600),
        *[open_account(a_member(f"{name}-m")) for name in names],
    )
    await setup.close()
    size_before = (await store.head(COMMUNITY)).size
    go = tmp_path / "go"

    children = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            CHILD,
            postgres_url,
            signer.key_string(),
            HOST,
            COMMUNITY,
            name,
            str(go),
            str(TRANSFERS_EACH),
            str(EARNS_EACH),
            str(WAVE),
            stdout=asyncio.subprocess.PIPE,
        )
        for name in names
    ]
    try:
        for child in children:
            assert child.stdout is not None
            line = await asyncio.wait_for(child.stdout.readline(), timeout=60)
            assert line.strip() == b"ready", line
        go.touch()
        outputs = [await asyncio.wait_for(child.communicate(), timeout=120) for child in children]
    finally:
        for child in children:
            if child.returncode is None:
                child.kill()
                await child.wait()

    assert [child.returncode for child in children] == [0] * PROCESSES
    outcomes = sum((Counter(json.loads(out)) for out, _ in outputs), Counter())
    expected_accepted = 10 + PROCESSES * EARNS_EACH
    assert outcomes == {
        "accepted": expected_accepted,
        "exceeds_balance": PROCESSES * TRANSFERS_EACH - 10,
    }
    head = await store.head(COMMUNITY)
    assert head.size == size_before + expected_accepted
    state = await check_journal(store)
    assert state.balance("member-1") == 0
    assert [state.balance(f"{name}-m") for name in names] != [0] * PROCESSES
    assert sum(state.balance(f"{name}-m") for name in names) == 600 + PROCESSES * EARNS_EACH
    assert head.checkpoint is not None
    signed = open_checkpoint(
        head.checkpoint.note, signer.verifier(), expected_origin=f"{HOST}/{COMMUNITY}"
    )
    assert (signed.size, signed.root) == (head.size, head.frontier.root())
    checkpoints = await store.checkpoints(COMMUNITY, size_before, 10_000)
    assert len(checkpoints) > PROCESSES, "the processes should have committed many batches"
