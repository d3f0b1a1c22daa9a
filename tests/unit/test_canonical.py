"""Canonical entry bytes: RFC 8785 as the reference package makes it, and strict decoding."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import limits
from ledger.canonical import (
    NotCanonical,
    _decode_in_full,
    canonical_json,
    decode_entry,
    encode_entry,
    entry_from_plain,
    parse_json,
    scan_plain,
)
from ledger.merkle import leaf_hash
from ledger.model import Draft, EntryKind, Posting
from ledger.shape import check_shape
from tests.support.builders import (
    a_member,
    an_organisation,
    configure,
    correct,
    earn,
    open_account,
    set_budget,
    transfer,
)
from tests.support.strategies import drafts, entries, hostile_drafts, json_values

TIME = "2026-11-28T09:30:00.123456Z"
PREV = bytes(range(32))


def an_entry_bytes(draft: Draft | None = None, *, seq: int = 7) -> bytes:
    return encode_entry("oost", seq, TIME, draft or transfer(id="t-1", memo="dank je"), PREV)


def rewritten(data: bytes, change: object) -> bytes:
    """The entry's JSON object changed by ``change(obj)``, re-serialised canonically."""
    obj = json.loads(data)
    change(obj)  # type: ignore[operator]
    return canonical_json(obj)


# Against the reference implementation.


@settings(max_examples=100)
@given(entries())
def test_entry_bytes_are_exactly_what_rfc8785_makes_of_them(
    args: tuple[str, int, str, Draft, bytes],
) -> None:
    data = encode_entry(*args)

    assert data == rfc8785.dumps(json.loads(data))


@settings(max_examples=100)
@given(json_values)
def test_canonical_json_matches_rfc8785_on_any_value_in_the_schema(value: object) -> None:
    assert canonical_json(value) == rfc8785.dumps(value)


@pytest.mark.parametrize(
    "memo",
    [
        "شكرا على المساعدة في الحديقة",  # Arabic, right to left
        "İyi günler, çok teşekkürler ışık için",  # Turkish dotted and dotless i  # noqa: RUF001
        "Bedankt! 🎉🙏👍🏽🇳🇱",  # emoji with modifiers and a flag
        'quote " backslash \\ slash / tab\tnewline\n',  # escapes
        "\x00\x1f\x7f\u2028\u2029",  # controls and line separators
        "e\u0301 vs \u00e9",  # not normalised: bytes keep what was written
    ],
)
def test_memo_text_is_encoded_as_rfc8785_does(memo: str) -> None:
    data = an_entry_bytes(transfer(id="t-1", memo=memo))

    assert data == rfc8785.dumps(json.loads(data))
    assert decode_entry(data).draft.memo == memo


@pytest.mark.parametrize("value", [0, 1, -1, 2**31, 2**32 + 1, 2**53 - 1, -(2**53) + 1])
def test_integers_up_to_two_to_the_53_minus_one_are_encoded_as_rfc8785_does(value: int) -> None:
    draft = transfer(id="t-1", meta=(("n", value),))
    data = encode_entry("oost", limits.JSON_INTEGER_MAX, TIME, draft, PREV)

    assert data == rfc8785.dumps(json.loads(data))
    assert decode_entry(data).draft.meta == (("n", value),)
    assert decode_entry(data).seq == limits.JSON_INTEGER_MAX


# Round trips.


@settings(max_examples=100)
@given(entries())
def test_decoding_entry_bytes_gives_back_the_entry(
    args: tuple[str, int, str, Draft, bytes],
) -> None:
    data = encode_entry(*args)

    entry = decode_entry(data)

    assert (entry.community, entry.seq, entry.time, entry.draft, entry.prev) == args
    assert entry.data == data
    assert entry.leaf == leaf_hash(data)


@pytest.mark.parametrize(
    "draft",
    [
        open_account(a_member()),
        open_account(an_organisation(budget_minutes_per_month=0)),
        configure(members_may_transfer=False, member_earning_cap_minutes_per_month=600),
        configure(),
        set_budget("org-1", 6_000),
        earn(memo="tuinieren", reference="job-17", meta=(("hours", 1), ("late", False))),
        correct(3, postings=(Posting("member-2", "member-1", 30),)),
    ],
    ids=[
        "open",
        "open organisation",
        "configure",
        "configure default",
        "budget",
        "earn",
        "correct",
    ],
)
def test_every_kind_of_entry_round_trips(draft: Draft) -> None:
    data = an_entry_bytes(draft)

    assert decode_entry(data).draft == draft
    assert data == rfc8785.dumps(json.loads(data))


