"""What a clean-room verifier found: journals re-signed with the log's own key
that broke a rule and yet verified, or crashed the verifier.

Each forged journal is re-encoded, re-chained and signed with the history's
key, so that only the broken rule is left to find. The verifier never raises
on any input: every problem is a finding.
"""

from __future__ import annotations

import asyncio
import io
import json
import tempfile
from collections.abc import Callable
from dataclasses import replace
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ledger.audit import verify
from ledger.audit.bundle import BALANCES, CHECKPOINT, CHECKPOINTS, ENTRIES, MANIFEST
from ledger.audit.findings import Check
from ledger.canonical import NotCanonical, decode_entry
from ledger.memory import MemoryStore
from ledger.model import Draft, Entry, EntryKind, Posting, Rejection
from ledger.note import generate_signer
from ledger.service import Ledger
from tests.support.builders import (
    COMMUNITY,
    HOST,
    a_clock,
    a_neighbourhood,
    accepted,
    configure,
    correct,
    earn,
    redeem,
    settle,
    transfer,
)
from tests.unit.test_audit import (
    NOVEMBER,
    ORIGIN,
    History,
    a_history,
    audit,
    checks,
    rechain,
    signed_head,
    the,
)

FAKE_MONTHS = (
    "2026-13-01T09:00:00.000000Z",
    "2026-99-01T09:00:00.000000Z",
    "2026-11-99T09:00:00.000000Z",
)


def forged(history: History, *drafts: Draft, time: str | None = None) -> list[Entry]:
    """The history's entries and ``drafts`` appended after them, at ``time``."""
    entries = list(history.entries)
    last = entries[-1]
    for n, draft in enumerate(drafts, start=1):
        entries.append(replace(last, seq=last.seq + n, draft=draft, time=time or last.time))
    return entries


# Times.


async def test_entries_in_months_that_do_not_exist_are_named_and_earn_no_fresh_cap() -> None:
    history = await a_history(
        configure(member_earning_cap_minutes_per_month=1200),
        earn("org-1", "member-1", 1200),
        budget_minutes_per_month=100_000,
    )
    entries = forged(history)
    last = entries[-1]
    for n, time in enumerate(FAKE_MONTHS, start=1):
        draft = replace(last.draft, id=f"fake-{n}")
        entries.append(replace(last, seq=last.seq + n, draft=draft, time=time))

    report = audit(rechain(entries), [], history.signer)

    fakes = [f for f in report.findings if f.check == Check.NOT_CANONICAL]
    assert [f.seq for f in fakes] == [last.seq + 1, last.seq + 2, last.seq + 3]
    assert {f.detail["reason"] for f in fakes} == {"time_invalid"}
    assert not report.clean


async def test_an_impossible_day_in_a_real_month_is_named() -> None:
    history = await a_history(earn("org-1", "member-1", 60))
    entries = forged(history, earn("org-1", "member-1", 60), time="2026-02-30T09:00:00.000000Z")
    entries[-1] = replace(entries[-1], time="2026-02-30T09:00:00.000000Z")

    report = audit(rechain(entries), [], history.signer)

    assert (entries[-1].seq, Check.NOT_CANONICAL) in checks(report)


# Corrections of entries whose accounts were never opened.


async def test_a_correction_of_an_entry_from_an_account_never_opened_is_a_finding() -> None:
    history = await a_history(earn("org-1", "member-1", 60))
    ghost_earn = earn("org-ghost", "member-1", 60, id="ghost-earn")
    entries = forged(history, ghost_earn)
    refund = correct(entries[-1], id="ghost-refund")
    entries = forged(History(history.signer, entries, [], {}), refund)

    report = audit(rechain(entries), [], history.signer)

    assert checks(report) == {
        (entries[-2].seq, Rejection.PAYER_NOT_FOUND),
        (entries[-1].seq, Rejection.PAYEE_NOT_FOUND),
    }


async def test_the_verifier_reports_such_a_correction_instead_of_crashing(tmp_path: Path) -> None:
    history = await a_history(earn("org-1", "member-1", 60))
    entries = forged(history, earn("org-ghost", "member-1", 60, id="ghost-earn"))
    entries = forged(History(history.signer, entries, [], {}), correct(entries[-1], id="g-r"))
    lines = rechain(entries)
    bundle = a_forged_bundle(tmp_path, lines, history)

    status, out, err = run_verifier(bundle, history)

    assert status == verify.EXIT_FINDINGS, out + err
    assert f"seq {entries[-1].seq}: payee_not_found:" in out
    assert err == ""


