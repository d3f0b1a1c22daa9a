"""Approvals and authority in the journal: who may record an earning, who approves a
large one, who asks for a transfer, checked by the audit and ``buurtmunt verify``.

The writer appends what the API asks (the API checks who acts); these journals
are signed by the log's own key, so only the broken rule is left to find. A
journal of format version 1 has no authority and keeps its old verdict.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable
from dataclasses import replace
from functools import cache
from pathlib import Path

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ledger.audit import verify
from ledger.audit.findings import Check
from ledger.canonical import ZERO_HASH, decode_entry, encode_entry
from ledger.merkle import leaf_hash
from ledger.model import Draft, Entry, EntryKind, Rejection
from ledger.rules import APPROVED_BY
from tests.support.builders import (
    COORDINATOR,
    an_organisation,
    appoint,
    configure,
    earn,
    open_account,
    redeem,
    transfer,
)
from tests.unit.test_audit import (
    NOVEMBER,
    History,
    a_history,
    audit,
    checks,
    rechain,
    the,
    with_draft,
)
from tests.unit.test_clean_room_findings import (
    _is_entry,
    a_forged_bundle,
    forged,
    malformed_lines,
    run_verifier,
)

THRESHOLD = 480
SECOND = "coordinator-2"


def approved_by(staff_id: str) -> tuple[tuple[str, str], ...]:
    return ((APPROVED_BY, staff_id),)


async def an_authority_history(*steps: object) -> History:
    """A neighbourhood whose settings carry the approval threshold, with two
    coordinators of org-1, then ``steps``."""
    return await a_history(
        configure(approval_threshold_minutes=THRESHOLD),
        appoint(COORDINATOR, "org-1"),
        appoint(SECOND, "org-1"),
        *steps,  # type: ignore[arg-type]
        budget_minutes_per_month=100_000,
    )


def verdict(tmp_path: Path, history: History) -> tuple[int, str]:
    status, out, _ = run_verifier(a_forged_bundle(tmp_path, history.lines, history), history)
    return status, out


async def test_earnings_by_coordinators_approved_by_a_second_and_payers_transfers_verify_clean(
    tmp_path: Path,
) -> None:
    history = await an_authority_history(
        earn("org-1", "member-1", THRESHOLD),
        earn("org-1", "member-1", 540, meta=approved_by(SECOND)),
        earn("org-1", "member-2", 600, actor=SECOND, meta=approved_by(COORDINATOR)),
        transfer("member-1", "member-2", 30),
        appoint(SECOND, "org-1", active=False),
        earn("org-1", "member-2", 60),
    )

    report = audit(history.lines, history.notes, history.signer, claimed=history.balances)

    assert report.clean, report.findings
    assert verdict(tmp_path, history)[0] == 0


async def test_a_large_earning_with_a_single_approver_is_a_finding(tmp_path: Path) -> None:
    history = await an_authority_history(earn("org-1", "member-1", 540))
    seq = len(history.lines) - 1

    report = audit(history.lines, history.notes, history.signer)

    assert checks(report) == {(seq, Rejection.APPROVAL_REQUIRED)}
    assert the(report, Rejection.APPROVAL_REQUIRED).detail["approval_threshold_minutes"] == 480
    status, out = verdict(tmp_path, history)
    assert status == 1 and "approval_required" in out


async def test_an_earning_approved_by_its_own_recorder_or_by_a_stranger_is_a_finding() -> None:
    history = await an_authority_history(
        earn("org-1", "member-1", 540, meta=approved_by(COORDINATOR)),
        earn("org-1", "member-1", 540, meta=approved_by("coordinator-of-nothing")),
    )
    last = len(history.lines) - 1

    report = audit(history.lines, history.notes, history.signer)

    assert checks(report) == {
        (last - 1, Rejection.APPROVER_IS_ACTOR),
        (last, Rejection.APPROVER_NOT_COORDINATOR),
    }


async def test_an_earning_whose_actor_is_the_member_or_a_former_coordinator_is_a_finding(
    tmp_path: Path,
) -> None:
    history = await an_authority_history(
        earn("org-1", "member-1", 60, actor="member-1"),
        appoint(COORDINATOR, "org-1", active=False),
        earn("org-1", "member-1", 60),
        earn("org-1", "member-2", 60, actor=SECOND),
    )
    last = len(history.lines) - 1

    report = audit(history.lines, history.notes, history.signer)

    assert checks(report) == {
        (last - 3, Rejection.ACTOR_NOT_COORDINATOR),
        (last - 1, Rejection.ACTOR_NOT_COORDINATOR),
    }
    status, out = verdict(tmp_path, history)
    assert status == 1 and "actor_not_coordinator" in out


async def test_a_coordinator_of_another_organisation_records_none_of_its_earnings() -> None:
    history = await an_authority_history(
        open_account(an_organisation("org-2")),
        appoint("coordinator-9", "org-2"),
        earn("org-1", "member-1", 60, actor="coordinator-9"),
    )

    report = audit(history.lines, history.notes, history.signer)

    assert checks(report) == {(len(history.lines) - 1, Rejection.ACTOR_NOT_COORDINATOR)}


async def test_a_transfer_asked_for_by_its_payee_is_a_finding(tmp_path: Path) -> None:
    history = await an_authority_history(
        earn("org-1", "member-1", 120),
        transfer("member-1", "member-2", 30, actor="member-2"),
    )

    report = audit(history.lines, history.notes, history.signer)

    assert checks(report) == {(len(history.lines) - 1, Rejection.ACTOR_NOT_PAYER)}
    status, out = verdict(tmp_path, history)
    assert status == 1 and "actor_not_payer" in out


async def test_a_coordinator_may_ask_for_a_transfer_on_a_members_behalf() -> None:
    history = await an_authority_history(
        earn("org-1", "member-1", 120),
        transfer("member-1", "member-2", 30, actor=SECOND),
    )

    report = audit(history.lines, history.notes, history.signer)

    assert checks(report) == set()


async def test_settings_that_drop_the_threshold_are_a_finding_and_the_rules_still_hold() -> None:
    history = await an_authority_history()
    entries = forged(
        history,
        configure(),
        earn("org-1", "member-1", 60, actor="member-1", id="after-drop"),
    )

    report = audit(rechain(entries), [], history.signer)

    assert checks(report) == {
        (len(entries) - 2, Rejection.APPROVAL_THRESHOLD_REMOVED),
        (len(entries) - 1, Rejection.ACTOR_NOT_COORDINATOR),
    }


def as_version_1(entries: list[Entry]) -> list[bytes]:
    """The entries re-encoded as format version 1 and re-chained."""
    lines: list[bytes] = []
    prev = ZERO_HASH
    for entry in entries:
        data = encode_entry(entry.community, entry.seq, entry.time, entry.draft, prev, 1)
        lines.append(data)
        prev = leaf_hash(data)
    return lines


async def test_a_version_1_journal_keeps_its_old_rules_and_verifies_clean(tmp_path: Path) -> None:
    history = await a_history(
        earn("org-1", "member-1", 540, actor="member-1"),
        transfer("member-1", "member-2", 30, actor="member-2"),
        budget_minutes_per_month=100_000,
    )

    lines = as_version_1(history.entries)
    report = audit(lines, [], history.signer, claimed=history.balances)

    assert {decode_entry(line).version for line in lines} == {1}
    assert report.clean, report.findings
    status, out, _ = run_verifier(a_forged_bundle(tmp_path, lines, history), history)
    assert status == 0, out


async def test_version_1_entries_cannot_carry_staff_or_a_threshold() -> None:
    history = await an_authority_history()
    lines = as_version_1(history.entries)

    report = audit(lines, [], history.signer)

    staff_and_threshold = {(seq, Check.NOT_CANONICAL) for seq in (-3, -2, -1)}
    assert checks(report) == {(len(lines) + seq, check) for seq, check in staff_and_threshold}


async def test_an_entry_of_an_unknown_version_is_not_canonical() -> None:
    history = await a_history(earn("org-1", "member-1", 60))
    last = history.entries[-1]
    lines = [*history.lines[:-1], last.data.replace(b',"v":2}', b',"v":3}')]

    report = audit(lines, [], history.signer)

    assert (last.seq, Check.NOT_CANONICAL) in checks(report)


# Generated authority journals (format version 2): each re-signed with the log's
# own key, through the verifier as an auditor runs it. Whatever the state before
# the forged entry, it is named by the rule it breaks; a malformed line is named
# too; the verifier never crashes.


@cache
def an_authority_base_history() -> History:
    """Two coordinators of org-1, a threshold, approved and plain earnings, giving
    and spending over two months: what the generated journals break. Both members
    hold at least 30 minutes from their first earning on."""
    return asyncio.run(
        an_authority_history(
            earn("org-1", "member-1", 240),
            earn("org-1", "member-2", 600, actor=SECOND, meta=approved_by(COORDINATOR)),
            transfer("member-1", "member-2", 30),
            transfer("member-2", "member-1", 45, actor=COORDINATOR),
            redeem("member-2", "shop-1", 60),
            NOVEMBER,
            earn("org-1", "member-1", 540, meta=approved_by(SECOND)),
            redeem("member-1", "shop-1", 30),
        )
    )


STRANGERS = ("member-1", "member-2", "shop-1", "community", "admin-1", "coordinator-9")


def _member(draw: st.DrawFn) -> str:
    return draw(st.sampled_from(("member-1", "member-2")))


def _coordinator(draw: st.DrawFn) -> str:
    return draw(st.sampled_from((COORDINATOR, SECOND)))


def _large(draw: st.DrawFn) -> int:
    return draw(st.integers(THRESHOLD + 1, 2 * THRESHOLD))


def _large_earning_approved_by_its_recorder(draw: st.DrawFn) -> Draft:
    actor = _coordinator(draw)
    return earn("org-1", _member(draw), _large(draw), actor=actor, meta=approved_by(actor))


def _transfer_asked_by_its_payee(draw: st.DrawFn) -> Draft:
    payer, payee = draw(st.permutations(("member-1", "member-2")))
    return transfer(payer, payee, draw(st.integers(1, 30)), actor=payee)


# Each forged entry, and the code it must be named by.
AUTHORITY_BREAKERS: dict[str, tuple[Callable[[st.DrawFn], Draft], str]] = {
    "large earning, one coordinator": (
        lambda d: earn("org-1", _member(d), _large(d), actor=_coordinator(d)),
        Rejection.APPROVAL_REQUIRED,
    ),
    "large earning approved by its recorder": (
        _large_earning_approved_by_its_recorder,
        Rejection.APPROVER_IS_ACTOR,
    ),
    "large earning approved by a non-coordinator": (
        lambda d: earn(
            "org-1",
            _member(d),
            _large(d),
            actor=_coordinator(d),
            meta=approved_by(d(st.sampled_from(STRANGERS))),
        ),
        Rejection.APPROVER_NOT_COORDINATOR,
    ),
    "earning by a non-staff actor": (
        lambda d: earn(
            "org-1",
            _member(d),
            d(st.integers(1, THRESHOLD)),
            actor=d(st.sampled_from(STRANGERS)),
        ),
        Rejection.ACTOR_NOT_COORDINATOR,
    ),
    "transfer asked for by its payee": (_transfer_asked_by_its_payee, Rejection.ACTOR_NOT_PAYER),
    "staff of an account that is no organisation": (
        lambda d: appoint("coordinator-3", d(st.sampled_from(("shop-1", "member-1", "x")))),
        Rejection.ORGANISATION_NOT_FOUND,
    ),
    "settings without the threshold": (
        lambda d: configure(approval_threshold_minutes=None),
        Rejection.APPROVAL_THRESHOLD_REMOVED,
    ),
}


@st.composite
def authority_journals_breaking_a_rule(draw: st.DrawFn) -> tuple[list[bytes], int, str, str]:
    """The base history with one forged entry put in after both members' first
    earning, re-chained: (lines, the forged entry's seq, the code, which break)."""
    entries = list(an_authority_base_history().entries)
    first = 1 + max(
        next(e.seq for e in entries if e.kind is EntryKind.EARN and e.draft.postings[0].payee == m)
        for m in ("member-1", "member-2")
    )
    at = draw(st.integers(first, len(entries)))
    name = draw(st.sampled_from(sorted(AUTHORITY_BREAKERS)))
    make, code = AUTHORITY_BREAKERS[name]
    template = entries[at - 1]
    forged_entry = replace(template, seq=at, draft=make(draw))
    tail = [replace(e, seq=e.seq + 1) for e in entries[at:]]
    return rechain([*entries[:at], forged_entry, *tail]), at, code, name


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(authority_journals_breaking_a_rule())
def test_a_re_signed_authority_journal_that_breaks_a_rule_is_named_by_the_rule(
    journal: tuple[list[bytes], int, str, str],
) -> None:
    lines, at, code, name = journal
    history = an_authority_base_history()

    report = audit(lines, [], history.signer)
    with tempfile.TemporaryDirectory() as directory:
        status, out, err = run_verifier(a_forged_bundle(Path(directory), lines, history), history)

    assert (at, code) in checks(report), (name, report.findings)
    assert status == verify.EXIT_FINDINGS, out + err
    assert f"seq {at}: {code}:" in out, (name, out)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_approver_but_another_coordinator_of_the_organisation_is_named(
    data: st.DataObject,
) -> None:
    history = an_authority_base_history()
    entries = list(history.entries)
    at = next(i for i, e in enumerate(entries) if APPROVED_BY in dict(e.draft.meta))
    original = entries[at]
    approver = data.draw(st.text(max_size=12) | st.sampled_from((*STRANGERS, COORDINATOR, SECOND)))
    valid = {COORDINATOR, SECOND} - {original.draft.actor}
    assume(approver not in valid)
    entries[at] = with_draft(original, meta=approved_by(approver))

    lines = rechain(entries)
    with tempfile.TemporaryDirectory() as directory:
        status, out, err = run_verifier(a_forged_bundle(Path(directory), lines, history), history)

    assert status == verify.EXIT_FINDINGS, out + err
    assert f"seq {at}: " in out, out


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_the_verifier_names_a_malformed_line_of_an_authority_journal_and_never_crashes(
    data: st.DataObject,
) -> None:
    history = an_authority_base_history()
    lines = history.lines
    # Staff, settings and approved earnings first: the lines version 2 added.
    declared = [
        i
        for i, e in enumerate(history.entries)
        if e.kind in (EntryKind.STAFF, EntryKind.CONFIGURE) or APPROVED_BY in dict(e.draft.meta)
    ]
    at = data.draw(st.sampled_from(declared) | st.integers(0, len(lines) - 1))
    lines[at] = data.draw(malformed_lines(lines[at]))
    assume(not _is_entry(lines[at]))

    with tempfile.TemporaryDirectory() as directory:
        status, out, err = run_verifier(a_forged_bundle(Path(directory), lines, history), history)

    assert status == verify.EXIT_FINDINGS, out + err
    assert f"seq {at}: {Check.NOT_CANONICAL}:" in out, out
