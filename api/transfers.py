"""Giving credits to a neighbour: a member themself (``POST /api/v1/transfers``) or a
coordinator at their desk for a resident who cannot (the coordinator's member screen).

One way for both: the caller's payment allowance is taken, a key held by an earning
that waits for approval is refused, and the transfer is appended; a refusal by the
ledger counts against the caller's allowance, so probing balances locks them out.
"""

from __future__ import annotations

from functools import partial

from api import drafts, earnings
from api.access import Principal
from api.idempotency import scoped_key
from api.runtime import Runtime
from ledger.ids import new_entry_id
from ledger.model import Entry


async def give(
    rt: Runtime,
    principal: Principal,
    community: str,
    payer: str,
    payee: str,
    amount_minutes: int,
    memo: str,
    idempotency_key: str,
    *,
    for_member: bool = False,
) -> Entry:
    """Book a transfer of ``amount_minutes`` from ``payer`` to ``payee`` under the caller's
    ``idempotency_key`` (a retry gets the same entry); ``for_member``: the caller is a
    coordinator giving for the payer, and the entry names them as its actor."""
    key = scoped_key(principal.credential_id, idempotency_key)
    rt.payments.take(principal.credential_id)
    await earnings.refuse_held_key(rt, principal, community, key)
    actor = principal.staff_actor if for_member else None
    draft = drafts.transfer(
        new_entry_id(), payer, payee, amount_minutes, memo, actor=actor, key=key
    )
    failed = partial(rt.payments.failed, principal.credential_id)
    return await drafts.append(rt.ledger, community, draft, on_rejected=failed)