# Bundle files: every problem is a finding.


async def test_a_bundle_without_a_head_checkpoint_is_named_no_checkpoint(tmp_path: Path) -> None:
    history = await a_history(earn("org-1", "member-1", 60))
    bundle = a_forged_bundle(tmp_path, history.lines, history)
    (bundle / CHECKPOINT).unlink()

    status, out, _ = run_verifier(bundle, history)

    assert status == verify.EXIT_FINDINGS
    assert "log: no_checkpoint:" in out


async def test_a_head_that_does_not_open_is_named_once(tmp_path: Path) -> None:
    history = await a_history(earn("org-1", "member-1", 60))
    bundle = a_forged_bundle(tmp_path, history.lines, history)
    (bundle / CHECKPOINT).write_bytes(b"\xff\xfe not a note")

    status, out, _ = run_verifier(bundle, history)

    assert status == verify.EXIT_FINDINGS
    assert "checkpoint_invalid" in out
    assert "no_checkpoint" not in out


@pytest.mark.parametrize("name", [BALANCES, MANIFEST])
@pytest.mark.parametrize("content", [b"[", b"[]", b'{"size": "x"}', b"[" * 100_000, b"\xff"])
async def test_a_malformed_balances_or_manifest_file_is_a_bundle_format_finding(
    tmp_path: Path, name: str, content: bytes
) -> None:
    history = await a_history(earn("org-1", "member-1", 60))
    bundle = a_forged_bundle(tmp_path, history.lines, history)
    (bundle / name).write_bytes(content)

    status, out, err = run_verifier(bundle, history)

    assert status == verify.EXIT_FINDINGS, out + err
    assert "log: bundle_format:" in out


# Thousands of generated journals.


@cache
def a_base_history() -> History:
    """Every kind of entry, two months, a refund: what the generated journals break."""
    return asyncio.run(
        a_history(
            earn("org-1", "member-1", 120),
            earn("org-1", "member-2", 90),
            transfer("member-1", "member-2", 30),
            redeem("member-2", "shop-1", 60),
            settle("shop-1", "community", 40),
            NOVEMBER,
            earn("org-1", "member-1", 60),
            redeem("member-1", "shop-1", 30),
        )
    )


def _json_values() -> st.SearchStrategy[object]:
    scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
        max_leaves=6,
    )


MEMBERS = ("open", "kind", "actor", "postings", "memo", "reference", "meta", "time", "seq")
MEMBERS += ("id", "community", "corrects", "account", "settings", "budget", "v", "prev")


