"""The Merkle tree over the journal: RFC 6962 / RFC 9162 hashing and proofs with SHA-256.

A node is named by coordinates ``(level, index)``: the complete aligned subtree
covering leaves ``[index * 2**level, (index + 1) * 2**level)``; level 0 is a leaf
hash. Only complete nodes are ever stored; the hash of an incomplete right edge
(an RFC 6962 subtree whose size is not a power of two) is always recomputed
from the complete nodes that cover it, with ``hash_of_nodes``.

Proof generation is split in two so a store can fetch everything in one query:
``inclusion_proof_nodes`` / ``consistency_proof_nodes`` say which nodes each proof
hash is made of, and ``inclusion_proof`` / ``consistency_proof`` combine them.
Verification follows RFC 9162 sections 2.1.3.2 and 2.1.4.2 step by step and
answers False, never raises, on anything malformed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ledger.limits import PROOF_HASHES_MAX, TREE_SIZE_MAX

HASH_SIZE = 32
# RFC 6962 section 2.1: the first byte of what is hashed tells a leaf from an
# interior node, so that no leaf can pass for a node. Everything hashes through these.
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()

Node = tuple[int, int]
GetNode = Callable[[int, int], bytes]


def leaf_hash(data: bytes) -> bytes:
    """The hash of one leaf: SHA-256(0x00 || data)."""
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The hash of an interior node: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def node_home(level: int, index: int) -> tuple[int, int]:
    """Where the complete node ``(level, index)``, level >= 1, is persisted.

    Returns ``(seq, slot)``: the node is stored on the row of its last leaf
    ``seq``, at position ``slot`` of that row's blob of completed subtrees, which
    is exactly the list ``Frontier.append`` returned for that leaf.
    """
    assert level >= 1, "leaves (level 0) live in their own rows"
    assert index >= 0
    return (index + 1) * (1 << level) - 1, level - 1


def range_nodes(begin: int, end: int) -> list[Node]:
    """The maximal aligned complete subtrees that exactly cover ``[begin, end)``, left to right.

    Sizes rise and then fall, so the list has at most two nodes per level.
    """
    if not (_is_int(begin) and _is_int(end) and 0 <= begin <= end <= TREE_SIZE_MAX):
        raise ValueError(
            f"invalid leaf range [{begin}, {end}): need 0 <= begin <= end <= {TREE_SIZE_MAX}"
        )
    nodes: list[Node] = []
    while begin < end:
        # The largest node that starts at `begin` must be aligned there and fit before `end`.
        level = (end - begin).bit_length() - 1
        if begin:
            level = min(level, (begin & -begin).bit_length() - 1)
        nodes.append((level, begin >> level))
        begin += 1 << level
    return nodes


def hash_of_nodes(hashes: Sequence[bytes]) -> bytes:
    """The RFC 6962 hash of a range, given the hashes of its ``range_nodes`` left to right.

    RFC 6962 splits off the largest power of two on the left, so for the ranges
    its recursion produces (an aligned start, sizes falling to the right) the
    hash is the right fold H(d1, H(d2, ... H(dk-1, dk))).
    """
    assert hashes, "an empty range has no node hash"
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


@dataclass(slots=True)
class Frontier:
    """The compact range ``[0, size)``: one hash per node of ``range_nodes(0, size)``.

    This is all a writer needs to keep in memory to append leaves and compute
    roots: at most 63 hashes.
    """

    size: int = 0
    hashes: list[bytes] = field(default_factory=list)

    @classmethod
    def empty(cls) -> Frontier:
        return cls(0, [])

    @classmethod
    def from_hashes(cls, size: int, hashes: Sequence[bytes]) -> Frontier:
        """Rebuild a frontier read back from storage, refusing hashes that cannot belong to it."""
        expected = len(range_nodes(0, size))
        if len(hashes) != expected:
            raise ValueError(
                f"a tree of size {size} has {expected} frontier hashes, got {len(hashes)}"
            )
        if not all(_is_hash(h) for h in hashes):
            raise ValueError(f"frontier hashes must be {HASH_SIZE} bytes each")
        return cls(size, list(hashes))

    def append(self, leaf: bytes) -> list[bytes]:
        """Add one leaf hash; return the hashes of the subtrees it completes, levels 1..t.

        The returned list is what ``node_home`` expects on this leaf's row: entry
        ``slot`` is the node of level ``slot + 1`` ending at this leaf.
        """
        if not _is_hash(leaf):
            raise ValueError(f"a leaf hash must be {HASH_SIZE} bytes")
        if self.size >= TREE_SIZE_MAX:
            raise ValueError(f"the tree is full at {TREE_SIZE_MAX} leaves")
        completed: list[bytes] = []
        node = leaf
        size = self.size
        # Each trailing one bit of the old size is a frontier node of the same
        # height as `node`, waiting for exactly this right sibling.
        while size & 1:
            node = node_hash(self.hashes.pop(), node)
            completed.append(node)
            size >>= 1
        self.hashes.append(node)
        self.size += 1
        return completed

    def append_subtree(self, level: int, node: bytes) -> None:
        """Add the complete subtree of 2**level leaves whose hash is ``node``.

        The same as ``append`` of each of its leaves, for a frontier whose size
        is a multiple of 2**level (the subtree is aligned where it lands).
        """
        assert self.size % (1 << level) == 0, "the subtree must be aligned"
        hashes = self.hashes
        size = self.size >> level
        # As in append: each trailing one bit is a node of the same height waiting.
        while size & 1:
            node = node_hash(hashes.pop(), node)
            size >>= 1
        hashes.append(node)
        self.size += 1 << level

    def root(self) -> bytes:
        """The RFC 6962 tree head of the leaves so far."""
        return hash_of_nodes(self.hashes) if self.size else EMPTY_ROOT

    def copy(self) -> Frontier:
        return Frontier(self.size, list(self.hashes))


def subtree_levels(first: int, leaves: bytes) -> list[bytes]:
    """The hashes of every aligned complete subtree inside a run of leaves, by level.

    ``leaves`` are the leaf hashes of leaves ``first, first + 1, ...``, joined.
    Level k holds the nodes ``(k, i)`` for ``ceil(first / 2**k) <= i <
    (first + n) // 2**k``, left to right, joined; ``subtree_node`` reads one.
    """
    levels = [leaves]
    begin, count = first, len(leaves) // HASH_SIZE
    sha256 = hashlib.sha256
    while True:
        low, high = (begin + 1) >> 1, (begin + count) >> 1
        if high <= low:
            return levels
        below = levels[-1]
        skip = (2 * low - begin) * HASH_SIZE  # a first node whose sibling is outside the run
        width = 2 * HASH_SIZE
        levels.append(
            b"".join(
                [
                    sha256(NODE_PREFIX + below[at : at + width]).digest()
                    for at in range(skip, skip + (high - low) * width, width)
                ]
            )
        )
        begin, count = low, high - low


def subtree_node(levels: Sequence[bytes], first: int, level: int, index: int) -> bytes:
    """The node ``(level, index)`` out of ``subtree_levels(first, ...)``."""
    begin = (index + (-first >> level)) * HASH_SIZE  # index - ceil(first / 2**level)
    return levels[level][begin : begin + HASH_SIZE]


def _path_nodes(level: int, index: int, size: int) -> list[list[Node]]:
    """The audit path of the complete node ``(level, index)`` in a tree of ``size`` leaves.

    Bottom-up, as RFC 9162 orders proofs. Below the level where the path to the
    node parts from the path to the last leaf, every sibling is a stored node,
    except the topmost, which may be the incomplete right edge and is then
    recomputed from its range. Above that, the node lies on the right edge and
    only its left siblings are hashed in.
    """
    assert (index + 1) << level <= size
    last = (size - 1) >> level
    inner = (index ^ last).bit_length()
    groups: list[list[Node]] = []
    for up in range(inner):
        height = level + up
        sibling = (index >> up) ^ 1
        end = min((sibling + 1) << height, size)
        groups.append(range_nodes(sibling << height, end))
    for up in range(inner, last.bit_length()):
        if (index >> up) & 1:
            groups.append([(level + up, (index >> up) ^ 1)])
    return groups


def inclusion_proof_nodes(index: int, size: int) -> list[list[Node]]:
    """For each inclusion proof hash of leaf ``index``, the nodes it is the ``hash_of_nodes`` of."""
    if not (_is_int(index) and _is_int(size) and 0 <= index < size <= TREE_SIZE_MAX):
        raise ValueError(
            f"no inclusion proof for leaf {index} in a tree of size {size}: "
            f"need 0 <= index < size <= {TREE_SIZE_MAX}"
        )
    return _path_nodes(0, index, size)


def consistency_proof_nodes(old_size: int, new_size: int) -> list[list[Node]]:
    """For each hash of the consistency proof from ``old_size`` to ``new_size``, its nodes.

    The proof is the largest complete node ending at ``old_size`` followed by its
    audit path in the new tree (RFC 9162 SUBPROOF); the first node is left out
    when it is the whole old tree, because the verifier already holds that root.
    """
    if not (_is_int(old_size) and _is_int(new_size) and 0 < old_size <= new_size <= TREE_SIZE_MAX):
        raise ValueError(
            f"no consistency proof from size {old_size} to {new_size}: "
            f"need 0 < old_size <= new_size <= {TREE_SIZE_MAX}"
        )
    if old_size == new_size:
        return []
    level = (old_size & -old_size).bit_length() - 1
    index = (old_size >> level) - 1
    groups = _path_nodes(level, index, new_size)
    if index != 0:
        groups.insert(0, [(level, index)])
    return groups


def _hashes_of(groups: list[list[Node]], get_node: GetNode) -> list[bytes]:
    return [hash_of_nodes([get_node(level, index) for level, index in group]) for group in groups]


def inclusion_proof(index: int, size: int, get_node: GetNode) -> list[bytes]:
    """The RFC 9162 inclusion proof; ``get_node(level, index)`` returns a complete node's hash."""
    return _hashes_of(inclusion_proof_nodes(index, size), get_node)