@settings(max_examples=200)
@given(hostile_drafts())
def test_a_draft_that_passes_the_shape_check_is_stored_and_read_back_whole(draft: Draft) -> None:
    if check_shape(draft) is not None:
        return

    data = encode_entry(
        "c" * limits.COMMUNITY_SLUG_LENGTH_MAX, limits.JSON_INTEGER_MAX, TIME, draft, PREV
    )

    assert len(data) <= limits.ENTRY_BYTES_MAX
    assert decode_entry(data).draft == draft


@settings(max_examples=100)
@given(drafts())
def test_generated_drafts_are_well_shaped(draft: Draft) -> None:
    assert check_shape(draft) is None


# Non-canonical bytes are refused.


def test_canonical_bytes_are_accepted() -> None:
    data = an_entry_bytes()

    assert decode_entry(data).id == "t-1"


@pytest.mark.parametrize(
    ("what", "make"),
    [
        ("a space after a colon", lambda d: d.replace(b'"seq":7', b'"seq": 7')),
        ("a trailing newline", lambda d: d + b"\n"),
        ("a leading space", lambda d: b" " + d),
        ("pretty printing", lambda d: json.dumps(json.loads(d), indent=1, sort_keys=True).encode()),
        ("keys out of order", lambda d: json.dumps(json.loads(d), separators=(",", ":")).encode()),
        ("reverse key order", lambda d: _reverse_keys(d)),
        ("a float", lambda d: d.replace(b'"seq":7', b'"seq":7.0')),
        ("an exponent", lambda d: d.replace(b'"seq":7', b'"seq":7e0')),
        ("negative zero", lambda d: d.replace(b'"seq":7', b'"seq":-0')),
        ("a leading zero", lambda d: d.replace(b'"seq":7', b'"seq":07')),
        ("NaN", lambda d: d.replace(b'"seq":7', b'"seq":NaN')),
        ("a duplicate key", lambda d: d.replace(b'"seq":7', b'"seq":7,"seq":7')),
        ("an escaped non-ASCII character", lambda d: d.replace("é".encode(), b"\\u00e9")),
        ("an escaped slash", lambda d: d.replace(b"a/b", b"a\\/b")),
        ("an upper-case escape", lambda d: d.replace(b"\\u001f", b"\\u001F")),
        ("a lone surrogate escape", lambda d: d.replace("é".encode(), b"\\ud800")),
        ("a lone surrogate in UTF-8", lambda d: d.replace("é".encode(), b"\xed\xa0\x80")),
        ("invalid UTF-8", lambda d: d.replace("é".encode(), b"\xc3")),
        ("a byte order mark", lambda d: b"\xef\xbb\xbf" + d),
        ("not an object", lambda d: b"[" + d + b"]"),
        ("not JSON at all", lambda d: b"seq=7"),
        ("too large", lambda d: d[:-1] + b',"z":"' + b"x" * limits.ENTRY_BYTES_MAX + b'"}'),
    ],
)
def test_bytes_that_are_not_canonical_json_are_refused(what: str, make: object) -> None:
    data = an_entry_bytes(transfer(id="t-1", memo="é a/b \x1f"))
    bad = make(data)  # type: ignore[operator]
    assert bad != data, f"the case '{what}' did not change the bytes"

    with pytest.raises(NotCanonical):
        decode_entry(bad)


def _reverse_keys(data: bytes) -> bytes:
    obj = json.loads(data)
    return json.dumps(
        dict(reversed(obj.items())), separators=(",", ":"), ensure_ascii=False
    ).encode()


def _set(key: str, value: object) -> object:
    def change(obj: dict[str, object]) -> None:
        obj[key] = value

    return change


def _drop(key: str) -> object:
    return lambda obj: obj.pop(key)


def _posting_set(key: str, value: object) -> object:
    def change(obj: dict[str, list[dict[str, object]]]) -> None:
        obj["postings"][0][key] = value

    return change