@st.composite
def malformed_lines(draw: st.DrawFn, line: bytes) -> bytes:
    """``line`` changed, almost always so that it is no longer the canonical encoding of an
    entry (a splice may leave another canonical entry: callers that need a broken line check)."""
    how = draw(st.sampled_from(["bytes", "splice", "member", "json"]))
    if how == "bytes":
        return draw(st.binary(max_size=200).filter(lambda b: b"\n" not in b))
    if how == "splice":
        at = draw(st.integers(0, len(line)))
        cut = draw(st.integers(0, 8))
        return line[:at] + draw(st.binary(max_size=4)).replace(b"\n", b"") + line[at + cut :]
    try:
        obj = json.loads(line)
    except ValueError:
        obj = {}  # an earlier change left no JSON to change a member of
    if how == "member" and isinstance(obj, dict):
        obj[draw(st.sampled_from(MEMBERS))] = draw(_json_values())
    else:
        obj = draw(_json_values())
    text = json.dumps(obj, sort_keys=draw(st.booleans()), separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8", "surrogatepass")


def _is_entry(line: bytes) -> bool:
    try:
        decode_entry(line)
    except NotCanonical:
        return False
    return True


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_a_journal_with_a_malformed_line_is_named_and_never_crashes_the_audit(
    data: st.DataObject,
) -> None:
    history = a_base_history()
    lines = history.lines
    at = data.draw(st.integers(0, len(lines) - 1))
    lines[at] = data.draw(malformed_lines(lines[at]))
    assume(not _is_entry(lines[at]))

    report = audit(lines, [], history.signer, claimed=history.balances)

    assert (at, Check.NOT_CANONICAL) in checks(report)


# Each rule break, made whatever the state before it: the code it must be named by.
Breaker = Callable[[Entry, st.DataObject], tuple[Entry, str]]


def _account(data: st.DataObject, *choices: str) -> str:
    return data.draw(st.sampled_from(choices))


def _as(entry: Entry, draft: Draft, time: str | None = None) -> Entry:
    return replace(entry, draft=draft, time=time or entry.time)


BREAKERS: dict[str, Breaker] = {
    "overdraft": lambda e, d: (
        _as(e, redeem(_account(d, "member-1", "member-2"), "shop-1", 600_000)),
        Rejection.EXCEEDS_BALANCE,
    ),
    "over budget": lambda e, d: (
        _as(
            e, earn("org-1", _account(d, "member-1", "member-2"), d.draw(st.integers(601, 600_000)))
        ),
        Rejection.EXCEEDS_MONTHLY_BUDGET,
    ),
    "payer never opened": lambda e, d: (
        _as(e, transfer("ghost", _account(d, "member-1", "member-2"), 5)),
        Rejection.PAYER_NOT_FOUND,
    ),
    "payee never opened": lambda e, d: (
        _as(e, redeem(_account(d, "member-1", "member-2"), "ghost-shop", 1)),
        Rejection.PAYEE_NOT_FOUND,
    ),
    "payer of the wrong type": lambda e, d: (
        _as(e, transfer("shop-1", "member-1", 1)),
        Rejection.PAYER_TYPE_NOT_ALLOWED,
    ),
    "amount zero": lambda e, d: (
        _as(e, transfer("member-1", "member-2", d.draw(st.integers(-5, 0)))),
        Rejection.AMOUNT_MUST_BE_POSITIVE,
    ),
    "memo with a control": lambda e, d: (
        _as(e, transfer("member-1", "member-2", 1, memo="a\x07b")),
        Rejection.TEXT_INVALID,
    ),
    "correction of nothing yet": lambda e, d: (
        _as(
            e,
            correct(
                e.seq + d.draw(st.integers(0, 9)), postings=(Posting("shop-1", "member-1", 1),)
            ),
        ),
        Rejection.CORRECTED_ENTRY_NOT_FOUND,
    ),
    "correction of an open": lambda e, d: (
        _as(e, correct(0, postings=(Posting("shop-1", "member-1", 1),))),
        Rejection.CORRECTED_ENTRY_NOT_CORRECTABLE,
    ),
    "impossible time": lambda e, d: (
        _as(e, earn("org-1", "member-1", 1), d.draw(st.sampled_from(FAKE_MONTHS))),
        Check.NOT_CANONICAL,
    ),
    "time going back": lambda e, d: (
        _as(e, earn("org-1", "member-1", 1), "2026-01-01T00:00:00.000000Z"),
        Check.TIME_WENT_BACK,
    ),
}


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_a_re_signed_journal_that_breaks_a_rule_is_named_by_the_rule(data: st.DataObject) -> None:
    history = a_base_history()
    entries = list(history.entries)
    # Break a rule at any entry after the accounts are open, then go on as written.
    first = next(e.seq for e in entries if e.draft.kind is not EntryKind.OPEN)
    at = data.draw(st.integers(first, len(entries)))
    kind = data.draw(st.sampled_from(sorted(BREAKERS)))
    template = entries[min(at, len(entries) - 1)]
    broken, code = BREAKERS[kind](replace(template, seq=at), data)
    tail = [replace(e, seq=e.seq + 1) for e in entries[at:]]
    entries = [*entries[:at], broken, *tail]

    report = audit(rechain(entries), [], history.signer)

    assert (at, code) in checks(report), kind


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_the_verifier_never_crashes_on_any_bundle_and_names_what_is_wrong(
    data: st.DataObject,
) -> None:
    history = a_base_history()
    lines = history.lines
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(lines) - 1))
        change = data.draw(st.sampled_from(["malform", "drop", "repeat", "swap"]))
        if change == "malform":
            lines[at] = data.draw(malformed_lines(lines[at]))
            # A splice can leave a canonical entry the rules have nothing against
            # (a redeem's actor cut from "member-1" to "ember-1" on the last line).
            assume(not _is_entry(lines[at]))
        elif change == "drop" and len(lines) > 1:
            del lines[at]
        elif change == "repeat":
            lines.insert(at, lines[at])
        else:
            lines[at], lines[-1] = lines[-1], lines[at]
    assume(lines != history.lines)
    broken_file = data.draw(st.sampled_from([None, BALANCES, MANIFEST, CHECKPOINT]))
    garbage = data.draw(st.binary(max_size=40))
    with tempfile.TemporaryDirectory() as directory:
        bundle = a_forged_bundle(Path(directory), lines, history)
        if broken_file is not None:
            (bundle / broken_file).write_bytes(garbage)

        status, out, err = run_verifier(bundle, history)

    assert status == verify.EXIT_FINDINGS, out + err
    assert "FAILED" in out


