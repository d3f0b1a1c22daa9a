"""Canonical entry bytes: RFC 8785 (JCS) over a restricted JSON schema.

The journal stores, hashes and exports these exact bytes. The schema allows only
objects, arrays, strings, booleans and integers of magnitude below 2**53, which
is the subset where Python's ``json`` module with sorted keys, no whitespace and
raw UTF-8 output produces exactly the RFC 8785 serialization (keys are ASCII, so
sorting by code point equals sorting by UTF-16 code unit). Tests hold this
against the reference ``rfc8785`` package on generated entries.
"""

from __future__ import annotations

import json
import re
from collections.abc import Set
from typing import Any

from ledger import limits
from ledger.clock import TIME_PATTERN, is_entry_time
from ledger.merkle import leaf_hash
from ledger.model import (
    MOVING_KINDS,
    AccountSpec,
    AccountType,
    BudgetChange,
    Draft,
    Entry,
    EntryKind,
    Meta,
    Posting,
    Settings,
    StaffChange,
    StaffRole,
)

ZERO_HASH = bytes(32)
# Each kind's JSON text, without the enum's ``value`` property on the hot path.
_KIND_TEXT: dict[EntryKind, str] = {kind: kind.value for kind in EntryKind}
_INT_MAX = limits.JSON_INTEGER_MAX

_dumps = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False
).encode
# The C string escaper json uses with ensure_ascii=False: exactly RFC 8785's rules
# for strings (escape '"', '\\' and controls below 0x20; lowercase hex; UTF-8 raw).
_string = json.encoder.encode_basestring


class NotCanonical(ValueError):
    """Bytes that are not the canonical encoding of a well-formed entry."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def canonical_json(value: Any) -> bytes:
    """RFC 8785 bytes of a value within the restricted schema (no floats, no null)."""
    return _dumps(value).encode("utf-8")


def entry_object(
    community: str,
    seq: int,
    time: str,
    draft: Draft,
    prev: bytes,
    version: int = limits.FORMAT_VERSION,
) -> dict[str, Any]:
    """The whole entry as a JSON object; ``canonical_json`` of it is the entry's bytes."""
    obj = draft_object(draft)
    obj["v"] = version
    obj["community"] = community
    obj["seq"] = seq
    obj["time"] = time
    obj["prev"] = prev.hex()
    return obj


def draft_object(draft: Draft) -> dict[str, Any]:
    """The kind-independent and kind-specific fields of a draft as a JSON object."""
    obj: dict[str, Any] = {
        "id": draft.id,
        "kind": draft.kind.value,
        "actor": draft.actor,
        "postings": [
            {"from": p.payer, "to": p.payee, "minutes": p.amount_minutes} for p in draft.postings
        ],
        "memo": draft.memo,
        "reference": draft.reference,
        "meta": dict(draft.meta),
    }
    if draft.account is not None:
        obj["account"] = _account_object(draft.account)
    if draft.settings is not None:
        obj["settings"] = _settings_object(draft.settings)
    if draft.staff is not None:
        obj["staff"] = _staff_object(draft.staff)
    if draft.budget is not None:
        obj["budget"] = _budget_object(draft.budget)
    if draft.corrects is not None:
        obj["corrects"] = draft.corrects
    return obj


def _account_object(account: AccountSpec) -> dict[str, Any]:
    obj: dict[str, Any] = {"id": account.id, "type": account.type.value}
    if account.floor_minutes is not None:
        obj["floor_minutes"] = account.floor_minutes
    if account.budget_minutes_per_month is not None:
        obj["budget_minutes_per_month"] = account.budget_minutes_per_month
    return obj


def _settings_object(settings: Settings) -> dict[str, Any]:
    obj: dict[str, Any] = {"members_may_transfer": settings.members_may_transfer}
    if settings.member_earning_cap_minutes_per_month is not None:
        obj["member_earning_cap_minutes_per_month"] = settings.member_earning_cap_minutes_per_month
    if settings.approval_threshold_minutes is not None:
        obj["approval_threshold_minutes"] = settings.approval_threshold_minutes
    return obj


