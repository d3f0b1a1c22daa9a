"""The journal for verifiers: signed checkpoint, canonical entries, proofs, receipts.

The HTTP side of the ledger format (docs/ledger-format.md, section 14): who may
ask for what, which sizes and ranges, and how proof hashes are encoded.

All of it may come from the read replica (``api.replica``): send the largest
tree size seen as ``Buurtmunt-Seen-Size`` and no answer is older than that.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import replace
from typing import Annotated

from litestar import Controller, Response, get
from litestar.params import QueryParameter

from api.access import Action, Principal, entry_accounts, may_see_entry
from api.auth import community_of
from api.problems import ProblemError, forbidden, invalid, not_found
from api.replica import ReadView
from api.routes.markers import EntryIdPath, PrincipalDep, ReadsDep, RuntimeDep, route
from api.schemas.ledger import (
    CheckpointOut,
    ConsistencyProofOut,
    InclusionProofOut,
    ReceiptOut,
    b64,
    receipt_url,
)
from api.witnesses import cosigned_note
from ledger import limits
from ledger.checkpoint import note_origin
from ledger.model import AccountType, Entry
from ledger.receipt import Receipt
from ledger.service import ProofUnavailable, ReceiptPending

NDJSON = "application/x-ndjson"


def _count(name: str, description: str, *, required: bool = True) -> QueryParameter:
    """A query parameter holding a count up to TREE_SIZE_MAX. The bounds are given to the
    OpenAPI document again as integers: Litestar writes ge/le as floats, and 2**63 - 1
    as a float is another number."""
    return QueryParameter(
        name=name,
        ge=0,
        le=limits.TREE_SIZE_MAX,
        required=required,
        description=description,
        schema_extra={"minimum": 0, "maximum": limits.TREE_SIZE_MAX},
    )


StartQuery = Annotated[int, _count("start", "The seq of the first entry of the page.")]
EndQuery = Annotated[
    int | None,
    _count(
        "end",
        "One past the seq of the last entry wanted; at most start + 1000. Default: start + 1000.",
        required=False,
    ),
]
SeqQuery = Annotated[int, _count("seq", "The entry's seq: 0 <= seq < size.")]
SizeQuery = Annotated[
    int, _count("size", "The tree size the proof is for: seq < size <= the journal's size.")
]
FromQuery = Annotated[
    int, _count("from", "The older tree size: 1 <= from <= to (a proof from 0 is refused).")
]
ToQuery = Annotated[int, _count("to", "The newer tree size: to <= the journal's size.")]

_HASHES = (
    " Each hash is 32 bytes in standard base64 with padding (RFC 4648 section 4), in the"
    " order RFC 9162 gives them"
)


def _unavailable(exc: ProofUnavailable, size: int) -> ProblemError:
    return invalid("proof_unavailable", str(exc), tree_size=size)


async def _visible(reads: ReadView, principal: Principal, community: str, entry: Entry) -> bool:
    """Whether ``principal`` may see ``entry``: the entry, its receipt, its proofs."""
    if principal.sees_everything:
        return True
    types: dict[str, AccountType] = {}
    for account_id in entry_accounts(entry):
        row = await reads.store.account(community, account_id)
        if row is not None:
            types[account_id] = row.spec.type
    return may_see_entry(principal, entry, types)


class LedgerController(Controller):
    path = "/api/v1/ledger"
    tags = ["ledger"]

    @get(
        "/checkpoint",
        summary="The newest signed checkpoint (C2SP signed note)",
        description=(
            "The head of the community's journal: origin, size, root hash (base64) and the"
            " signed note, with the verifier key named for the origin. Any signed-in caller."
        ),
        **route(Action.LEDGER_CHECKPOINT, 404),
    )
    async def checkpoint(self, reads: ReadsDep, principal: PrincipalDep) -> CheckpointOut:
        community = community_of(principal)
        checkpoint = await reads.ledger.checkpoint(community)
        if checkpoint is None:
            raise not_found("checkpoint_not_found", "The journal is empty.")
        return CheckpointOut(
            origin=note_origin(checkpoint.note),
            size=checkpoint.size,
            root_hash=b64(checkpoint.root),
            note=await cosigned_note(reads.db, community, checkpoint),
            verifier_key=(await reads.ledger.log_verifier(community)).key_string(),
        )

    @get(
        "/entries",
        summary="Entries start <= seq < end as canonical JSON lines (at most 1000)",
        description=(
            "Each line is an entry's exact canonical bytes and a newline, in seq order, for"
            " start <= seq < min(end, the journal's size): a page shorter than asked for ends"
            " at the journal's end, and a page past it is empty. At most ENTRY_RANGE_MAX (1000)"
            " entries a page; more is refused with range_invalid. Auditors and administrators."
        ),
        media_type=NDJSON,
        **route(Action.LEDGER_ENTRIES),
    )
    async def entries(
        self, reads: ReadsDep, principal: PrincipalDep, start: StartQuery, end: EndQuery = None
    ) -> Response[bytes]:
        community = community_of(principal)
        stop = start + limits.ENTRY_RANGE_MAX if end is None else end
        if stop < start or stop - start > limits.ENTRY_RANGE_MAX:
            raise invalid(
                "range_invalid", "Ask for start <= end, at most ENTRY_RANGE_MAX entries.",
                entry_range_max=limits.ENTRY_RANGE_MAX,
            )  # fmt: skip
        # The stored canonical bytes as they are: decoding them only to send the
        # same bytes back cost ~70 µs per entry.
        lines = await reads.store.raw_entries(community, start, stop)
        return Response(b"".join(line + b"\n" for line in lines), media_type=NDJSON)

    @get(
        "/proofs/inclusion",
        summary="RFC 6962 inclusion proof of entry seq in the tree of size",
        description=(
            "The RFC 9162 section 2.1.3 inclusion proof of entry seq in the tree of the first"
            " size entries, for any 0 <= seq < size <= the journal's size (not only signed"
            " sizes); anything else is proof_unavailable with the journal's size."
            + _HASHES
            + ": the leaf's sibling first, the root's child last. Whoever may see the entry:"
            " a member for entries of their own accounts; auditors and administrators for all."
        ),
        **route(Action.LEDGER_INCLUSION, 422),
    )
    async def inclusion(
        self, reads: ReadsDep, principal: PrincipalDep, seq: SeqQuery, size: SizeQuery
    ) -> InclusionProofOut:
        community = community_of(principal)
        try:
            hashes = await reads.ledger.inclusion_proof(community, seq, size)
        except ProofUnavailable as exc:
            raise _unavailable(exc, (await reads.store.head(community)).size) from None
        if not principal.sees_everything:
            (entry,) = await reads.store.entries(community, seq, seq + 1)
            if not await _visible(reads, principal, community, entry):
                raise forbidden("entry_not_visible", "This entry does not concern you.")
        return InclusionProofOut(seq=seq, size=size, hashes=[b64(h) for h in hashes])

    @get(
        "/proofs/consistency",
        summary="RFC 6962 consistency proof between two tree sizes",
        description=(
            "The RFC 9162 section 2.1.4 consistency proof that the tree of the first to"
            " entries extends the tree of the first from entries, for 1 <= from <= to <= the"
            " journal's size; from = to gives no hashes. A proof from 0 is refused"
            " (proof_unavailable): every tree extends the empty one, and RFC 9162 defines no"
            " proof for it." + _HASHES + ". Any signed-in caller."
        ),
        **route(Action.LEDGER_CONSISTENCY, 422),
    )
    async def consistency(
        self, reads: ReadsDep, principal: PrincipalDep, from_size: FromQuery, to_size: ToQuery
    ) -> ConsistencyProofOut:
        community = community_of(principal)
        try:
            hashes = await reads.ledger.consistency_proof(community, from_size, to_size)
        except ProofUnavailable as exc:
            raise _unavailable(exc, (await reads.store.head(community)).size) from None
        return ConsistencyProofOut(
            from_size=from_size, to_size=to_size, hashes=[b64(h) for h in hashes]
        )


async def _receipt(reads: ReadView, community: str, entry: Entry) -> Receipt:
    """The entry's receipt, waiting for the checkpoint that covers it if none does yet."""
    try:
        return await reads.ledger.receipt(community, entry.id)
    except ReceiptPending:
        pass
    except ProofUnavailable:
        raise not_found("entry_not_found", f"No entry {entry.id!r}.") from None
    interval = reads.ledger.cadence.interval_seconds
    wait = reads.ledger.checkpoint_wait_seconds
    if await reads.ledger.covering_checkpoint(community, entry.seq + 1, wait) is not None:
        with contextlib.suppress(ReceiptPending):
            return await reads.ledger.receipt(community, entry.id)
    seconds = max(1, math.ceil(interval))
    raise ProblemError(
        503, "receipt_pending",
        "No signed checkpoint covers this entry yet; ask again after Retry-After seconds.",
        headers={"Retry-After": str(seconds)},
        retry_after_seconds=seconds, receipt_url=receipt_url(entry.id),
    )  # fmt: skip


