"""The streaming audit: every check names the entry, the check and the numbers.

Histories are written by the real writer (``Ledger`` over ``MemoryStore``);
forged ones are re-encoded and re-chained with the pure functions and signed
with the log's own key, so that only the broken rule is left to find.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import limits
from ledger.audit.audit import Audit
from ledger.audit.findings import AuditReport, Check, Finding
from ledger.audit.scan import Run, correction_targets, scan_lines
from ledger.cadence import EVERY_BATCH
from ledger.canonical import ZERO_HASH, decode_entry, encode_entry, scan_plain
from ledger.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from ledger.memory import MemoryStore
from ledger.merkle import Frontier, leaf_hash
from ledger.model import MOVING_KINDS, Draft, Entry, EntryKind, Posting, Rejection
from ledger.note import NoteSigner, generate_signer
from ledger.receipt import parse_receipt, verify_receipt
from ledger.service import Ledger
from ledger.shape import plain_shape_ok
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
from tests.support.strategies import drafts

ORIGIN = f"{HOST}/{COMMUNITY}"
MOVING_DRAFTS = tuple(sorted(MOVING_KINDS))
OCTOBER = datetime(2026, 10, 30, 12, 0, tzinfo=UTC)
NOVEMBER = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@dataclass
class History:
    signer: NoteSigner
    entries: list[Entry]
    notes: list[str]  # every checkpoint the writer signed, in order
    balances: dict[str, int]

    @property
    def lines(self) -> list[bytes]:
        return [e.data for e in self.entries]


async def a_history(*steps: Draft | datetime, budget_minutes_per_month: int = 600) -> History:
    """The writer's journal of a neighbourhood plus ``steps`` (a datetime moves the clock)."""
    store = MemoryStore()
    clock = a_clock(OCTOBER)
    ledger = Ledger(store, generate_signer(ORIGIN), HOST, clock, cadence=EVERY_BATCH)
    await accepted(ledger, *a_neighbourhood(budget_minutes_per_month=budget_minutes_per_month))
    for step in steps:
        if isinstance(step, datetime):
            clock.set(step)
        else:
            await accepted(ledger, step)
    head = await store.head(COMMUNITY)
    entries = await store.entries(COMMUNITY, 0, head.size)
    checkpoints = await store.checkpoints(COMMUNITY, 0, limits.PAGE_SIZE_MAX)
    rows = await store.accounts(COMMUNITY)
    balances = {row.spec.id: row.balance_minutes for row in rows}
    return History(ledger.signer, entries, [c.note for c in checkpoints], balances)


async def a_busy_history() -> History:
    """Two months of earning, giving, spending, settling and one refund."""
    return await a_history(
        earn("org-1", "member-1", 120),
        earn("org-1", "member-2", 90),
        transfer("member-1", "member-2", 30),
        redeem("member-2", "shop-1", 60),
        settle("shop-1", "community", 40),
        NOVEMBER,
        earn("org-1", "member-1", 60),
    )


def signed_head(lines: Sequence[bytes], signer: NoteSigner, origin: str = ORIGIN) -> str:
    frontier = Frontier.empty()
    for line in lines:
        frontier.append(leaf_hash(line))
    return sign_checkpoint(Checkpoint(origin, frontier.size, frontier.root()), signer)


def rechain(entries: Iterable[Entry]) -> list[bytes]:
    """The entries re-encoded as a consistent chain: what a forger with the bytes can do."""
    lines: list[bytes] = []
    prev = ZERO_HASH
    for entry in entries:
        data = encode_entry(entry.community, entry.seq, entry.time, entry.draft, prev)
        lines.append(data)
        prev = leaf_hash(data)
    return lines


def with_draft(entry: Entry, **fields: object) -> Entry:
    return replace(entry, draft=replace(entry.draft, **fields))  # type: ignore[arg-type]


