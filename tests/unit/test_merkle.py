"""The Merkle tree against published vectors, a naive RFC 6962 reference and mutated proofs."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.limits import PROOF_HASHES_MAX, TREE_SIZE_MAX
from ledger.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    BatchNodes,
    Frontier,
    consistency_proof,
    consistency_proof_nodes,
    hash_of_nodes,
    inclusion_proof,
    inclusion_proof_nodes,
    leaf_hash,
    node_hash,
    node_home,
    range_nodes,
    root_from_inclusion,
    subtree_levels,
    subtree_node,
    verify_consistency,
    verify_inclusion,
)

GetNode = Callable[[int, int], bytes]

# --- Published vectors ------------------------------------------------------
#
# Copied from transparency-dev/merkle, proof/verify_test.go at commit
# 02194e9afb6c1d95b5381350007963aa70fff472 (variables `leaves`, `roots`,
# `inclusionProofs`, `consistencyProofs`), the vectors Certificate Transparency
# has used since RFC 6962. There, the leaf of an inclusion vector is numbered
# from 1; here it is the 0-based index.

VECTOR_LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]

VECTOR_ROOTS = {
    1: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    2: "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    3: "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    4: "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    5: "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    6: "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    7: "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    8: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
}

# (index, size, proof): upstream {1, 1}, {1, 8}, {6, 8}, {3, 3}, {2, 5}.
VECTOR_INCLUSION = [
    (0, 1, []),
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]

# (old_size, new_size, proof)
VECTOR_CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]


def unhex(hashes: Sequence[str]) -> list[bytes]:
    return [bytes.fromhex(h) for h in hashes]


# --- Naive reference: RFC 6962 section 2.1, word for word ---------------------


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def largest_power_of_two_below(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(d: Sequence[bytes]) -> bytes:
    """MTH(D[n]) of a list of leaf inputs."""
    n = len(d)
    if n == 0:
        return sha256(b"")
    if n == 1:
        return sha256(b"\x00" + d[0])
    k = largest_power_of_two_below(n)
    return sha256(b"\x01" + mth(d[:k]) + mth(d[k:]))


def path(m: int, d: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]): the audit path of leaf m."""
    n = len(d)
    if n == 1:
        return []
    k = largest_power_of_two_below(n)
    if m < k:
        return [*path(m, d[:k]), mth(d[k:n])]
    return [*path(m - k, d[k:n]), mth(d[:k])]


def proof(m: int, d: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]): the consistency proof from the first m leaves."""
    return subproof(m, d, True)


def subproof(m: int, d: Sequence[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [mth(d)]
    k = largest_power_of_two_below(n)
    if m <= k:
        return [*subproof(m, d[:k], b), mth(d[k:n])]
    return [*subproof(m - k, d[k:n], False), mth(d[:k])]


def path_sides(m: int, n: int) -> list[str]:
    """On which side each PATH(m, D[n]) hash is combined: all a verifier sees of a tree's shape."""
    if n == 1:
        return []
    k = largest_power_of_two_below(n)
    if m < k:
        return [*path_sides(m, k), "right"]
    return [*path_sides(m - k, n - k), "left"]


def subproof_sides(m: int, n: int, b: bool) -> list[str]:
    """How each SUBPROOF(m, D[n], b) hash is used: the shape a consistency verifier sees."""
    if m == n:
        return [] if b else ["start"]
    k = largest_power_of_two_below(n)
    if m <= k:
        return [*subproof_sides(m, k, b), "right of the new root only"]
    return [*subproof_sides(m - k, n - k, False), "left of both roots"]


# --- A store of leaf rows, filled by Frontier.append and read through node_home ---

LEAVES_MAX = 300
# Distinct inputs of varied lengths, so no two leaves or nodes share a hash.
DATA = [b"entry %d" % i + b"." * (i % 5) for i in range(LEAVES_MAX)]
LEAF_HASHES = [leaf_hash(d) for d in DATA]


def fill_rows() -> list[list[bytes]]:
    frontier = Frontier.empty()
    return [frontier.append(h) for h in LEAF_HASHES]