def _staff_object(staff: StaffChange) -> dict[str, Any]:
    return {
        "id": staff.staff_id,
        "role": staff.role.value,
        "organisation": staff.organisation,
        "active": staff.active,
    }


def _budget_object(budget: BudgetChange) -> dict[str, Any]:
    return {
        "organisation": budget.organisation,
        "minutes_per_month": budget.budget_minutes_per_month,
    }


def encode_entry(
    community: str,
    seq: int,
    time: str,
    draft: Draft,
    prev: bytes,
    version: int = limits.FORMAT_VERSION,
) -> bytes:
    """The canonical bytes of an entry.

    This is the append path's hot spot, so it writes the members in their fixed
    RFC 8785 order directly instead of building and sorting a dict; tests hold
    it byte-for-byte equal to ``canonical_json`` of ``entry_object`` (and to the
    ``rfc8785`` package). A member the entry's kind does not have is written as
    nothing; the nested objects that are rare (account, settings, budget,
    staff, non-empty meta) go through ``canonical_json``. ``version`` is the
    entry's ``v``: the ledger writes ``FORMAT_VERSION``; a version 1 entry read
    back re-encodes as version 1.
    """
    postings = draft.postings
    if len(postings) == 1:
        moves = _posting_text(postings[0])
    else:
        moves = ",".join(map(_posting_text, postings))
    account = (
        "" if draft.account is None else f'"account":{_dumps(_account_object(draft.account))},'
    )
    budget = "" if draft.budget is None else f',"budget":{_dumps(_budget_object(draft.budget))}'
    corrects = "" if draft.corrects is None else f',"corrects":{int(draft.corrects)}'
    meta = _dumps(dict(draft.meta)) if draft.meta else "{}"
    settings = (
        "" if draft.settings is None else f',"settings":{_dumps(_settings_object(draft.settings))}'
    )
    staff = "" if draft.staff is None else f',"staff":{_dumps(_staff_object(draft.staff))}'
    return (
        f'{{{account}"actor":{_string(draft.actor)}{budget},"community":{_string(community)}'
        f'{corrects},"id":{_string(draft.id)},"kind":"{_KIND_TEXT[draft.kind]}"'
        f',"memo":{_string(draft.memo)},"meta":{meta},"postings":[{moves}],"prev":"{prev.hex()}"'
        f',"reference":{_string(draft.reference)},"seq":{int(seq)}{settings}{staff}'
        f',"time":{_string(time)},"v":{int(version)}}}'
    ).encode()


def _posting_text(p: Posting) -> str:
    return (
        f'{{"from":{_string(p.payer)},"minutes":{int(p.amount_minutes)},"to":{_string(p.payee)}}}'
    )


def _reject_float(text: str) -> Any:
    raise NotCanonical("float_not_allowed", text)


def _reject_constant(text: str) -> Any:
    raise NotCanonical("constant_not_allowed", text)


def parse_json(data: bytes) -> Any:
    """Parse and check that ``data`` is exactly the canonical encoding of its value."""
    if len(data) > limits.ENTRY_BYTES_MAX:
        raise NotCanonical("entry_too_large", f"{len(data)} bytes")
    try:
        text = data.decode("utf-8")
        value = json.loads(text, parse_float=_reject_float, parse_constant=_reject_constant)
    except NotCanonical:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise NotCanonical("not_json", str(exc)[:200]) from None
    try:
        again = canonical_json(value)
    except (UnicodeEncodeError, ValueError) as exc:
        raise NotCanonical("not_encodable", str(exc)) from None
    if again != data:
        raise NotCanonical("not_canonical", "re-encoding gives different bytes")
    return value


def decode_entry(data: bytes) -> Entry:
    """The entry these canonical bytes encode; raises NotCanonical if they are not one.

    The common entry is read by the grammar of its bytes (``scan_plain``), without
    parsing and re-encoding; anything else is decoded in full.
    """
    fields = scan_plain(data)
    if fields is not None:
        return entry_from_plain(fields, data)
    return _decode_in_full(data)