def audit(
    lines: Sequence[bytes],
    notes: Iterable[str],
    signer: NoteSigner,
    *,
    head: str | None = None,
    trusted: str | None = None,
    claimed: dict[str, int] | None = None,
    findings_max: int = limits.AUDIT_FINDINGS_MAX,
) -> AuditReport:
    """Run the audit as the verifier does: pre-pass, checkpoints, lines, ids, end.

    Twice: line by line (``feed``), and with the lines scanned ahead in runs
    (``scan_lines`` and ``feed_run``); both must report exactly the same.
    """
    reports = []
    for in_runs in (False, True):
        run = Audit(
            signer.verifier(),
            retain=correction_targets(lines),
            findings_max=findings_max,
            id_filter_bits=SMALL_ID_FILTER_BITS,
        )
        if trusted is not None:
            run.checkpoint(trusted, "trusted", trusted=True)
        run.checkpoint(head or signed_head(lines, signer), "checkpoint", head=True)
        for n, note in enumerate(notes):
            run.checkpoint(note, f"checkpoints/{n}")
        if in_runs:
            feed_in_runs(run, lines)
        else:
            for line in lines:
                run.feed(line)
        suspects = run.duplicate_id_suspects()
        run.confirm_duplicate_ids({s: lines[s] for s in suspects})
        claimed_size = len(lines) if claimed else None
        reports.append(run.finish(claimed_balances=claimed, claimed_size=claimed_size))
    assert reports[0] == reports[1]
    return reports[0]


# Histories here are short: a small bitmap of ids, which costs nothing to clear.
SMALL_ID_FILTER_BITS = 2**16


def feed_in_runs(run: Audit, lines: Sequence[bytes]) -> None:
    """Feed ``lines`` as ``ledger.audit.verify`` does: scanned ahead, runs in bulk."""
    file = b"".join(line + b"\n" for line in lines)
    for item in scan_lines(list(lines), 0):
        if isinstance(item, bytes):
            run.feed(item)
        else:
            run.feed_run(item, lambda offset, size: file[offset : offset + size])


def checks(report: AuditReport) -> set[tuple[int | None, str]]:
    return {(f.seq, f.check) for f in report.findings}


def the(report: AuditReport, check: str) -> Finding:
    found = [f for f in report.findings if f.check == check]
    assert len(found) == 1, report.findings
    return found[0]


# A clean journal.


async def test_the_writers_journal_audits_clean_with_its_checkpoints_and_balances() -> None:
    history = await a_busy_history()

    report = audit(history.lines, history.notes, history.signer, claimed=history.balances)

    assert report.findings == ()
    assert report.clean
    assert report.size == len(history.entries)
    assert report.checkpoints_verified == len(history.notes) + 1
    assert report.outstanding_minutes == 120 + 90 + 60 - 40


async def test_the_report_counts_accounts_and_names_the_head_checkpoint() -> None:
    history = await a_busy_history()

    report = audit(history.lines, [], history.signer)

    assert report.accounts == 5
    assert report.head is not None
    assert (report.head.size, report.head.root) == (report.size, report.root)


# 1. Canonical and well-formed.


async def test_a_line_that_is_not_canonical_json_is_named() -> None:
    history = await a_busy_history()
    lines = history.lines
    lines[6] = lines[6].replace(b'"kind":', b'"kind": ')

    report = audit(lines, [], history.signer)

    finding = next(f for f in report.findings if f.check == Check.NOT_CANONICAL)
    assert finding.seq == 6
    assert finding.detail["reason"] == "not_canonical"


async def test_a_line_that_is_not_json_at_all_is_named_and_the_stream_goes_on() -> None:
    history = await a_busy_history()
    lines = history.lines
    lines[6] = b"garbage"

    report = audit(lines, [], history.signer)

    assert (6, Check.NOT_CANONICAL) in checks(report)
    assert (7, Check.HASH_CHAIN_BROKEN) in checks(report)
    assert report.size == len(lines)


async def test_a_line_of_deeply_nested_arrays_is_named_not_a_crash() -> None:
    history = await a_busy_history()
    lines = history.lines
    lines[6] = b"[" * 5000

    report = audit(lines, [], history.signer)

    assert (6, Check.NOT_CANONICAL) in checks(report)


async def test_an_entry_of_the_wrong_shape_is_named_with_the_shape_rule() -> None:
    history = await a_busy_history()
    entries = list(history.entries)
    entries[6] = with_draft(entries[6], memo="x" * (limits.MEMO_LENGTH_MAX + 1))
    lines = rechain(entries)

    report = audit(lines, [], history.signer)

    assert checks(report) == {(6, Rejection.MEMO_TOO_LONG)}