ROWS = fill_rows()


def stored_nodes(size: int) -> GetNode:
    """Read nodes as the store would, refusing any node not complete in a tree of size."""

    def get_node(level: int, index: int) -> bytes:
        assert (index + 1) << level <= size, f"node ({level}, {index}) beyond {size}"
        if level == 0:
            return LEAF_HASHES[index]
        seq, slot = node_home(level, index)
        return ROWS[seq][slot]

    return get_node


def frontier_at(size: int) -> Frontier:
    get_node = stored_nodes(size)
    return Frontier.from_hashes(size, [get_node(*n) for n in range_nodes(0, size)])


@st.composite
def index_and_size(draw: st.DrawFn, size_max: int = LEAVES_MAX) -> tuple[int, int]:
    size = draw(st.integers(1, size_max))
    return draw(st.integers(0, size - 1)), size


@st.composite
def old_and_new_size(draw: st.DrawFn, size_max: int = LEAVES_MAX) -> tuple[int, int]:
    new_size = draw(st.integers(1, size_max))
    return draw(st.integers(1, new_size)), new_size


def flip_bit(hashes: Sequence[bytes], which: int, bit: int) -> list[bytes]:
    flipped = list(hashes)
    changed = bytearray(flipped[which])
    changed[bit // 8] ^= 1 << (bit % 8)
    flipped[which] = bytes(changed)
    return flipped


# --- Published vectors ------------------------------------------------------


def test_hashes_match_the_published_rfc6962_hasher_vectors() -> None:
    # From transparency-dev/merkle rfc6962/rfc6962_test.go,
    # commit 78493b07ef9b552e3379abf9e23d4da26fbe797c.
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert leaf_hash(b"").hex() == (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    )
    assert leaf_hash(b"L123456").hex() == (
        "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"
    )
    assert node_hash(b"N123", b"N456").hex() == (
        "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb"
    )
    assert Frontier.empty().root() == EMPTY_ROOT == sha256(b"")


@pytest.mark.parametrize("size", sorted(VECTOR_ROOTS))
def test_frontier_roots_match_the_published_roots(size: int) -> None:
    frontier = Frontier.empty()
    for data in VECTOR_LEAVES[:size]:
        frontier.append(leaf_hash(data))

    assert frontier.root().hex() == VECTOR_ROOTS[size]
    assert mth(VECTOR_LEAVES[:size]).hex() == VECTOR_ROOTS[size]


def vector_nodes(size: int) -> GetNode:
    leaves = VECTOR_LEAVES[:size]

    def get_node(level: int, index: int) -> bytes:
        assert (index + 1) << level <= size
        return mth(leaves[index << level : (index + 1) << level])

    return get_node


@pytest.mark.parametrize(("index", "size", "expected"), VECTOR_INCLUSION)
def test_inclusion_proofs_match_the_published_vectors(
    index: int, size: int, expected: list[str]
) -> None:
    leaf = leaf_hash(VECTOR_LEAVES[index])
    root = bytes.fromhex(VECTOR_ROOTS[size])

    generated = inclusion_proof(index, size, vector_nodes(size))

    assert generated == unhex(expected)
    assert path(index, VECTOR_LEAVES[:size]) == unhex(expected)
    assert verify_inclusion(leaf, index, size, generated, root)
    assert root_from_inclusion(leaf, index, size, generated) == root


@pytest.mark.parametrize(("old_size", "new_size", "expected"), VECTOR_CONSISTENCY)
def test_consistency_proofs_match_the_published_vectors(
    old_size: int, new_size: int, expected: list[str]
) -> None:
    old_root = bytes.fromhex(VECTOR_ROOTS[old_size])
    new_root = bytes.fromhex(VECTOR_ROOTS[new_size])

    generated = consistency_proof(old_size, new_size, vector_nodes(new_size))

    assert generated == unhex(expected)
    assert proof(old_size, VECTOR_LEAVES[:new_size]) == unhex(expected)
    assert verify_consistency(old_size, new_size, generated, old_root, new_root)


@pytest.mark.parametrize(("index", "size", "expected"), VECTOR_INCLUSION[1:])
def test_every_bit_flip_in_a_published_inclusion_proof_fails(
    index: int, size: int, expected: list[str]
) -> None:
    leaf = leaf_hash(VECTOR_LEAVES[index])
    root = bytes.fromhex(VECTOR_ROOTS[size])
    good = unhex(expected)

    for which in range(len(good)):
        for bit in range(HASH_SIZE * 8):
            bad = flip_bit(good, which, bit)
            assert not verify_inclusion(leaf, index, size, bad, root)


@pytest.mark.parametrize(("old_size", "new_size", "expected"), VECTOR_CONSISTENCY[1:])
def test_every_bit_flip_in_a_published_consistency_proof_fails(
    old_size: int, new_size: int, expected: list[str]
) -> None:
    old_root = bytes.fromhex(VECTOR_ROOTS[old_size])
    new_root = bytes.fromhex(VECTOR_ROOTS[new_size])
    good = unhex(expected)

    for which in range(len(good)):
        for bit in range(HASH_SIZE * 8):
            bad = flip_bit(good, which, bit)
            assert not verify_consistency(old_size, new_size, bad, old_root, new_root)


# --- Against the naive reference -------------------------------------------


@given(st.integers(0, LEAVES_MAX))
def test_the_frontier_root_equals_the_naive_root(size: int) -> None:
    assert frontier_at(size).root() == mth(DATA[:size])


@given(index_and_size())
def test_every_inclusion_proof_equals_the_naive_path_and_verifies(
    case: tuple[int, int],
) -> None:
    index, size = case
    root = mth(DATA[:size])

    generated = inclusion_proof(index, size, stored_nodes(size))

    assert generated == path(index, DATA[:size])
    assert verify_inclusion(LEAF_HASHES[index], index, size, generated, root)


@given(old_and_new_size())
def test_every_consistency_proof_equals_the_naive_proof_and_verifies(
    case: tuple[int, int],
) -> None:
    old_size, new_size = case
    old_root, new_root = mth(DATA[:old_size]), mth(DATA[:new_size])

    generated = consistency_proof(old_size, new_size, stored_nodes(new_size))

    assert generated == proof(old_size, DATA[:new_size])
    assert verify_consistency(old_size, new_size, generated, old_root, new_root)


def test_every_node_a_leaf_completes_is_stored_at_that_nodes_home() -> None:
    for seq, row in enumerate(ROWS):
        # A leaf completes one subtree per trailing one bit of its sequence number.
        trailing_ones = (seq ^ (seq + 1)).bit_length() - 1
        assert len(row) == trailing_ones
        for slot, stored in enumerate(row):
            level = slot + 1
            index = ((seq + 1) >> level) - 1
            assert node_home(level, index) == (seq, slot)
            assert stored == mth(DATA[index << level : (index + 1) << level])


# --- Mutated inclusion proofs ------------------------------------------------


@given(index_and_size(), st.data())
def test_a_truncated_extended_or_reordered_inclusion_proof_fails(
    case: tuple[int, int], data: st.DataObject
) -> None:
    index, size = case
    leaf, root = LEAF_HASHES[index], mth(DATA[:size])
    good = inclusion_proof(index, size, stored_nodes(size))
    extra = data.draw(st.binary(min_size=HASH_SIZE, max_size=HASH_SIZE))

    assert not verify_inclusion(leaf, index, size, [*good, extra], root)
    assert not verify_inclusion(leaf, index, size, [extra, *good], root)
    assert not verify_inclusion(leaf, index, size, [*good, root], root)
    assert root_from_inclusion(leaf, index, size, [*good, extra]) is None
    if good:
        assert not verify_inclusion(leaf, index, size, good[:-1], root)
        assert not verify_inclusion(leaf, index, size, good[1:], root)
    if len(good) >= 2:
        i, j = data.draw(
            st.lists(st.integers(0, len(good) - 1), min_size=2, max_size=2, unique=True)
        )
        swapped = list(good)
        swapped[i], swapped[j] = swapped[j], swapped[i]
        assert not verify_inclusion(leaf, index, size, swapped, root)


@given(index_and_size(), st.data())
def test_an_inclusion_proof_with_any_bit_flipped_fails(
    case: tuple[int, int], data: st.DataObject
) -> None:
    index, size = case
    leaf, root = LEAF_HASHES[index], mth(DATA[:size])
    good = inclusion_proof(index, size, stored_nodes(size))

    for which in range(len(good)):
        bit = data.draw(st.integers(0, HASH_SIZE * 8 - 1))
        assert not verify_inclusion(leaf, index, size, flip_bit(good, which, bit), root)
    bit = data.draw(st.integers(0, HASH_SIZE * 8 - 1))
    assert not verify_inclusion(flip_bit([leaf], 0, bit)[0], index, size, good, root)
    assert not verify_inclusion(leaf, index, size, good, flip_bit([root], 0, bit)[0])


@given(index_and_size())
def test_an_inclusion_proof_presented_for_another_index_fails(
    case: tuple[int, int],
) -> None:
    index, size = case
    leaf, root = LEAF_HASHES[index], mth(DATA[:size])
    good = inclusion_proof(index, size, stored_nodes(size))

    for wrong in {index - 1, index + 1, index ^ 2} - {index}:
        assert not verify_inclusion(leaf, wrong, size, good, root)


@given(index_and_size(size_max=LEAVES_MAX - 1))
def test_an_inclusion_proof_presented_for_a_neighbouring_size_fails(
    case: tuple[int, int],
) -> None:
    index, size = case
    leaf = LEAF_HASHES[index]
    good = inclusion_proof(index, size, stored_nodes(size))

    for wrong in (size - 1, size + 1):
        # Against the real tree of the claimed size the proof can never pass.
        assert not verify_inclusion(leaf, index, wrong, good, mth(DATA[:wrong]))
        # Against the original root, RFC 9162 verification sees only on which
        # side each hash joins; it passes exactly when both sizes give the leaf
        # the same sides (leaf 0 of 5 and of 6: right, right, right), because
        # proof hashes are opaque and could stand for either tree.
        same_shape = 0 <= index < wrong and path_sides(index, wrong) == path_sides(index, size)
        assert verify_inclusion(leaf, index, wrong, good, mth(DATA[:size])) == same_shape


# --- Mutated consistency proofs ----------------------------------------------


@given(old_and_new_size(), st.data())
def test_a_mutated_consistency_proof_fails(case: tuple[int, int], data: st.DataObject) -> None:
    old_size, new_size = case
    old_root, new_root = mth(DATA[:old_size]), mth(DATA[:new_size])
    good = consistency_proof(old_size, new_size, stored_nodes(new_size))
    extra = data.draw(st.binary(min_size=HASH_SIZE, max_size=HASH_SIZE))

    def fails(proof_: list[bytes], old: bytes = old_root, new: bytes = new_root) -> bool:
        return not verify_consistency(old_size, new_size, proof_, old, new)

    assert fails([*good, extra]) and fails([extra, *good])
    if old_size == new_size:
        assert fails(good, old_root, extra) or extra == old_root
        return
    assert fails(good[:-1]) and fails(good[1:]) and fails([])
    assert fails(good, new_root, old_root)
    for which in range(len(good)):
        bit = data.draw(st.integers(0, HASH_SIZE * 8 - 1))
        assert fails(flip_bit(good, which, bit))
    bit = data.draw(st.integers(0, HASH_SIZE * 8 - 1))
    assert fails(good, flip_bit([old_root], 0, bit)[0])
    assert fails(good, old_root, flip_bit([new_root], 0, bit)[0])
    if len(good) >= 2:
        i, j = data.draw(
            st.lists(st.integers(0, len(good) - 1), min_size=2, max_size=2, unique=True)
        )
        swapped = list(good)
        swapped[i], swapped[j] = swapped[j], swapped[i]
        assert fails(swapped)


def claims_beside(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """Other valid size pairs near (old_size, new_size) that a proof could be presented for."""
    claims = [
        (old_size - 1, new_size),
        (old_size + 1, new_size),
        (old_size, new_size - 1),
        (old_size, new_size + 1),
        (old_size, 2 * new_size),
    ]
    return [(o, n) for o, n in claims if 0 < o < n and (o, n) != (old_size, new_size)]


@given(old_and_new_size(size_max=LEAVES_MAX // 2))
def test_a_consistency_proof_presented_for_neighbouring_sizes_fails(
    case: tuple[int, int],
) -> None:
    old_size, new_size = case
    old_root, new_root = mth(DATA[:old_size]), mth(DATA[:new_size])
    good = consistency_proof(old_size, new_size, stored_nodes(new_size))

    for old, new in claims_beside(old_size, new_size):
        # Against the real trees of the claimed sizes the proof can never pass.
        claimed = (mth(DATA[:old]), mth(DATA[:new]))
        assert not verify_consistency(old, new, good, *claimed)
        # Against the original roots it passes exactly when the claimed sizes
        # give the proof the same shape, for the reason given for inclusion.
        same_shape = subproof_sides(old, new, True) == subproof_sides(old_size, new_size, True)
        assert verify_consistency(old, new, good, old_root, new_root) == same_shape


# --- Garbage never raises ----------------------------------------------------


@given(
    st.binary(max_size=40),
    st.integers(-(2**64), 2**64),
    st.integers(-(2**64), 2**64),
    st.lists(st.binary(max_size=40), max_size=8),
    st.binary(max_size=40),
)
def test_verification_answers_false_and_never_raises_on_garbage(
    hash_: bytes, a: int, b: int, proof_: list[bytes], other: bytes
) -> None:
    # Only a one-leaf tree or two equal sizes can verify without proof hashes.
    trivial = not proof_ and len(hash_) == HASH_SIZE and hash_ == other
    one_leaf = trivial and a == 0 and b == 1
    same_tree = trivial and a == b and 0 < a <= TREE_SIZE_MAX

    assert verify_inclusion(hash_, a, b, proof_, other) is one_leaf
    assert verify_consistency(a, b, proof_, hash_, other) is same_tree


class UnreadableProof(Sequence[bytes]):
    """A proof claiming a billion hashes, any of which fails the test if read."""

    def __len__(self) -> int:
        return 10**9

    def __getitem__(self, index: object) -> bytes:  # type: ignore[override]
        raise AssertionError("an over-long proof was read")


def test_an_overlong_proof_is_refused_before_its_hashes_are_read() -> None:
    leaf = bytes(HASH_SIZE)

    assert not verify_inclusion(leaf, 0, TREE_SIZE_MAX, UnreadableProof(), leaf)
    assert not verify_consistency(1, TREE_SIZE_MAX, UnreadableProof(), leaf, leaf)


def test_verification_refuses_proofs_longer_than_the_bound() -> None:
    too_long = [bytes(HASH_SIZE)] * (PROOF_HASHES_MAX + 1)
    leaf = bytes(HASH_SIZE)

    assert not verify_inclusion(leaf, 0, TREE_SIZE_MAX, too_long, leaf)
    assert root_from_inclusion(leaf, 0, TREE_SIZE_MAX, too_long) is None
    assert not verify_consistency(1, TREE_SIZE_MAX, too_long, leaf, leaf)


@pytest.mark.parametrize(
    "arguments",
    [
        (leaf_hash(b""), 0, 0, [], leaf_hash(b"")),
        (leaf_hash(b""), 1, 1, [], leaf_hash(b"")),
        (leaf_hash(b""), -1, 1, [], leaf_hash(b"")),
        (leaf_hash(b""), 0, TREE_SIZE_MAX + 1, [], leaf_hash(b"")),
        (leaf_hash(b"")[:31], 0, 1, [], leaf_hash(b"")[:31]),
        (leaf_hash(b""), 0, 1, "not a proof", leaf_hash(b"")),
        (leaf_hash(b""), True, 2, [leaf_hash(b"")], leaf_hash(b"")),
    ],
)
def test_a_malformed_inclusion_claim_is_false(arguments: tuple[object, ...]) -> None:
    assert verify_inclusion(*arguments) is False  # type: ignore[arg-type]


def test_a_single_leaf_tree_needs_an_empty_proof() -> None:
    leaf = leaf_hash(b"only")

    assert verify_inclusion(leaf, 0, 1, [], leaf)
    assert not verify_inclusion(leaf, 0, 1, [leaf], leaf)


def test_consistency_between_equal_sizes_is_the_empty_proof() -> None:
    root = mth(DATA[:7])

    assert consistency_proof_nodes(7, 7) == []
    assert verify_consistency(7, 7, [], root, root)
    assert not verify_consistency(7, 7, [], root, mth(DATA[:6]))
    assert not verify_consistency(7, 7, [root], root, root)
    assert not verify_consistency(0, 7, [], EMPTY_ROOT, root)
    assert not verify_consistency(8, 7, [], root, root)


# --- Arguments ---------------------------------------------------------------


@pytest.mark.parametrize(("index", "size"), [(0, 0), (5, 5), (-1, 3), (0, TREE_SIZE_MAX + 1)])
def test_an_inclusion_proof_outside_the_tree_is_refused(index: int, size: int) -> None:
    with pytest.raises(ValueError, match="no inclusion proof for leaf"):
        inclusion_proof_nodes(index, size)


@pytest.mark.parametrize(
    ("old_size", "new_size"), [(0, 5), (6, 5), (-1, 5), (1, TREE_SIZE_MAX + 1)]
)
def test_a_consistency_proof_between_impossible_sizes_is_refused(
    old_size: int, new_size: int
) -> None:
    with pytest.raises(ValueError, match="no consistency proof from size"):
        consistency_proof_nodes(old_size, new_size)


def test_a_frontier_refuses_hashes_that_cannot_belong_to_it() -> None:
    with pytest.raises(ValueError, match="has 2 frontier hashes, got 1"):
        Frontier.from_hashes(5, [bytes(HASH_SIZE)])
    with pytest.raises(ValueError, match="32 bytes"):
        Frontier.from_hashes(1, [bytes(31)])
    with pytest.raises(ValueError, match="32 bytes"):
        Frontier.empty().append(b"short")


def test_a_full_tree_refuses_another_leaf() -> None:
    hashes = [bytes(HASH_SIZE)] * len(range_nodes(0, TREE_SIZE_MAX))
    full = Frontier.from_hashes(TREE_SIZE_MAX, hashes)

    with pytest.raises(ValueError, match="the tree is full"):
        full.append(bytes(HASH_SIZE))


def test_a_frontier_copy_is_independent_of_the_original() -> None:
    original = frontier_at(10)
    copy = original.copy()

    copy.append(LEAF_HASHES[10])

    assert original == frontier_at(10)
    assert copy == frontier_at(11)


# --- Structure at every size up to 2**63 - 1 ---------------------------------


@given(
    st.integers(0, TREE_SIZE_MAX).flatmap(lambda end: st.tuples(st.integers(0, end), st.just(end)))
)
def test_range_nodes_cover_a_range_with_maximal_aligned_subtrees(
    case: tuple[int, int],
) -> None:
    begin, end = case
    nodes = range_nodes(begin, end)

    cursor = begin
    for level, index in nodes:
        assert index << level == cursor
        cursor += 1 << level
    assert cursor == end
    # Maximal: no two neighbours are the two halves of one parent.
    for (level_a, index_a), (level_b, index_b) in itertools.pairwise(nodes):
        assert not (level_a == level_b and index_a % 2 == 0 and index_b == index_a + 1)
    assert len(nodes) <= 2 * 63


def uniform_tree() -> tuple[bytes, list[bytes]]:
    """A tree whose leaves are all equal, so a complete node's hash depends only on its level."""
    leaf = leaf_hash(b"same")
    by_level = [leaf]
    for _ in range(63):
        by_level.append(node_hash(by_level[-1], by_level[-1]))
    return leaf, by_level


@given(index_and_size(size_max=TREE_SIZE_MAX))
def test_inclusion_proofs_in_trees_of_any_size_verify(case: tuple[int, int]) -> None:
    index, size = case
    leaf, by_level = uniform_tree()
    root = hash_of_nodes([by_level[level] for level, _ in range_nodes(0, size)])
    groups = inclusion_proof_nodes(index, size)

    proof_ = [hash_of_nodes([by_level[level] for level, _ in g]) for g in groups]

    assert len(proof_) <= 63
    assert all((i + 1) << level <= size for g in groups for level, i in g)
    assert verify_inclusion(leaf, index, size, proof_, root)


@given(old_and_new_size(size_max=TREE_SIZE_MAX))
def test_consistency_proofs_in_trees_of_any_size_verify(case: tuple[int, int]) -> None:
    old_size, new_size = case
    _, by_level = uniform_tree()

    def root(size: int) -> bytes:
        return hash_of_nodes([by_level[level] for level, _ in range_nodes(0, size)])

    groups = consistency_proof_nodes(old_size, new_size)
    proof_ = [hash_of_nodes([by_level[level] for level, _ in g]) for g in groups]

    assert len(proof_) <= PROOF_HASHES_MAX
    assert all((i + 1) << level <= new_size for g in groups for level, i in g)
    assert verify_consistency(old_size, new_size, proof_, root(old_size), root(new_size))


# --- Batches -----------------------------------------------------------------


@st.composite
def batch_bounds(draw: st.DrawFn) -> tuple[int, int]:
    begin = draw(st.integers(0, LEAVES_MAX - 1))
    return begin, draw(st.integers(1, min(70, LEAVES_MAX - begin)))


@given(batch_bounds())
def test_a_batch_proves_each_of_its_leaves_like_the_generic_proof(
    bounds: tuple[int, int],
) -> None:
    begin, length = bounds
    end = begin + length

    batch = BatchNodes(frontier_at(begin), LEAF_HASHES[begin:end])

    assert batch.size == end
    assert batch.root() == mth(DATA[:end])
    assert batch.frontier() == frontier_at(end)
    assert batch.completed == ROWS[begin:end]
    for index in range(begin, end):
        assert batch.inclusion_proof(index) == inclusion_proof(index, end, stored_nodes(end))


def test_a_batch_straddling_a_subtree_proves_through_the_straddling_node() -> None:
    # Leaves 1..3 join leaf 0: node (1, 0) covers [0, 2) and is the left
    # sibling of leaf 2's parent, so it must be hashed from frontier and batch.
    batch = BatchNodes(frontier_at(1), LEAF_HASHES[1:4])

    assert batch.get(1, 0) == mth(DATA[:2])
    assert batch.inclusion_proof(2) == path(2, DATA[:4])


def test_a_batch_refuses_leaves_and_nodes_outside_itself() -> None:
    batch = BatchNodes(frontier_at(8), LEAF_HASHES[8:12])

    with pytest.raises(ValueError, match=r"not in the batch \[8, 12\)"):
        batch.inclusion_proof(7)
    with pytest.raises(ValueError, match="not in the batch"):
        batch.inclusion_proof(12)
    with pytest.raises(KeyError, match="not held"):
        batch.get(0, 3)


@settings(max_examples=200, deadline=None)
@given(first=st.integers(0, 2**40), count=st.integers(1, 70), data=st.data())
def test_the_subtrees_of_a_run_of_leaves_append_any_part_of_it_as_its_leaves_would(
    first: int, count: int, data: st.DataObject
) -> None:
    leaves = [leaf_hash(b"%d" % n) for n in range(count)]
    levels = subtree_levels(first, b"".join(leaves))
    start = data.draw(st.integers(0, count - 1))
    end = data.draw(st.integers(start + 1, count))
    # A frontier of size first + start, built cheaply from arbitrary nodes of the right levels.
    size = first + start
    nodes = [leaf_hash(b"node %d" % level) for level, _ in range_nodes(0, size)]
    one, other = Frontier.from_hashes(size, nodes), Frontier.from_hashes(size, nodes)

    for leaf in leaves[start:end]:
        one.append(leaf)
    for level, index in range_nodes(size, first + end):
        other.append_subtree(level, subtree_node(levels, first, level, index))

    assert (other.size, other.hashes) == (one.size, one.hashes)