@pytest.mark.parametrize(
    ("what", "change", "reason"),
    [
        ("seq at 2**53", _set("seq", 2**53), "integer_too_large"),
        ("seq far beyond 2**53", _set("seq", 2**64), "integer_too_large"),
        ("minutes at 2**53", _posting_set("minutes", 2**53), "integer_too_large"),
        ("a meta integer at -2**53", _set("meta", {"n": -(2**53)}), "integer_too_large"),
        ("a missing id", _drop("id"), "wrong_fields"),
        ("a missing prev", _drop("prev"), "wrong_fields"),
        ("a missing posting field", lambda o: o["postings"][0].pop("to"), "wrong_fields"),
        ("an extra field", _set("extra", 1), "wrong_fields"),
        ("an extra posting field", _posting_set("note", "x"), "wrong_fields"),
        (
            "an account on a transfer",
            _set("account", {"id": "a", "type": "member"}),
            "wrong_fields",
        ),
        ("seq as a string", _set("seq", "7"), "expected_integer"),
        ("seq as a boolean", _set("seq", True), "expected_integer"),
        ("seq as null", _set("seq", None), "expected_integer"),
        ("id as an integer", _set("id", 7), "expected_string"),
        ("memo as a list", _set("memo", ["a"]), "expected_string"),
        ("minutes as a string", _posting_set("minutes", "60"), "expected_integer"),
        ("postings as an object", _set("postings", {}), "expected_short_array"),
        (
            "nine postings",
            _set("postings", [{"from": "a", "to": "b", "minutes": 1}] * 9),
            "expected_short_array",
        ),
        ("meta as a list", _set("meta", []), "bad_meta"),
        ("a meta null", _set("meta", {"a": None}), "bad_meta"),
        ("a meta object", _set("meta", {"a": {}}), "bad_meta"),
        ("an unknown version", _set("v", 3), "unknown_version"),
        ("an unknown kind", _set("kind", "mint"), "malformed"),
        ("a short prev", _set("prev", "00" * 31), "bad_prev"),
        ("a prev that is not hex", _set("prev", "zz" * 32), "malformed"),
        ("an upper-case prev", _set("prev", PREV.hex().upper()), "not_canonical"),
        (
            "a prev with spaces",
            _set("prev", " ".join([PREV.hex()[:32], PREV.hex()[32:]])),
            "not_canonical",
        ),
        ("a time without microseconds", _set("time", "2026-11-28T09:30:00Z"), "time_invalid"),
        ("a time with an offset", _set("time", "2026-11-28T09:30:00.123456+01:00"), "time_invalid"),
        ("month 13", _set("time", "2026-13-01T09:30:00.000000Z"), "time_invalid"),
        ("month 99", _set("time", "2026-99-01T09:30:00.000000Z"), "time_invalid"),
        ("month 00", _set("time", "2026-00-01T09:30:00.000000Z"), "time_invalid"),
        ("day 99", _set("time", "2026-11-99T09:30:00.000000Z"), "time_invalid"),
        ("30 February", _set("time", "2026-02-30T09:30:00.000000Z"), "time_invalid"),
        (
            "29 February of a common year",
            _set("time", "2026-02-29T09:30:00.000000Z"),
            "time_invalid",
        ),
        ("31 November", _set("time", "2026-11-31T09:30:00.000000Z"), "time_invalid"),
        ("hour 24", _set("time", "2026-11-28T24:00:00.000000Z"), "time_invalid"),
        ("second 60", _set("time", "2026-11-28T23:59:60.000000Z"), "time_invalid"),
        ("year 0", _set("time", "0000-11-28T09:30:00.000000Z"), "time_invalid"),
    ],
)
def test_well_formed_json_that_is_not_an_entry_is_refused(
    what: str, change: object, reason: str
) -> None:
    bad = rewritten(an_entry_bytes(), change)

    with pytest.raises(NotCanonical) as raised:
        decode_entry(bad)

    assert raised.value.reason == reason, what


def test_an_open_entry_with_an_unknown_account_type_is_refused() -> None:
    data = an_entry_bytes(open_account(a_member()))

    bad = rewritten(data, lambda o: o["account"].update(type="bank"))

    with pytest.raises(NotCanonical):
        decode_entry(bad)


def test_a_configure_entry_whose_flag_is_not_a_boolean_is_refused() -> None:
    data = an_entry_bytes(configure())

    bad = rewritten(data, lambda o: o["settings"].update(members_may_transfer=1))

    with pytest.raises(NotCanonical):
        decode_entry(bad)


@settings(max_examples=100)
@given(entries(), st.data())
def test_any_single_byte_change_is_refused_or_decodes_to_those_exact_bytes(
    args: tuple[str, int, str, Draft, bytes], data: st.DataObject
) -> None:
    original = encode_entry(*args)
    position = data.draw(st.integers(0, len(original) - 1))
    byte = data.draw(st.integers(0, 255).filter(lambda b: b != original[position]))
    mutated = original[:position] + bytes([byte]) + original[position + 1 :]

    try:
        entry = decode_entry(mutated)
    except NotCanonical:
        return
    # Whatever still decodes must be the canonical encoding of what it decodes to.
    assert encode_entry(entry.community, entry.seq, entry.time, entry.draft, entry.prev) == mutated


def test_parse_json_refuses_what_it_cannot_re_encode() -> None:
    with pytest.raises(NotCanonical) as raised:
        parse_json(b'"\\udc00"')

    assert raised.value.reason == "not_encodable"


# The common entry's grammar: ``decode_entry``'s shortcut, which must agree with the full decoder.