async def test_an_entry_of_another_community_is_named() -> None:
    history = await a_busy_history()
    entries = list(history.entries)
    entries[6] = replace(entries[6], community="west")

    report = audit(rechain(entries), [], history.signer)

    finding = the(report, Check.WRONG_COMMUNITY)
    assert (finding.seq, finding.detail["community"]) == (6, "west")


# 2. Sequence, ids, time, chain.


async def test_a_deleted_entry_is_named_as_the_seq_that_is_missing() -> None:
    history = await a_busy_history()
    lines = history.lines
    del lines[6]

    report = audit(lines, [], history.signer)

    gap = the(report, Check.SEQ_OUT_OF_ORDER)
    assert (gap.seq, gap.detail["expected_seq"], gap.detail["found_seq"]) == (6, 6, 7)
    assert (6, Check.HASH_CHAIN_BROKEN) in checks(report)


async def test_an_amount_changed_in_place_breaks_the_chain_at_the_next_entry() -> None:
    history = await a_busy_history()
    entries = list(history.entries)
    changed = with_draft(entries[6], postings=(Posting("org-1", "member-1", 999),))
    lines = history.lines
    lines[6] = encode_entry(COMMUNITY, 6, changed.time, changed.draft, changed.prev)

    report = audit(lines, history.notes, history.signer, head=history.notes[-1])

    chain = the(report, Check.HASH_CHAIN_BROKEN)
    assert (chain.seq, chain.detail["previous_seq"]) == (7, 6)
    roots = [f for f in report.findings if f.check == Check.CHECKPOINT_ROOT_MISMATCH]
    assert roots and roots[0].detail["size"] == 7 and roots[0].detail["first_seq"] == 6


async def test_a_reused_id_is_named_with_the_entry_that_used_it_first() -> None:
    history = await a_busy_history()
    entries = list(history.entries)
    entries[8] = with_draft(entries[8], id=entries[6].id)

    report = audit(rechain(entries), [], history.signer)

    duplicate = the(report, Check.DUPLICATE_ID)
    assert (duplicate.seq, duplicate.detail["first_seq"]) == (8, 6)
    assert duplicate.detail["id"] == entries[6].id


async def test_time_that_goes_back_is_named_with_both_times() -> None:
    history = await a_busy_history()
    entries = list(history.entries)
    entries[8] = replace(entries[8], time="2026-10-01T00:00:00.000000Z")

    report = audit(rechain(entries), [], history.signer)

    went_back = the(report, Check.TIME_WENT_BACK)
    assert went_back.seq == 8
    assert went_back.detail["time"] == "2026-10-01T00:00:00.000000Z"


# 3. Checkpoints.


async def test_a_checkpoint_signed_by_another_key_is_named() -> None:
    history = await a_busy_history()
    stranger = generate_signer(ORIGIN)

    report = audit(history.lines, [signed_head(history.lines, stranger)], history.signer)

    finding = the(report, Check.CHECKPOINT_INVALID)
    assert finding.detail["reason"] == "unverified_note"


async def test_a_checkpoint_for_another_log_is_named() -> None:
    history = await a_busy_history()
    other = signed_head(history.lines, history.signer, origin=f"{HOST}/west")

    report = audit(history.lines, [other], history.signer)

    assert Check.CHECKPOINT_ORIGIN_MISMATCH in {f.check for f in report.findings}


async def test_two_checkpoints_of_one_size_with_different_roots_are_a_fork() -> None:
    history = await a_busy_history()
    forged = rechain(with_draft(e, memo="x") if e.seq == 6 else e for e in history.entries)
    fork = signed_head(forged[:8], history.signer)

    report = audit(history.lines, [*history.notes, fork], history.signer)

    finding = the(report, Check.FORK)
    assert finding.detail["size"] == 8
    assert finding.seq == 7