def _decode_in_full(data: bytes) -> Entry:
    """``decode_entry`` by parsing, checking and re-encoding: the reference for the shortcut."""
    obj = parse_json(data)
    if not isinstance(obj, dict):
        raise NotCanonical("not_an_object")
    try:
        entry = _entry_from_object(obj, data)
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, NotCanonical):
            raise
        raise NotCanonical("malformed", repr(exc)) from None
    # Canonical JSON is not yet a canonical entry: a prev in upper case or with
    # spaces parses to the same bytes. Only the one encoding of an entry is one.
    again = encode_entry(
        entry.community, entry.seq, entry.time, entry.draft, entry.prev, entry.version
    )
    if again != data:
        raise NotCanonical("not_canonical", "the entry encodes to different bytes")
    return entry


_COMMON_KEYS = frozenset(
    {"v", "community", "seq", "id", "time", "kind", "actor", "postings", "memo", "reference"}
    | {"meta", "prev"}
)
_KIND_KEYS: dict[EntryKind, frozenset[str]] = {
    EntryKind.OPEN: frozenset({"account"}),
    EntryKind.CONFIGURE: frozenset({"settings"}),
    EntryKind.BUDGET: frozenset({"budget"}),
    EntryKind.STAFF: frozenset({"staff"}),
    EntryKind.CORRECT: frozenset({"corrects"}),
}


def _entry_from_object(obj: dict[str, Any], data: bytes) -> Entry:
    version = _int(obj["v"])
    if version not in limits.FORMAT_VERSIONS:
        raise NotCanonical("unknown_version", str(obj["v"]))
    kind = EntryKind(_str(obj["kind"]))
    if version == 1 and kind is EntryKind.STAFF:
        raise NotCanonical("not_in_version", "staff")
    expected = _COMMON_KEYS | _KIND_KEYS.get(kind, frozenset())
    if set(obj) != expected:
        raise NotCanonical("wrong_fields", ",".join(sorted(set(obj) ^ expected)))
    prev = bytes.fromhex(_str(obj["prev"]))
    if len(prev) != 32:
        raise NotCanonical("bad_prev")
    draft = Draft(
        id=_str(obj["id"]),
        kind=kind,
        actor=_str(obj["actor"]),
        postings=tuple(_posting(p) for p in _list(obj["postings"])),
        memo=_str(obj["memo"]),
        reference=_str(obj["reference"]),
        meta=_meta(obj["meta"]),
        account=_account(obj["account"]) if "account" in obj else None,
        settings=_settings(obj["settings"], version) if "settings" in obj else None,
        budget=_budget(obj["budget"]) if "budget" in obj else None,
        corrects=_int(obj["corrects"]) if "corrects" in obj else None,
        staff=_staff(obj["staff"]) if "staff" in obj else None,
    )
    time = _str(obj["time"])
    _check_time(time)
    return Entry(
        community=_str(obj["community"]),
        seq=_int(obj["seq"]),
        time=time,
        draft=draft,
        prev=prev,
        data=data,
        leaf=leaf_hash(data),
        version=version,
    )


def _check_time(time: str) -> None:
    # Fixed width, so that string order is time order and time[:7] is the month;
    # and a real moment, so that no month of the journal is made up.
    if not is_entry_time(time):
        raise NotCanonical("time_invalid", time[:40])


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise NotCanonical("expected_string", repr(value))
    return value


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise NotCanonical("expected_integer", repr(value))
    if abs(value) > limits.JSON_INTEGER_MAX:
        raise NotCanonical("integer_too_large", str(value))
    return value


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list) or len(value) > limits.POSTINGS_PER_ENTRY_MAX:
        raise NotCanonical("expected_short_array", repr(value)[:80])
    return value


def _dict(value: Any, keys: set[str], optional: Set[str] = frozenset()) -> dict[str, Any]:
    if not isinstance(value, dict) or not keys <= set(value) <= keys | optional:
        raise NotCanonical("wrong_fields", repr(value)[:80])
    return value


