"""Which entries pay a payment request: the ids ``<RID>.<attempt>`` that name their request."""

from __future__ import annotations

from api.payment_store import attempt_entry_id, paid_attempt, paid_seconds
from ledger.clock import parse_time
from ledger.memory import MemoryStore
from ledger.model import Draft, Entry
from tests.support.builders import a_ledger, a_neighbourhood, accepted, earn, redeem, transfer

RID = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


async def entries_of(*drafts: Draft) -> list[Entry]:
    ledger = a_ledger(MemoryStore())
    try:
        found = await accepted(ledger, *a_neighbourhood(members=2), *drafts)
        return found[-len(drafts) :]
    finally:
        await ledger.close()


async def test_a_redeem_or_transfer_named_for_its_request_pays_that_attempt() -> None:
    other = RID[::-1]
    _, shop, neighbour = await entries_of(
        earn("org-1", "member-1", 120),
        redeem(minutes=10, id=attempt_entry_id(RID, 3), reference=RID),
        transfer("member-1", "member-2", 5, id=attempt_entry_id(other, 1), reference=other),
    )

    assert paid_attempt(shop) == (RID, 3)
    assert paid_attempt(neighbour) == (other, 1)
    assert paid_seconds(shop) == int(parse_time(shop.time).timestamp())


async def test_entries_that_do_not_name_their_request_in_their_id_pay_none() -> None:
    entries = await entries_of(
        earn("org-1", "member-1", 120, id=f"{RID}.1", reference=RID),
        redeem(minutes=10, id=f"{RID}.1:tag", reference=RID),
        redeem(minutes=10, id=f"{RID}.2", reference=f"code:{RID}"),
        redeem(minutes=10, id=f"{RID}.x", reference=RID),
        redeem(minutes=10, id=f"{RID}.4", reference=""),
    )

    assert [paid_attempt(e) for e in entries] == [None] * len(entries)