async def test_a_checkpoint_beyond_the_journals_end_names_the_missing_entries() -> None:
    history = await a_busy_history()
    lines = history.lines[:-2]

    report = audit(lines, history.notes, history.signer)

    beyond = [f for f in report.findings if f.check == Check.CHECKPOINT_BEYOND_END]
    assert beyond and all(f.seq == len(lines) for f in beyond)


async def test_entries_after_the_head_checkpoint_are_named_as_unsigned() -> None:
    history = await a_busy_history()
    head = signed_head(history.lines[:-2], history.signer)

    report = audit(history.lines, [], history.signer, head=head)

    unsigned = the(report, Check.HEAD_SIZE_MISMATCH)
    assert unsigned.seq == len(history.lines) - 2


async def test_a_trusted_checkpoint_that_the_journal_no_longer_matches_is_named() -> None:
    history = await a_busy_history()
    trusted = signed_head(history.lines[:8], history.signer)
    rewritten = rechain(with_draft(e, memo="x") if e.seq == 6 else e for e in history.entries)

    report = audit(rewritten, [], history.signer, trusted=trusted)

    mismatch = the(report, Check.TRUSTED_CHECKPOINT_MISMATCH)
    assert (mismatch.seq, mismatch.detail["size"]) == (7, 8)


async def test_a_trusted_checkpoint_beyond_the_end_names_a_rolled_back_journal() -> None:
    history = await a_busy_history()
    trusted = signed_head(history.lines, history.signer)
    shorter = history.lines[:-3]

    report = audit(shorter, [], history.signer, trusted=trusted)

    rollback = the(report, Check.TRUSTED_CHECKPOINT_BEYOND_END)
    assert rollback.seq == len(shorter)


# 4. The rules, replayed.


async def test_an_overdraft_is_named_with_the_balance_and_the_floor() -> None:
    history = await a_busy_history()
    entries = list(history.entries)
    # member-2 holds 90 + 30 = 120 before the redeem at seq 8; spend 500 instead.
    entries[8] = with_draft(entries[8], postings=(Posting("member-2", "shop-1", 500),))

    report = audit(rechain(entries), [], history.signer)

    overdraft = the(report, Rejection.EXCEEDS_BALANCE)
    assert overdraft.seq == 8
    assert overdraft.detail["balance_minutes"] == 120
    assert (overdraft.detail["floor_minutes"], overdraft.detail["minutes"]) == (0, 500)
    assert overdraft.detail["payer"] == "member-2"


async def test_issuing_beyond_the_monthly_budget_is_named_with_the_month() -> None:
    history = await a_history(
        earn("org-1", "member-1", 300), earn("org-1", "member-2", 300), budget_minutes_per_month=600
    )
    entries = list(history.entries)
    entries[-1] = with_draft(entries[-1], postings=(Posting("org-1", "member-2", 301),))

    report = audit(rechain(entries), [], history.signer)

    over = the(report, Rejection.EXCEEDS_MONTHLY_BUDGET)
    assert over.seq == len(entries) - 1
    assert over.detail["issued_minutes"] == 300
    assert over.detail["month"] == "2026-10"


async def test_the_budget_starts_afresh_in_each_month() -> None:
    history = await a_history(
        earn("org-1", "member-1", 600), NOVEMBER, earn("org-1", "member-2", 600),
        budget_minutes_per_month=600,
    )  # fmt: skip

    report = audit(history.lines, history.notes, history.signer, claimed=history.balances)

    assert report.findings == ()


async def test_earning_beyond_the_members_monthly_cap_is_named() -> None:
    history = await a_history(
        configure(member_earning_cap_minutes_per_month=120),
        earn("org-1", "member-1", 60),
        earn("org-1", "member-1", 60),
    )
    entries = list(history.entries)
    entries[-1] = with_draft(entries[-1], postings=(Posting("org-1", "member-1", 61),))

    report = audit(rechain(entries), [], history.signer)

    cap = the(report, Rejection.EXCEEDS_MONTHLY_EARNING_CAP)
    assert (cap.detail["earned_minutes"], cap.detail["cap_minutes_per_month"]) == (60, 120)