# Helpers.


def a_forged_bundle(directory: Path, lines: list[bytes], history: History) -> Path:
    """A bundle of ``lines`` whose head is signed with the history's key; manifest and
    balances as the exporter would write them for the original history."""
    head = signed_head(lines, history.signer)
    bundle = directory / "bundle"
    (bundle / CHECKPOINTS).mkdir(parents=True)
    (bundle / ENTRIES).write_bytes(b"".join(line + b"\n" for line in lines))
    (bundle / CHECKPOINT).write_text(head)
    root = head.split("\n")[2]
    manifest = {"format": "buurtmunt-bundle", "version": 1, "community": "oost", "size": len(lines)}
    manifest.update(origin=head.split("\n")[0], root=root, created="2026-11-28T00:00:00.000000Z")
    (bundle / MANIFEST).write_text(json.dumps(manifest))
    (bundle / BALANCES).write_text(json.dumps({"size": len(lines), "balances": history.balances}))
    return bundle


def run_verifier(bundle: Path, history: History) -> tuple[int, str, str]:
    """``python -m ledger.audit.verify`` in this process: exit status, stdout and stderr."""
    args = verify.build_parser().parse_args(
        [str(bundle), "--key", history.signer.verifier().key_string(), "--jobs", "1"]
    )
    out, err = io.StringIO(), io.StringIO()
    status = verify.run(args, out, err)
    return status, out.getvalue(), err.getvalue()


# Key names.


async def test_the_ledger_signs_each_communitys_checkpoints_under_its_origin() -> None:
    store = MemoryStore()
    ledger = Ledger(store, generate_signer(HOST), HOST, a_clock())
    await accepted(ledger, *a_neighbourhood())

    head = (await store.head(COMMUNITY)).checkpoint

    assert head is not None
    assert head.note.split("\n")[-2].startswith(f"— {ORIGIN} ")
    published = await ledger.log_verifier(COMMUNITY)
    assert published.key_string().startswith(f"{ORIGIN}+")
    await ledger.close()


async def test_a_journal_whose_older_checkpoints_are_signed_under_the_host_verifies_clean() -> None:
    history = await a_history(earn("org-1", "member-1", 60), earn("org-1", "member-2", 30))
    under_host = history.signer.named(HOST)
    lines = history.lines
    older = [signed_head(lines[:size], under_host) for size in (3, len(lines) - 1)]
    head = signed_head(lines, history.signer)

    for key in (history.signer.named(ORIGIN), under_host):
        report = audit(lines, older, key, head=head, claimed=history.balances)
        assert report.findings == (), key.name
        assert report.checkpoints_verified == 3


# The check's own numbers.


async def test_a_finding_keeps_the_entrys_kind_beside_the_kind_of_what_it_corrects() -> None:
    history = await a_history(earn("org-1", "member-1", 60))
    bad = correct(0, postings=(Posting("member-1", "org-1", 5),), id="undo-open")
    entries = forged(history, bad)

    report = audit(rechain(entries), [], history.signer)

    finding = the(report, Rejection.CORRECTED_ENTRY_NOT_CORRECTABLE)
    assert finding.detail["kind"] == "correct"
    assert finding.detail["corrected_kind"] == "open"
    assert finding.detail["corrects"] == 0