class ReceiptController(Controller):
    path = "/api/v1/receipts"
    tags = ["ledger"]

    @get(
        "/{entry_id:str}",
        summary="A receipt (c2sp.org/tlog-proof) for an entry",
        description=(
            "The entry's canonical bytes and a c2sp.org/tlog-proof receipt against the newest"
            " signed checkpoint, with the verifier key named for the origin. Whoever may see"
            " the entry. The ledger signs checkpoints at most an interval apart"
            " (BUURTMUNT_CHECKPOINT_INTERVAL_SECONDS): for an entry no checkpoint covers yet"
            " the answer waits for the next one, at most the interval and half a second;"
            " should none come by then, 503 receipt_pending says when to ask this URL again"
            " (Retry-After, retry_after_seconds) and names it (receipt_url)."
        ),
        **route(Action.RECEIPT_READ, 404),
    )
    async def read(
        self, entry_id: EntryIdPath, reads: ReadsDep, principal: PrincipalDep, rt: RuntimeDep
    ) -> ReceiptOut:
        community = community_of(principal)
        reads, entry = await rt.reads.holding(reads, community, entry_id)
        if entry is None:
            raise not_found("entry_not_found", f"No entry {entry_id!r}.")
        if not await _visible(reads, principal, community, entry):
            raise forbidden("entry_not_visible", "This entry does not concern you.")
        receipt = await _receipt(reads, community, entry)
        head = await reads.ledger.checkpoint(community)
        if head is not None and head.note == receipt.checkpoint_note:
            receipt = replace(
                receipt, checkpoint_note=await cosigned_note(reads.db, community, head)
            )
        return ReceiptOut(
            entry_id=entry.id,
            seq=entry.seq,
            entry=entry.data.decode("utf-8"),
            receipt=receipt.encode(),
            origin=note_origin(receipt.checkpoint_note),
            verifier_key=(await reads.ledger.log_verifier(community)).key_string(),
        )
