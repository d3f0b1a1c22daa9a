"""A small signed log built from leaves in memory, for witness tests."""

from __future__ import annotations

from dataclasses import dataclass, field

from ledger.checkpoint import Checkpoint, sign_checkpoint
from ledger.cosignature import AddCheckpoint
from ledger.merkle import (
    EMPTY_ROOT,
    consistency_proof,
    hash_of_nodes,
    leaf_hash,
    node_hash,
    range_nodes,
)
from ledger.note import NoteSigner


@dataclass
class TinyLog:
    """A log under ``origin`` whose leaves are ``leaves``, signed by ``signer``."""

    origin: str
    signer: NoteSigner
    leaves: list[bytes] = field(default_factory=list)

    def grow(self, count: int, tag: str = "entry") -> TinyLog:
        start = len(self.leaves)
        self.leaves.extend(f"{tag} {i}".encode() for i in range(start, start + count))
        return self

    def fork_at(self, size: int, tag: str) -> TinyLog:
        """Another history: the first ``size`` leaves, then different ones."""
        other = TinyLog(self.origin, self.signer, self.leaves[:size])
        return other.grow(len(self.leaves) - size, tag)

    def node(self, level: int, index: int) -> bytes:
        if level == 0:
            return leaf_hash(self.leaves[index])
        return node_hash(self.node(level - 1, 2 * index), self.node(level - 1, 2 * index + 1))

    def root(self, size: int) -> bytes:
        if size == 0:
            return EMPTY_ROOT
        return hash_of_nodes([self.node(*n) for n in range_nodes(0, size)])

    def note(self, size: int | None = None) -> str:
        size = len(self.leaves) if size is None else size
        return sign_checkpoint(Checkpoint(self.origin, size, self.root(size)), self.signer)

    def request(self, old_size: int, size: int | None = None) -> AddCheckpoint:
        size = len(self.leaves) if size is None else size
        proof = () if old_size in (0, size) else consistency_proof(old_size, size, self.node)
        return AddCheckpoint(old_size, tuple(proof), self.note(size))