async def test_two_partial_corrections_of_one_payment_audit_clean() -> None:
    history = await a_history(
        earn("org-1", "member-2", 90),
        redeem("member-2", "shop-1", 60),
        correct(6, postings=(Posting("shop-1", "member-2", 20),)),
        correct(6, postings=(Posting("shop-1", "member-2", 40),)),
    )

    report = audit(history.lines, history.notes, history.signer, claimed=history.balances)

    assert report.findings == ()


def _one_more_refund(history: History, minutes: int) -> list[bytes]:
    """The history's lines with a further refund of ``minutes`` of entry 6, forged on."""
    entries = list(history.entries)
    last = entries[-1]
    again = replace(
        last.draft, id="refund-more", postings=(Posting("shop-1", "member-2", minutes),)
    )
    entries.append(replace(last, seq=last.seq + 1, draft=again))
    return rechain(entries)


async def test_a_refund_beyond_what_earlier_refunds_left_is_named_with_what_remained() -> None:
    history = await a_history(
        earn("org-1", "member-2", 90),
        redeem("member-2", "shop-1", 60),
        correct(6, postings=(Posting("shop-1", "member-2", 20),)),
    )

    report = audit(_one_more_refund(history, 41), [], history.signer)

    over = the(report, Rejection.CORRECTION_EXCEEDS_ORIGINAL)
    assert (over.seq, over.detail["corrects"]) == (len(history.entries), 6)
    assert (over.detail["original_minutes"], over.detail["remaining_minutes"]) == (60, 40)
    assert over.message == "the correction moves more than remains of the original"
    assert len(report.findings) == 1


async def test_a_refund_up_to_what_earlier_refunds_left_is_not_named() -> None:
    history = await a_history(
        earn("org-1", "member-2", 90),
        redeem("member-2", "shop-1", 60),
        correct(6, postings=(Posting("shop-1", "member-2", 20),)),
    )

    report = audit(_one_more_refund(history, 40), [], history.signer)

    assert report.findings == ()


async def test_a_refund_of_a_payment_refunded_in_full_is_named() -> None:
    history = await a_history(
        earn("org-1", "member-2", 90),
        redeem("member-2", "shop-1", 60),
        correct(6, postings=(Posting("shop-1", "member-2", 20),)),
        correct(6, postings=(Posting("shop-1", "member-2", 40),)),
    )

    report = audit(_one_more_refund(history, 10), [], history.signer)

    twice = the(report, Rejection.ALREADY_CORRECTED)
    assert (twice.seq, twice.detail["corrects"]) == (len(history.entries), 6)
    assert len(report.findings) == 1


async def test_after_an_over_refund_the_audit_counts_it_and_names_the_next_refund_too() -> None:
    # The replay follows the journal as written: the forged 50 counts, so
    # nothing remains of the 60 and a further refund of 10 is named as well.
    history = await a_history(
        earn("org-1", "member-2", 90),
        redeem("member-2", "shop-1", 60),
        correct(6, postings=(Posting("shop-1", "member-2", 20),)),
    )
    entries = [decode_entry(line) for line in _one_more_refund(history, 50)]
    last = entries[-1]
    again = replace(last.draft, id="refund-last", postings=(Posting("shop-1", "member-2", 10),))
    entries.append(replace(last, seq=last.seq + 1, draft=again))

    report = audit(rechain(entries), [], history.signer)

    assert checks(report) == {
        (last.seq, Rejection.CORRECTION_EXCEEDS_ORIGINAL),
        (last.seq + 1, Rejection.ALREADY_CORRECTED),
    }


async def test_a_correction_that_names_a_later_entry_is_named() -> None:
    history = await a_busy_history()
    entries = list(history.entries)
    last = entries[-1]
    entries.append(
        replace(
            last,
            seq=last.seq + 1,
            draft=Draft(
                "refund-late", EntryKind.CORRECT, "admin",
                (Posting("shop-1", "member-2", 5),), corrects=last.seq + 5,
            ),
        )
    )  # fmt: skip

    report = audit(rechain(entries), [], history.signer)

    assert checks(report) == {(last.seq + 1, Rejection.CORRECTED_ENTRY_NOT_FOUND)}