@settings(max_examples=300, deadline=None)
@given(entries())
def test_what_the_common_entry_grammar_reads_is_what_the_decoder_reads(
    args: tuple[str, int, str, Draft, bytes],
) -> None:
    data = encode_entry(*args)

    fields = scan_plain(data)

    if fields is not None:
        assert entry_from_plain(fields, data) == _decode_in_full(data)


MOVING = (EntryKind.EARN, EntryKind.TRANSFER, EntryKind.REDEEM, EntryKind.SETTLE, EntryKind.CORRECT)


def _plain(text: str) -> str:
    """The text without what JSON escapes: such strings the grammar leaves to the decoder."""
    return "".join(c for c in text if c not in '"\\' and c >= " ")


@settings(max_examples=300, deadline=None)
@given(drafts(MOVING), st.data())
def test_the_common_entry_grammar_reads_every_common_entry(
    draft: Draft, data: st.DataObject
) -> None:
    draft = replace(
        draft,
        postings=draft.postings[:1],
        memo=_plain(draft.memo),
        reference=_plain(draft.reference),
        meta=tuple((k, _plain(v)) for k, v in draft.meta if isinstance(v, str)),
    )
    line = encode_entry("oost", data.draw(st.integers(0, 10**9)), TIME, draft, PREV)

    fields = scan_plain(line)

    assert fields is not None
    assert entry_from_plain(fields, line) == _decode_in_full(line)


@settings(max_examples=500, deadline=None)
@given(
    sample=st.sampled_from(
        [
            an_entry_bytes(),
            an_entry_bytes(earn(memo="tuin", reference="shift-9"), seq=0),
            an_entry_bytes(transfer(meta=(("channel", "app"), ("till", "2")))),
            an_entry_bytes(correct(2, postings=(Posting("member-1", "org-1", 30),))),
        ]
    ),
    position=st.integers(min_value=0, max_value=400),
    replacement=st.binary(min_size=0, max_size=4)
    | st.sampled_from(
        [b"0", b"-", b"1", b'"', b"\\", b",", b"}", b"\xc3\xa9", b'"a":"b",', b"\x1f"]
    ),
    cut=st.integers(min_value=0, max_value=4),
)
def test_a_damaged_line_the_grammar_reads_is_one_the_decoder_reads_alike(
    sample: bytes, position: int, replacement: bytes, cut: int
) -> None:
    position = min(position, len(sample))
    line = sample[:position] + replacement + sample[position + cut :]

    fields = scan_plain(line)

    if fields is not None:
        entry = entry_from_plain(fields, line)
        assert entry == _decode_in_full(line)
        assert encode_entry(entry.community, entry.seq, entry.time, entry.draft, entry.prev) == line


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b'"minutes":30', b'"minutes":030'),
        (b'"minutes":30', b'"minutes":9007199254740992'),
        (b'"seq":7', b'"seq":9007199254740992'),
        (b'"meta":{}', b'"meta":{"b":"1","a":"2"}'),
        (b'"meta":{}', b'"meta":{"a":"1","a":"1"}'),
        (b'"kind":"transfer"', b'"corrects":1,"kind":"transfer"'),
        (b'"kind":"transfer"', b'"kind":"open"'),
        (b'"memo":"dank je"', b'"memo":"dank\\u0020je"'),
    ],
)
def test_the_common_entry_grammar_refuses_what_is_not_canonical(old: bytes, new: bytes) -> None:
    line = an_entry_bytes(transfer(id="t-1", memo="dank je", minutes=30)).replace(old, new, 1)

    assert line != an_entry_bytes(transfer(id="t-1", memo="dank je", minutes=30))
    assert scan_plain(line) is None


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b'"minutes":30', b'"minutes":true'),
        (b'"minutes":30', b'"minutes":30.0'),
        (b'"minutes":30', b'"minutes":9007199254740993'),
        (b'"seq":7', b'"seq":9007199254740993'),
        (b'"prev":"00', b'"prev":"'),
        (b'"time":"2026-11-28T09', b'"time":"2026-11-28X09'),
        (b'"time":"2026-11-28T09', b'"time":"2026-13-28T09'),
        (b'"memo":"dank je"', b'"memo":"dank je","memo":"dank je"'),
        (b'"kind":"transfer"', b'"corrects":1,"kind":"transfer"'),
    ],
)
def test_the_common_entry_grammar_leaves_every_line_the_decoder_refuses_to_it(
    old: bytes, new: bytes
) -> None:
    line = an_entry_bytes(transfer(id="t-1", memo="dank je", minutes=30)).replace(old, new, 1)

    assert new in line
    assert scan_plain(line) is None
    with pytest.raises(NotCanonical):
        decode_entry(line)