def _posting(value: Any) -> Posting:
    p = _dict(value, {"from", "to", "minutes"})
    return Posting(payer=_str(p["from"]), payee=_str(p["to"]), amount_minutes=_int(p["minutes"]))


def _meta(value: Any) -> Meta:
    if not isinstance(value, dict) or len(value) > limits.META_KEYS_MAX:
        raise NotCanonical("bad_meta")
    for v in value.values():
        if not isinstance(v, str | int | bool):
            raise NotCanonical("bad_meta")
        if isinstance(v, int) and not isinstance(v, bool):
            _int(v)
    return tuple(sorted(value.items()))


def _account(value: Any) -> AccountSpec:
    a = _dict(value, {"id", "type"}, {"floor_minutes", "budget_minutes_per_month"})
    floor = _int(a["floor_minutes"]) if "floor_minutes" in a else None
    budget = _int(a["budget_minutes_per_month"]) if "budget_minutes_per_month" in a else None
    return AccountSpec(
        id=_str(a["id"]),
        type=AccountType(_str(a["type"])),
        floor_minutes=floor,
        budget_minutes_per_month=budget,
    )


def _settings(value: Any, version: int) -> Settings:
    cap_key, threshold_key = "member_earning_cap_minutes_per_month", "approval_threshold_minutes"
    optional = {cap_key} if version == 1 else {cap_key, threshold_key}
    s = _dict(value, {"members_may_transfer"}, optional)
    if not isinstance(s["members_may_transfer"], bool):
        raise NotCanonical("expected_boolean")
    return Settings(
        members_may_transfer=s["members_may_transfer"],
        member_earning_cap_minutes_per_month=_int(s[cap_key]) if cap_key in s else None,
        approval_threshold_minutes=_int(s[threshold_key]) if threshold_key in s else None,
    )


def _staff(value: Any) -> StaffChange:
    s = _dict(value, {"id", "role", "organisation", "active"})
    if not isinstance(s["active"], bool):
        raise NotCanonical("expected_boolean")
    return StaffChange(
        staff_id=_str(s["id"]),
        role=StaffRole(_str(s["role"])),
        organisation=_str(s["organisation"]),
        active=s["active"],
    )


def _budget(value: Any) -> BudgetChange:
    b = _dict(value, {"organisation", "minutes_per_month"})
    return BudgetChange(
        organisation=_str(b["organisation"]), budget_minutes_per_month=_int(b["minutes_per_month"])
    )


# -- The common entry's grammar: a shortcut for readers of many entries.
#
# Most journal lines are entries that move minutes with one posting, whose
# strings need no escapes and whose meta values are strings. For exactly those,
# the canonical bytes follow one fixed pattern: members in RFC 8785 order, no
# whitespace, integers without sign, leading zero or exponent, and strings that
# are their own text (RFC 8785 escapes only '"', '\\' and controls below 0x20,
# so a string holding none of those is written as it is). A line this grammar
# matches is therefore the canonical encoding of the entry built from its
# parts, once the few things a regular expression cannot say are checked in
# ``scan_plain`` (integer ranges, meta keys in order). Lines it does not match
# may still be canonical; ``decode_entry`` decodes them in full.
_TEXT = r'[^"\\\x00-\x1f]*'  # a string's own text: nothing JSON escapes
_COUNT = r"0|[1-9][0-9]{0,15}"


