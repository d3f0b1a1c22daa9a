"""Which request an entry pays: the one its reference names, if it is a redeem or transfer.

Whether the request may be paid is decided by its row, in ``pay_requests``
inside the batch's transaction; the e2e payment request tests cover that.
"""

from __future__ import annotations

from api.payment_store import paid_request, paid_seconds, paid_time
from api.schemas.common import rfc3339
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


async def test_a_redeem_or_transfer_may_pay_the_request_its_reference_names() -> None:
    other = RID[::-1]
    _, shop, neighbour = await entries_of(
        earn("org-1", "member-1", 120),
        redeem(minutes=10, id="01JEXAMPLE0000000000000001", reference=RID),
        transfer("member-1", "member-2", 5, id="01JEXAMPLE0000000000000002", reference=other),
    )

    assert paid_request(shop) == RID
    assert paid_request(neighbour) == other
    assert paid_seconds(shop) == int(parse_time(shop.time).timestamp())
    assert paid_time(shop) == rfc3339(paid_seconds(shop)), "the same moment, as the event says it"


async def test_entries_of_other_kinds_or_without_a_requests_id_as_reference_pay_none() -> None:
    entries = await entries_of(
        earn("org-1", "member-1", 120, id=f"{RID}.1", reference=RID),
        redeem(minutes=10, id=f"{RID}.4", reference=""),
        redeem(minutes=10, id=f"{RID}.5", reference="code:12"),
        redeem(minutes=10, id=f"{RID}.6", reference=f"card:{RID}"),
    )

    assert [paid_request(e) for e in entries] == [None] * len(entries)