async def test_a_correction_of_an_earn_counts_back_in_the_month_of_the_correction() -> None:
    # October's budget is used up; November's correction frees November's budget,
    # so November may issue 600 + 300.
    history = await a_history(
        earn("org-1", "member-1", 600),
        NOVEMBER,
        correct(5, postings=(Posting("member-1", "org-1", 300),)),
        earn("org-1", "member-2", 900),
        budget_minutes_per_month=600,
    )

    report = audit(history.lines, history.notes, history.signer, claimed=history.balances)

    assert report.findings == ()


# Claimed balances.


async def test_a_claimed_balance_that_differs_from_the_replay_is_named_with_both_numbers() -> None:
    history = await a_busy_history()
    claimed = dict(history.balances, **{"member-1": history.balances["member-1"] + 15})
    claimed["org-1"] -= 15

    report = audit(history.lines, [], history.signer, claimed=claimed)

    assert {f.detail["account"] for f in report.findings} == {"member-1", "org-1"}
    mismatch = next(f for f in report.findings if f.detail["account"] == "member-1")
    assert mismatch.seq is None
    assert mismatch.detail == {
        "account": "member-1",
        "claimed_minutes": history.balances["member-1"] + 15,
        "replayed_minutes": history.balances["member-1"],
    }


async def test_claimed_balances_that_do_not_sum_to_zero_are_named() -> None:
    history = await a_busy_history()
    claimed = dict(history.balances, **{"member-1": history.balances["member-1"] + 15})

    report = audit(history.lines, [], history.signer, claimed=claimed)

    assert the(report, Check.BALANCES_DO_NOT_SUM_TO_ZERO).detail["claimed_sum_minutes"] == 15


# Bounded memory and findings.


async def test_only_the_current_months_counters_are_kept() -> None:
    history = await a_busy_history()
    run = Audit(history.signer.verifier(), retain=correction_targets(history.lines))

    for line in history.lines:
        run.feed(line)

    assert run.state.monthly
    assert {month for _, month in run.state.monthly} == {"2026-11"}


async def test_only_the_entries_that_corrections_name_are_kept() -> None:
    history = await a_history(
        earn("org-1", "member-2", 90),
        redeem("member-2", "shop-1", 60),
        correct(6, postings=(Posting("shop-1", "member-2", 20),)),
    )
    retain = correction_targets(history.lines)
    run = Audit(history.signer.verifier(), retain=retain)

    for line in history.lines:
        run.feed(line)

    assert retain == {6}
    assert set(run.state.originals) == {6}
    assert run.state.reversed_minutes == {6: (20,)}


def test_the_pre_pass_is_not_fooled_by_a_memo_that_mentions_a_correction() -> None:
    memo = '"kind":"correct","corrects":3'
    line = encode_entry(COMMUNITY, 9, "2026-11-02T09:00:00.000000Z", earn(memo=memo), ZERO_HASH)

    assert correction_targets([line]) == set()


async def test_findings_stop_at_the_limit_and_the_rest_are_counted() -> None:
    history = await a_busy_history()
    lines = [b"nonsense"] * 12

    report = audit(lines, [], history.signer, findings_max=5)

    assert len(report.findings) == 5
    assert report.findings_omitted > 0
    assert not report.clean


def test_a_finding_reads_as_one_line_with_where_what_and_the_numbers() -> None:
    finding = Finding(7, "exceeds_balance", "the payer goes below its floor", (("balance", 3),))

    assert finding.line() == "seq 7: exceeds_balance: the payer goes below its floor [balance=3]"


# The fast decoder agrees with the decoder.


def an_entry_line(draft: Draft, seq: int = 3) -> bytes:
    return encode_entry(COMMUNITY, seq, "2026-11-02T09:00:00.000000Z", draft, bytes(range(32)))


# The spec's examples are what the code produces.

SPEC = Path(__file__).resolve().parents[2] / "docs" / "ledger-format.md"


def _blocks(text: str) -> list[str]:
    return text.split("```")[1::2]