def common_entry_grammar(
    *,
    kinds: str = "earn|transfer|redeem|settle|correct",
    entry_id: str = _TEXT,
    account_id: str = _TEXT,
    memo: str = _TEXT,
    reference: str = _TEXT,
    meta_key: str = "[a-z][a-z0-9_]*",
    meta_value: str = _TEXT,
    minutes: str = _COUNT,
) -> str:
    """The common entry's grammar as a pattern, its parts narrowed to the given patterns.

    Each string pattern (account_id is the actor's, the payer's and the
    payee's) must match only text that ``_TEXT`` matches, and ``minutes`` only
    what ``_COUNT`` matches, so that what the narrowed grammar matches the
    default one does, in the same groups: actor, community, corrects, id,
    kind, memo, meta, payer, minutes, payee, prev, reference, seq, time.
    A reader that wants more than canonical bytes (``shape.SHAPED_ENTRY_GRAMMAR``,
    for well-shaped entries) says it here, inside the one match.
    """

    def string(text: str) -> str:
        return '"(' + text + ')"'

    pair = '"(?:' + meta_key + ')":"(?:' + meta_value + ')"'
    return (
        r'\{"actor":' + string(account_id) + r',"community":' + string(_TEXT)
        + r'(?:,"corrects":(' + _COUNT + r"))?"
        + r',"id":' + string(entry_id)
        + r',"kind":"(' + kinds + ')"'
        + r',"memo":' + string(memo)
        + r',"meta":\{((?:' + pair + r",)*" + pair + r")?\}"
        + r',"postings":\[\{"from":' + string(account_id) + r',"minutes":(' + minutes + ")"
        + r',"to":' + string(account_id) + r"\}\]"
        + r',"prev":"([0-9a-f]{64})"'
        + r',"reference":' + string(reference)
        + r',"seq":(' + _COUNT + ")"
        + r',"time":"(' + TIME_PATTERN + ')"'
        + r',"v":[12]\}'
    )  # fmt: skip


_PLAIN_ENTRY = re.compile(common_entry_grammar()).fullmatch
_META_PAIRS = re.compile(r'"([a-z][a-z0-9_]*)":"([^"\\\x00-\x1f]*)"').findall
_PLAIN_KINDS = {kind.value: kind for kind in MOVING_KINDS}


def read_meta(members: str | None) -> tuple[tuple[str, str], ...] | None:
    """The pairs of the meta group a common entry grammar matched, or None if not canonical."""
    if members is None:
        return ()
    found = _META_PAIRS(members)
    # Canonical members are sorted, each key once; JSON would let a
    # repeated key through (the last one wins), so this must refuse it.
    if any(found[i][0] >= found[i + 1][0] for i in range(len(found) - 1)):
        return None
    return tuple(found)


# What ``scan_plain`` returns, in this order: community, seq, time, prev, id,
# kind, actor, payer, payee, amount_minutes, memo, reference, meta, corrects.
PlainFields = tuple[
    str, int, str, bytes, str, EntryKind, str, str, str, int, str, str, Meta, int | None
]


def scan_plain(data: bytes) -> PlainFields | None:
    """The parts of a common entry whose canonical bytes are ``data``, or None.

    None means only "not by this shortcut": the full decoder decides such
    lines. What this accepts, the full decoder accepts as the same entry, and
    ``encode_entry`` gives back ``data`` exactly (property tests hold both).
    """
    if len(data) > limits.ENTRY_BYTES_MAX:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    match = _PLAIN_ENTRY(text)
    if match is None:
        return None
    (actor, community, corrects, id_, kind, memo, meta,
     payer, minutes, payee, prev, reference, seq, time) = match.groups()  # fmt: skip
    amount, number = int(minutes), int(seq)
    if (
        amount > _INT_MAX
        or number > _INT_MAX
        or (corrects is None) == (kind == "correct")
        or (corrects is not None and int(corrects) > _INT_MAX)
    ):
        return None
    pairs = read_meta(meta)
    if pairs is None:
        return None
    return (
        community, number, time, bytes.fromhex(prev), id_, _PLAIN_KINDS[kind], actor,
        payer, payee, amount, memo, reference, pairs,
        None if corrects is None else int(corrects),
    )  # fmt: skip


def entry_from_plain(fields: PlainFields, data: bytes) -> Entry:
    """The entry ``scan_plain`` found in ``data``: what the full decoder finds there."""
    community, seq, time, prev, id_, kind, actor, payer, payee, amount, memo, ref, meta, corr = (
        fields
    )
    posting = Posting(payer, payee, amount)
    draft = Draft(id_, kind, actor, (posting,), memo, ref, meta, corrects=corr)
    # The grammar ends in ``"v":<one digit>}``.
    return Entry(community, seq, time, draft, prev, data, leaf_hash(data), data[-2] - 48)
