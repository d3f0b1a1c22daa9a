"""Server-made entry ids: time-ordered, monotonic within a millisecond, of the id grammar."""

from __future__ import annotations

import hashlib
import itertools
import time
import uuid
from collections.abc import Callable

from hypothesis import given
from hypothesis import strategies as st

from api.idempotency import scoped_key
from ledger.ids import (
    ALPHABET,
    ENTRY_ID_LENGTH,
    EntryIds,
    encode,
    key_of_legacy_id,
    milliseconds_of,
    new_entry_id,
    new_uuid7,
    uuid7_milliseconds,
)
from ledger.shape import ID_PATTERN

MS = 1_764_000_000_000  # 2025-11-24


def fixed_bytes(value: int) -> Callable[[int], bytes]:
    """Random bytes that are always ``value``."""
    return lambda n: value.to_bytes(n, "big")


def test_an_id_is_26_crockford_characters_that_the_ledger_accepts() -> None:
    made = [new_entry_id() for _ in range(1_000)]

    assert all(len(i) == ENTRY_ID_LENGTH and set(i) <= set(ALPHABET) for i in made)
    assert all(ID_PATTERN.fullmatch(i) for i in made)
    assert len(set(made)) == len(made)


def test_ids_of_one_millisecond_count_up_from_a_random_start() -> None:
    ids = EntryIds(lambda: MS, fixed_bytes(41))

    first, second, third = ids.next(), ids.next(), ids.next()

    assert first == encode(MS, 41) and second == encode(MS, 42) and third == encode(MS, 43)
    assert first < second < third
    assert milliseconds_of(third) == MS


def test_a_later_millisecond_sorts_after_even_a_high_count() -> None:
    clock = iter([MS, MS, MS + 1])
    ids = EntryIds(lambda: next(clock), fixed_bytes(2**80 - 2))

    a, b, c = ids.next(), ids.next(), ids.next()

    assert a < b < c
    assert milliseconds_of(c) == MS + 1


def test_a_full_millisecond_borrows_the_next() -> None:
    ids = EntryIds(lambda: MS, fixed_bytes(2**80 - 1))

    a, b = ids.next(), ids.next()

    assert a < b and milliseconds_of(b) == MS + 1


def test_a_clock_that_steps_back_does_not_break_the_order() -> None:
    clock = iter([MS, MS - 5_000, MS - 4_000])
    ids = EntryIds(lambda: next(clock), fixed_bytes(7))

    made = [ids.next() for _ in range(3)]

    assert made == sorted(made) and len(set(made)) == 3
    assert {milliseconds_of(i) for i in made} == {MS}


def test_ids_made_in_a_burst_sort_in_the_order_they_were_made() -> None:
    ids = EntryIds()

    made = [ids.next() for _ in range(20_000)]  # many per millisecond

    assert made == sorted(made)


@given(st.integers(0, 2**48 - 1), st.integers(0, 2**80 - 1), st.integers(0, 2**80 - 1))
def test_string_order_is_time_then_random_order(ms: int, r1: int, r2: int) -> None:
    assert (encode(ms, r1) < encode(ms, r2)) == (r1 < r2)
    if ms < 2**48 - 1:
        assert encode(ms, r1) < encode(ms + 1, r2)
    assert milliseconds_of(encode(ms, r1)) == ms


def test_ids_of_other_shapes_have_no_millisecond() -> None:
    old_shapes = ["a-123", "9f3c:0123456789ab", "ABCDEFGHIJKLMNOPQRSTUVWXYZ.1", "8" + "0" * 25]

    assert [milliseconds_of(i) for i in old_shapes] == [None] * len(old_shapes)


def test_two_sources_never_repeat_each_others_ids_in_practice() -> None:
    a, b = EntryIds(lambda: MS), EntryIds(lambda: MS)

    made = {i.next() for i in itertools.islice(itertools.cycle([a, b]), 2_000)}

    assert len(made) == 2_000


def test_a_new_uuid7_is_a_version_7_uuid_of_this_millisecond() -> None:
    before = time.time_ns() // 1_000_000
    key = new_uuid7()
    after = time.time_ns() // 1_000_000

    parsed = uuid.UUID(key)
    assert (str(parsed), parsed.version, parsed.variant) == (key, 7, uuid.RFC_4122)
    assert before <= (uuid7_milliseconds(key) or 0) <= after
    assert ID_PATTERN.fullmatch(key)


def test_keys_that_are_not_uuid7s_have_no_millisecond() -> None:
    others = [str(uuid.uuid4()), uuid.uuid4().hex, new_uuid7().replace("-", ""), "a-123", ""]

    assert [uuid7_milliseconds(k) for k in others] == [None] * len(others)


def test_a_uuid7_keys_scoped_key_starts_with_its_millisecond() -> None:
    key = "01a24d0c-fd6c-7603-bb92-192c70b1c697"

    scoped = scoped_key("crd_phone", key)

    assert scoped.startswith("01a24d0cfd6c") and len(scoped) == 32
    assert scoped == key_of_legacy_id(f"{key}:" + scoped_key_tag("crd_phone"))


def test_uuid7_keys_scope_in_the_order_they_were_made_and_apart_per_caller() -> None:
    keys = [str(uuid.UUID(int=(ms << 80) | (0x7 << 76) | (0x2 << 62))) for ms in (1, 2, 3)]

    mine = [scoped_key("crd_a", k) for k in keys]

    assert mine == sorted(mine)
    assert not set(mine) & {scoped_key("crd_b", k) for k in keys}


def test_a_random_keys_scoped_key_is_the_legacy_ids_hash() -> None:
    key = "0d9c4e8a-5a1b-4c57-9f0e-2b7d3f8e6a11"

    scoped = scoped_key("crd_phone", key)

    assert (
        scoped == hashlib.sha256(f"{key}:{scoped_key_tag('crd_phone')}".encode()).hexdigest()[:32]
    )


def scoped_key_tag(credential: str) -> str:
    return hashlib.sha256(credential.encode()).hexdigest()[:12]