def test_the_format_specs_examples_verify_with_the_code() -> None:
    blocks = [b.strip("\n") + "\n" for b in _blocks(SPEC.read_text(encoding="utf-8"))]
    keys = next(b for b in blocks if b.startswith("signer:"))
    signer = NoteSigner.from_key_string(keys.split()[1])
    verifier_key = keys.split()[3]
    lines = [line.encode() for b in blocks for line in b.splitlines() if line.startswith('{"')]
    hashes = next(b for b in blocks if b.startswith("leaf 0:"))
    note = next(b for b in blocks if b.startswith("buurtmunt.example/demo\n3\n"))
    receipt = [b for b in blocks if b.startswith("c2sp.org/tlog-proof@v1")][-1]

    assert signer.verifier().key_string() == verifier_key
    assert [e.data for e in map(decode_entry, lines)] == lines
    listed = [row.split(": ")[1] for row in hashes.splitlines()]
    assert listed[:3] == [leaf_hash(line).hex() for line in lines]
    assert signed_head(lines, signer, "buurtmunt.example/demo") == note
    assert listed[3] == open_checkpoint(note, signer.verifier()).root.hex()
    verify_receipt(parse_receipt(receipt), lines[2], signer.verifier())
    run = Audit(signer.verifier())
    run.checkpoint(note, "checkpoint", head=True)
    for line in lines:
        run.feed(line)
    report = run.finish()
    assert report.findings == ()
    assert run.state.balance("org-1") == -90 and run.state.monthly == {
        ("org-1", "2026-11"): 90,
        ("m-1", "2026-11"): 90,
    }


# The common line's shortcuts (line by line, and in runs) find and replay what the long way does.


def _run(lines: Sequence[bytes], signer: NoteSigner, *, way: str) -> tuple[object, ...]:
    seen: list[int] = []
    long_way = way == "long"
    observer = (lambda entry, state: seen.append(entry.seq)) if long_way else None
    run = Audit(signer.verifier(), retain=correction_targets(lines), observer=observer)
    run.checkpoint(signed_head(lines, signer), "checkpoint", head=True)
    if way == "runs":
        feed_in_runs(run, lines)
    else:
        for line in lines:
            run.feed(line)
    report = run.finish()
    assert len(seen) == (len(lines) if long_way else 0)
    balances = {k: a.balance_minutes for k, a in run.state.accounts.items()}
    return report.findings, report.root, balances, run.state.monthly, run.duplicate_id_suspects()


async def test_the_common_line_shortcut_finds_and_replays_what_the_long_way_does() -> None:
    history = await a_busy_history()
    last = history.entries[-1]
    extra = [
        with_draft(
            last,
            id="over",
            kind=EntryKind.REDEEM,
            actor="member-2",
            postings=(Posting("member-2", "shop-1", 10_000),),
        ),
        with_draft(last, id="e-again", postings=(Posting("org-1", "member-1", 15),)),
        with_draft(last, id="e-again", postings=(Posting("org-1", "member-2", 15),)),
        replace(with_draft(last, id="late"), time="2026-10-01T00:00:00.000000Z"),
        with_draft(
            last, id="ghost", kind=EntryKind.TRANSFER, postings=(Posting("member-1", "x", 5),)
        ),
        with_draft(
            last, id="tiny", kind=EntryKind.TRANSFER, postings=(Posting("member-1", "member-2", 1),)
        ),
    ]
    entries = [*history.entries, *(replace(e, seq=last.seq + 1 + n) for n, e in enumerate(extra))]
    lines = rechain(entries)
    lines.insert(len(lines) - 1, lines[-2])  # a line twice: seq and chain break

    short = _run(lines, history.signer, way="short")
    long = _run(lines, history.signer, way="long")
    in_runs = _run(lines, history.signer, way="runs")

    assert short == long == in_runs
    assert {f.check for f in short[0]} >= {"exceeds_balance", "time_went_back", "payee_not_found"}


# Scanning ahead: runs hold exactly the lines the shortcut takes, and their trees.


def _taken(line: bytes) -> bool:
    """Whether ``_feed_plain`` could take the line: scan_plain reads it, shape passes."""
    fields = scan_plain(line)
    if fields is None or fields[5] is EntryKind.CORRECT:
        return False
    _, _, _, _, id_, kind, actor, payer, payee, amount, memo, ref, meta, corrects = fields
    return plain_shape_ok(id_, kind, actor, payer, payee, amount, memo, ref, meta, corrects)


