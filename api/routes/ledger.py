"""The journal for verifiers: signed checkpoint, canonical entries, proofs, receipts.

All of it may come from the read replica (``api.replica``): send the largest
tree size seen as ``Buurtmunt-Seen-Size`` and no answer is older than that.
"""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, get
from litestar.params import QueryParameter

from api.access import Action, entry_accounts, may_see_entry
from api.auth import community_of
from api.problems import ProblemError, forbidden, invalid, not_found
from api.routes.markers import (
    EntryIdPath,
    PrincipalDep,
    ReadsDep,
    SeqQuery,
    SizeQuery,
    route,
)
from api.schemas.ledger import (
    CheckpointOut,
    ConsistencyProofOut,
    InclusionProofOut,
    ReceiptOut,
    b64,
)
from ledger import limits
from ledger.checkpoint import note_origin
from ledger.model import AccountType
from ledger.service import ProofUnavailable

NDJSON = "application/x-ndjson"
StartQuery = Annotated[int, QueryParameter(name="start", ge=0, le=limits.TREE_SIZE_MAX)]
EndQuery = Annotated[
    int | None, QueryParameter(name="end", ge=0, le=limits.TREE_SIZE_MAX, required=False)
]
FromQuery = Annotated[int, QueryParameter(name="from", ge=0, le=limits.TREE_SIZE_MAX)]
ToQuery = Annotated[int, QueryParameter(name="to", ge=0, le=limits.TREE_SIZE_MAX)]


def _unavailable(exc: ProofUnavailable, size: int) -> ProblemError:
    return invalid("proof_unavailable", str(exc), tree_size=size)


class LedgerController(Controller):
    path = "/api/v1/ledger"
    tags = ["ledger"]

    @get(
        "/checkpoint",
        summary="The newest signed checkpoint (C2SP signed note)",
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
            note=checkpoint.note,
            verifier_key=reads.ledger.verifier.key_string(),
        )

    @get(
        "/entries",
        summary="Entries start <= seq < end as canonical JSON lines (at most 1000)",
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
        **route(Action.LEDGER_INCLUSION),
    )
    async def inclusion(
        self, reads: ReadsDep, principal: PrincipalDep, seq: SeqQuery, size: SizeQuery
    ) -> InclusionProofOut:
        community = community_of(principal)
        try:
            hashes = await reads.ledger.inclusion_proof(community, seq, size)
        except ProofUnavailable as exc:
            raise _unavailable(exc, (await reads.store.head(community)).size) from None
        return InclusionProofOut(seq=seq, size=size, hashes=[b64(h) for h in hashes])

    @get(
        "/proofs/consistency",
        summary="RFC 6962 consistency proof between two tree sizes",
        **route(Action.LEDGER_CONSISTENCY),
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


class ReceiptController(Controller):
    path = "/api/v1/receipts"
    tags = ["ledger"]

    @get(
        "/{entry_id:str}",
        summary="A receipt (c2sp.org/tlog-proof) for an entry",
        **route(Action.RECEIPT_READ, 404),
    )
    async def read(
        self, entry_id: EntryIdPath, reads: ReadsDep, principal: PrincipalDep
    ) -> ReceiptOut:
        community = community_of(principal)
        entry = await reads.store.entry_by_id(community, entry_id)
        if entry is None:
            raise not_found("entry_not_found", f"No entry {entry_id!r}.")
        types: dict[str, AccountType] = {}
        for account_id in entry_accounts(entry):
            row = await reads.store.account(community, account_id)
            if row is not None:
                types[account_id] = row.spec.type
        if not may_see_entry(principal, entry, types):
            raise forbidden("entry_not_visible", "This entry does not concern you.")
        try:
            receipt = await reads.ledger.receipt(community, entry_id)
        except ProofUnavailable:
            raise not_found("entry_not_found", f"No entry {entry_id!r}.") from None
        return ReceiptOut(
            entry_id=entry.id,
            seq=entry.seq,
            entry=entry.data.decode("utf-8"),
            receipt=receipt.encode(),
            origin=note_origin(receipt.checkpoint_note),
            verifier_key=reads.ledger.verifier.key_string(),
        )
