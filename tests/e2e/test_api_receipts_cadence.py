"""Receipts under the checkpoint cadence: a receipt waits for the checkpoint that covers
its entry, or says when to ask again."""

from __future__ import annotations

from typing import Any

import pytest

from ledger import limits
from ledger.cadence import Cadence
from ledger.model import Draft, EntryKind, Posting
from ledger.receipt import parse_receipt, verify_receipt
from ledger.service import Ledger
from ledger.writer import Appended
from tests.support.api import COMMUNITY, World, open_world
from tests.support.api_checks import problem

INTERVAL_SECONDS = 0.3


async def test_a_receipt_asked_before_the_next_checkpoint_waits_for_it(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The wait outlasts the interval by half a second; a pause of the machine
    # (not of the server) should not turn the receipt into "ask again".
    monkeypatch.setattr(limits, "CHECKPOINT_WAIT_MARGIN_SECONDS", 5.0)
    async with open_world(database_url, checkpoint_interval_seconds=INTERVAL_SECONDS) as world:
        given = await world.post(
            "/api/v1/transfers",
            {"payee": world.members[1].account, "amount_minutes": 10},
            as_=world.member,
        )
        assert given.status_code == 201, given.text

        answer = await world.get(given.json()["receipt_url"], as_=world.member)

        assert answer.status_code == 200, answer.text
        body = answer.json()
        verifier = world.run(world.rt.ledger.log_verifier, COMMUNITY)
        checkpoint = verify_receipt(
            parse_receipt(body["receipt"]), body["entry"].encode(), verifier
        )
        assert checkpoint.size > given.json()["seq"]


def _append_elsewhere(world: World) -> Ledger:
    """A writer in "another process": its checkpoints do not come within the interval."""
    rt = world.rt
    return Ledger(rt.store, rt.ledger.signer, rt.ledger.host, rt.clock, cadence=Cadence(60))


async def _transfers(ledger: Ledger, world: World, *ids: str) -> list[Any]:
    payer, payee = world.members[0].account, world.members[1].account
    assert payer is not None and payee is not None
    found = []
    for entry_id in ids:
        posting = (Posting(payer, payee, 1),)
        draft = Draft(id=entry_id, kind=EntryKind.TRANSFER, actor=payer, postings=posting)
        found.append(await ledger.append(COMMUNITY, draft))
    return found


async def test_a_receipt_no_checkpoint_covers_in_time_is_pending_and_says_when_to_ask(
    database_url: str,
) -> None:
    async with open_world(database_url, checkpoint_interval_seconds=INTERVAL_SECONDS) as world:
        world.run(world.rt.ledger.sign_unsigned)  # this process's writer has nothing left
        elsewhere = _append_elsewhere(world)
        # Its first batch signs (a start signs what is unsigned); the second waits a minute.
        first, second = world.run(_transfers, elsewhere, world, "elsewhere-1", "elsewhere-2")
        assert isinstance(first, Appended) and isinstance(second, Appended)
        assert first.checkpoint is not None and second.checkpoint is None

        pending = await world.get(f"/api/v1/receipts/{second.entry.id}", as_=world.auditor)
        world.run(elsewhere.close)  # signs its head
        ready = await world.get(f"/api/v1/receipts/{second.entry.id}", as_=world.auditor)

        body = problem(pending, 503, "receipt_pending")
        assert pending.headers["Retry-After"] == "1" and body["retry_after_seconds"] == 1
        assert body["receipt_url"] == f"/api/v1/receipts/{second.entry.id}"
        assert ready.status_code == 200, ready.text