def _scanned_alone(line: bytes) -> Run | None:
    items = scan_lines([line], 0)
    assert len(items) == 1
    return None if isinstance(items[0], bytes) else items[0]


@settings(max_examples=300, deadline=None)
@given(draft=drafts(MOVING_DRAFTS), seq=st.integers(0, limits.JSON_INTEGER_MAX), data=st.data())
def test_a_run_holds_a_line_exactly_when_the_shortcut_takes_it(
    draft: Draft, seq: int, data: st.DataObject
) -> None:
    line = encode_entry(COMMUNITY, seq, "2026-11-02T09:00:00.000000Z", draft, bytes(range(32)))
    position = data.draw(st.integers(0, len(line)))
    damaged = line[:position] + data.draw(st.binary(max_size=3)) + line[position + 1 :]

    for each in (line, damaged):
        run = _scanned_alone(each)
        assert (run is not None) == _taken(each)
        if run is not None:
            entry = decode_entry(each)
            posting = entry.draft.postings[0]
            assert (run.seq, run.time(0), run.ids, run.kinds[0], run.community, run.prev) == (
                entry.seq, entry.time, entry.id, entry.kind, entry.community, entry.prev
            )  # fmt: skip
            assert (run.payers, run.payees, run.amounts) == (
                [posting.payer], [posting.payee], [posting.amount_minutes]
            )  # fmt: skip
            assert run.leaf(0) == leaf_hash(each) and run.month == entry.time[:7]


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b'"memo":""', b'"memo":"\\u00e9"'),
        (b'"memo":""', b'"memo":"\xc2\x85"'),  # printable to JSON, not to the shape check
        (b'"id":"e-1"', b'"id":"-e"'),
        (b'"minutes":30', b'"minutes":600001'),
        (b'"meta":{}', b'"meta":{"b":"1","a":"2"}'),
        (b'"meta":{}', b'"meta":{"A":"1"}'),
        (b'"to":"member-1"', b'"to":"org-1"'),
        (b'"seq":3', b'"seq":9007199254740992'),
    ],
)
def test_a_run_holds_no_line_the_shortcut_would_not_take(old: bytes, new: bytes) -> None:
    line = an_entry_line(earn(id="e-1", minutes=30)).replace(old, new, 1)

    assert new in line
    assert _scanned_alone(line) is None and not _taken(line)


@pytest.mark.parametrize("bits", [8, SMALL_ID_FILTER_BITS, limits.AUDIT_ID_FILTER_BITS])
async def test_a_bitmap_of_ids_of_any_size_finds_exactly_the_reused_ids(bits: int) -> None:
    history = await a_busy_history()
    entries = list(history.entries)
    entries[8] = with_draft(entries[8], id=entries[6].id)
    lines = rechain(entries)
    run = Audit(history.signer.verifier(), id_filter_bits=bits)

    for line in lines:
        run.feed(line)
    run.confirm_duplicate_ids({s: lines[s] for s in run.duplicate_id_suspects()})

    assert [(f.seq, f.check) for f in run.findings] == [(8, Check.DUPLICATE_ID)]


async def test_one_seq_claimed_by_entries_of_different_shapes_is_named_not_a_crash() -> None:
    """A forged journal: a correction names an ``open`` (no postings), a later line claims
    that seq for an earning (one posting), and a correction names it again. What was
    reversed under the seq no longer lines up with the entry kept under it; the audit
    names findings and goes on (it raised ValueError)."""
    history = await a_history(earn("org-1", "member-2", 90))
    entries = list(history.entries)
    opened = next(e for e in entries if e.draft.kind is EntryKind.OPEN)
    k, end = opened.seq, len(entries)
    back = (Posting("member-2", "org-1", 10),)
    forged = [
        replace(entries[-1], seq=end, draft=correct(k, postings=back, id="forged-1")),
        replace(entries[-1], seq=k, draft=earn("org-1", "member-2", 30, id="forged-2")),
        replace(entries[-1], seq=end + 2, draft=correct(k, postings=back, id="forged-3")),
    ]

    report = audit(rechain(entries + forged), [], history.signer)

    assert not report.clean
    assert "seq_out_of_order" in {f.check for f in report.findings}, report.findings
