"""Receipts: C2SP transparency log proofs (c2sp.org/tlog-proof).

A receipt shows, offline, that an entry is in a community's log: the entry's
index, an RFC 6962 inclusion proof, and the signed checkpoint the proof leads
to. Its text form is exactly the spec's::

    c2sp.org/tlog-proof@v1
    extra <base64 opaque data>          (optional, unauthenticated)
    index <decimal, no leading zeroes>
    <base64 hash>                       (zero or more, leaf's sibling first)

    <the signed checkpoint note, verbatim>
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from ledger import limits
from ledger.checkpoint import Checkpoint, open_checkpoint, parse_decimal
from ledger.merkle import leaf_hash, verify_inclusion
from ledger.note import NoteVerifier, base64_decode_canonical

ReceiptErrorReason = Literal[
    "malformed_receipt",
    "receipt_too_large",
    "invalid_index",
    "invalid_proof_hash",
    "too_many_proof_hashes",
    "invalid_extra",
    "index_out_of_range",
    "inclusion_proof_failed",
]

HEADER = "c2sp.org/tlog-proof@v1"
HASH_BYTES = 32
_EXTRA_PREFIX = "extra "
_INDEX_PREFIX = "index "

# The longest receipt we could accept, derived from the bounds of its parts, so
# an oversized input is refused before any of it is split or decoded.
_RECEIPT_CHARS_MAX = (
    len(HEADER) + 1
    + len(_EXTRA_PREFIX) + 4 * (limits.RECEIPT_EXTRA_BYTES_MAX // 3 + 1) + 1
    + len(_INDEX_PREFIX) + len(str(limits.TREE_SIZE_MAX)) + 1
    + limits.PROOF_HASHES_MAX * (4 * (HASH_BYTES // 3 + 1) + 1)
    + 1
    + limits.NOTE_BYTES_MAX
)  # fmt: skip


class ReceiptError(ValueError):
    """A receipt was refused; ``reason`` is a stable short code."""

    def __init__(self, reason: ReceiptErrorReason, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason: ReceiptErrorReason = reason


@dataclass(frozen=True, slots=True)
class Receipt:
    """Proof that the leaf at ``index`` is in the tree of ``checkpoint_note``.

    ``extra`` is opaque and unauthenticated: never trust it. ``None`` means the
    line is absent; an empty value is not representable and is refused.
    """

    index: int
    proof: tuple[bytes, ...]
    checkpoint_note: str
    extra: bytes | None = None

    def __post_init__(self) -> None:
        # The largest tree has TREE_SIZE_MAX leaves, so indices stop one short.
        if type(self.index) is not int or not 0 <= self.index < limits.TREE_SIZE_MAX:
            raise ReceiptError("invalid_index")
        if len(self.proof) > limits.PROOF_HASHES_MAX:
            raise ReceiptError("too_many_proof_hashes")
        if any(not isinstance(h, bytes) or len(h) != HASH_BYTES for h in self.proof):
            raise ReceiptError("invalid_proof_hash", "each hash is 32 bytes")
        note = self.checkpoint_note
        if not note.endswith("\n") or len(note) > limits.NOTE_BYTES_MAX:
            raise ReceiptError("malformed_receipt", "checkpoint note")
        if self.extra is not None and not 0 < len(self.extra) <= limits.RECEIPT_EXTRA_BYTES_MAX:
            raise ReceiptError("invalid_extra", "absent, or 1 to RECEIPT_EXTRA_BYTES_MAX bytes")

    def encode(self) -> str:
        """The receipt's text, ready to be saved as a ``.tlog-proof`` file."""
        lines = [HEADER]
        if self.extra is not None:
            lines.append(_EXTRA_PREFIX + base64.b64encode(self.extra).decode("ascii"))
        lines.append(f"{_INDEX_PREFIX}{self.index}")
        lines.extend(base64.b64encode(h).decode("ascii") for h in self.proof)
        return "\n".join(lines) + "\n\n" + self.checkpoint_note


def _parse_extra(line: str) -> bytes:
    extra = base64_decode_canonical(line[len(_EXTRA_PREFIX) :])
    if extra is None or not 0 < len(extra) <= limits.RECEIPT_EXTRA_BYTES_MAX:
        raise ReceiptError("invalid_extra")
    return extra


def _parse_proof(lines: Sequence[str]) -> tuple[bytes, ...]:
    if len(lines) > limits.PROOF_HASHES_MAX:
        raise ReceiptError("too_many_proof_hashes")
    proof: list[bytes] = []
    for line in lines:
        digest = base64_decode_canonical(line)
        if digest is None or len(digest) != HASH_BYTES:
            raise ReceiptError("invalid_proof_hash", "32 bytes in canonical base64")
        proof.append(digest)
    return tuple(proof)


def parse_receipt(text: str) -> Receipt:
    """Parse a receipt's text strictly; the checkpoint is not verified here."""
    if len(text) > _RECEIPT_CHARS_MAX:
        raise ReceiptError("receipt_too_large")
    # The proof section has no empty lines, so the first blank line ends it.
    split = text.find("\n\n")
    if split < 0:
        raise ReceiptError("malformed_receipt", "no blank line before the checkpoint")
    head, checkpoint_note = text[:split].split("\n"), text[split + 2 :]
    if head[0] != HEADER:
        raise ReceiptError("malformed_receipt", f"first line must be {HEADER}")
    position = 1
    extra = None
    if position < len(head) and head[position].startswith(_EXTRA_PREFIX):
        extra = _parse_extra(head[position])
        position += 1
    if position >= len(head) or not head[position].startswith(_INDEX_PREFIX):
        raise ReceiptError("malformed_receipt", "missing index line")
    index = parse_decimal(head[position][len(_INDEX_PREFIX) :], limits.TREE_SIZE_MAX - 1)
    if index is None:
        raise ReceiptError("invalid_index", "decimal without leading zeroes")
    proof = _parse_proof(head[position + 1 :])
    return Receipt(index, proof, checkpoint_note, extra)


def verify_receipt(
    receipt: Receipt,
    entry: bytes,
    verifier: NoteVerifier,
    *,
    expected_origin: str | None = None,
) -> Checkpoint:
    """Check that ``entry`` (the leaf's bytes) is in the log ``verifier`` signs.

    Opens the checkpoint with ``verifier`` (raising ``NoteError`` or
    ``CheckpointError``), then checks the inclusion proof of the leaf hash
    SHA-256(0x00 || entry) at ``receipt.index``. Returns the checkpoint, whose
    origin the caller must compare unless ``expected_origin`` was given.
    """
    checkpoint = open_checkpoint(receipt.checkpoint_note, verifier, expected_origin=expected_origin)
    if receipt.index >= checkpoint.size:
        raise ReceiptError("index_out_of_range", f"tree size is {checkpoint.size}")
    included = verify_inclusion(
        leaf_hash(entry), receipt.index, checkpoint.size, receipt.proof, checkpoint.root
    )
    if not included:
        raise ReceiptError("inclusion_proof_failed")
    return checkpoint