def consistency_proof(old_size: int, new_size: int, get_node: GetNode) -> list[bytes]:
    """The RFC 9162 consistency proof; ``get_node(level, index)`` returns a complete node's hash."""
    return _hashes_of(consistency_proof_nodes(old_size, new_size), get_node)


def root_from_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes | None:
    """The root an inclusion proof leads to (RFC 9162 2.1.3.2 steps 1-4), or None if malformed."""
    if not (_is_int(index) and _is_int(size) and 0 <= index < size <= TREE_SIZE_MAX):
        return None
    if not (_is_hash(leaf) and _are_hashes(proof)):
        return None
    fn, sn = index, size - 1
    r = leaf
    for p in proof:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            # A node on the right edge with no right sibling is promoted
            # unchanged in RFC 6962, so those levels consume no proof hash.
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return r if sn == 0 else None


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """Whether ``proof`` puts leaf hash ``leaf`` at ``index`` in the tree ``root`` of ``size``."""
    computed = root_from_inclusion(leaf, index, size, proof)
    return computed is not None and _is_hash(root) and computed == root


def verify_consistency(
    old_size: int,
    new_size: int,
    proof: Sequence[bytes],
    old_root: bytes,
    new_root: bytes,
) -> bool:
    """Whether ``proof`` shows the tree ``old_root`` of ``old_size`` is a prefix of ``new_root``.

    RFC 9162 2.1.4.2 for 0 < old_size < new_size. Equal sizes need an empty
    proof and equal roots. An empty old tree has no checkpoint, so no proof.
    """
    if not (_is_int(old_size) and _is_int(new_size) and 0 < old_size <= new_size <= TREE_SIZE_MAX):
        return False
    if not (_is_hash(old_root) and _is_hash(new_root) and _are_hashes(proof)):
        return False
    if old_size == new_size:
        return len(proof) == 0 and old_root == new_root
    if not proof:
        return False
    path = list(proof)
    # Steps 2-4: an old tree that is one complete node is its own starting
    # point, left out of the proof; otherwise the proof starts from the largest
    # complete node ending at old_size, so skip the levels it already covers.
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            # A left sibling lies inside the old tree, so both roots take it.
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            # A right sibling holds only new leaves.
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return fr == old_root and sr == new_root and sn == 0


class BatchNodes:
    """Every node a group commit needs to prove inclusion of its own leaves.

    Built from the frontier before the batch and the batch's leaf hashes. A
    proof for a batch leaf asks only for (a) left siblings of its path lying
    wholly before the batch, which are frontier nodes because their parent
    reaches into the batch; and (b) complete nodes ending inside the batch,
    including those straddling its start, which ``Frontier.append`` produces at
    their last leaf. Both kinds are kept, so building costs one hash per new
    node and each proof costs O(log n).
    """

    __slots__ = ("_after", "_nodes", "begin", "completed")

    def __init__(self, before: Frontier, leaves: Sequence[bytes]) -> None:
        self.begin = before.size
        self._after = before.copy()
        self._nodes: dict[Node, bytes] = dict(
            zip(range_nodes(0, before.size), before.hashes, strict=True)
        )
        # completed[j] is the blob content for the row of leaf begin + j.
        self.completed: list[list[bytes]] = []
        for leaf in leaves:
            seq = self._after.size
            done = self._after.append(leaf)
            self._nodes[(0, seq)] = leaf
            for slot, hash_ in enumerate(done):
                level = slot + 1
                self._nodes[(level, ((seq + 1) >> level) - 1)] = hash_
            self.completed.append(done)

    @property
    def size(self) -> int:
        """The tree size after the batch."""
        return self._after.size

    def root(self) -> bytes:
        return self._after.root()

    def frontier(self) -> Frontier:
        """The frontier after the batch, to carry into the next one."""
        return self._after.copy()

    def get(self, level: int, index: int) -> bytes:
        """A held node's hash; a KeyError names any node outside what batch proofs need."""
        try:
            return self._nodes[(level, index)]
        except KeyError:
            raise KeyError(
                f"node ({level}, {index}) is not held for the batch [{self.begin}, {self.size})"
            ) from None

    def inclusion_proof(self, index: int) -> list[bytes]:
        """The inclusion proof of batch leaf ``index`` in the tree of ``self.size``."""
        if not (_is_int(index) and self.begin <= index < self.size):
            raise ValueError(f"leaf {index} is not in the batch [{self.begin}, {self.size})")
        return inclusion_proof(index, self.size, self.get)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == HASH_SIZE


def _are_hashes(proof: object) -> bool:
    # Bound the length before touching the items: a proof comes from outside.
    return (
        isinstance(proof, Sequence)
        and not isinstance(proof, (bytes, str))
        and len(proof) <= PROOF_HASHES_MAX
        and all(_is_hash(h) for h in proof)
    )
