"""The tamper suite: a real history on SQLite and PostgreSQL, exported, tampered, verified.

Each way of tampering is caught and named (the check, and the entry or
account); the untouched bundle and the untouched database audit clean.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from api.audit_commands import audit_store
from ledger import limits
from ledger.audit.audit import Audit
from ledger.audit.bundle import Bundle, split_notes
from ledger.audit.export import export_bundle
from ledger.audit.findings import AuditReport, Check, b64
from ledger.audit.scan import correction_targets
from ledger.audit.verify import verify_bundle
from ledger.cadence import EVERY_BATCH
from ledger.canonical import ZERO_HASH, decode_entry, encode_entry
from ledger.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from ledger.clock import ManualClock
from ledger.merkle import Frontier, leaf_hash
from ledger.model import Draft, Entry, EntryKind, Posting, Rejection
from ledger.note import NoteSigner, generate_signer
from ledger.service import Ledger
from ledger.sql.migrate import upgrade
from ledger.sql.store import SqlStore
from ledger.writer import Appended
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

OCTOBER = datetime(2026, 10, 5, 9, 0, tzinfo=UTC)
NOVEMBER = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)


@dataclass
class Exported:
    store: SqlStore
    ledger: Ledger
    bundle: Path
    tmp: Path

    @property
    def signer(self) -> NoteSigner:
        return self.ledger.signer

    def copy(self, name: str) -> Path:
        target = self.tmp / name
        shutil.copytree(self.bundle, target)
        return target


async def together(ledger: Ledger, *drafts: Draft) -> list[Entry]:
    """Append concurrently, so the writer commits them in shared batches."""
    results = await asyncio.gather(*(ledger.append(COMMUNITY, d) for d in drafts))
    assert all(isinstance(r, Appended) for r in results), results
    return [r.entry for r in results if isinstance(r, Appended)]


async def a_real_history(ledger: Ledger, clock: ManualClock) -> None:
    """Two months of a neighbourhood, partly in shared batches, with three corrections.

    One redemption is refunded in two parts (20, then 30 of its 60), in batches
    a month apart.
    """
    await accepted(
        ledger,
        *a_neighbourhood(
            members=4, shops=2, settings=configure(member_earning_cap_minutes_per_month=900)
        ),
    )
    earned = await together(ledger, *(earn("org-1", f"member-{n}", 120) for n in range(1, 5)))
    await together(
        ledger,
        transfer("member-1", "member-2", 30),
        redeem("member-2", "shop-1", 90),
        redeem("member-3", "shop-2", 45),
    )
    refunded = await accepted(ledger, redeem("member-4", "shop-1", 60))
    await accepted(ledger, correct(refunded[0], 20), settle("shop-1", "community", 100))
    clock.set(NOVEMBER)
    await together(ledger, earn("org-1", "member-1", 60), earn("org-1", "member-3", 90))
    await accepted(ledger, correct(earned[3], 30), transfer("member-3", "member-4", 15))
    await accepted(ledger, correct(refunded[0], 30))


@pytest.fixture
async def exported(database_url: str, tmp_path: Path) -> AsyncIterator[Exported]:
    store = SqlStore.from_url(database_url)
    await upgrade(store.engine)
    clock = a_clock(OCTOBER)
    ledger = Ledger(store, generate_signer(f"{HOST}/{COMMUNITY}"), HOST, clock, cadence=EVERY_BATCH)
    try:
        await a_real_history(ledger, clock)
        bundle = tmp_path / "bundle"
        # Every checkpoint witnessed: the bundle keeps them all, to tamper with.
        witnessed = [c.size for c in await store.checkpoints(COMMUNITY, 0, limits.PAGE_SIZE_MAX)]
        await export_bundle(store, COMMUNITY, bundle, ledger.verifier, witnessed=witnessed)
        yield Exported(store, ledger, bundle, tmp_path)
    finally:
        await ledger.close()
        await store.close()


def verify(exported: Exported, bundle: Path, trusted: str | None = None) -> AuditReport:
    return verify_bundle(Bundle(bundle), exported.ledger.verifier, trusted_note=trusted)


def lines_of(bundle: Path) -> list[bytes]:
    return (bundle / "entries.jsonl").read_bytes().split(b"\n")[:-1]


def write_lines(bundle: Path, lines: list[bytes]) -> None:
    (bundle / "entries.jsonl").write_bytes(b"".join(line + b"\n" for line in lines))


def rechain(entries: list[Entry]) -> list[bytes]:
    lines, prev = [], ZERO_HASH
    for entry in entries:
        data = encode_entry(entry.community, entry.seq, entry.time, entry.draft, prev)
        lines.append(data)
        prev = leaf_hash(data)
    return lines


def named(report: AuditReport) -> set[tuple[int | None, str]]:
    return {(f.seq, f.check) for f in report.findings}


def kept_notes(bundle: Path) -> dict[int, str]:
    """The notes of the bundle's checkpoints.txt by size."""
    notes = split_notes((bundle / "checkpoints.txt").read_text())
    return {int(note.split("\n")[1]): note for note in notes}


def keep_notes(bundle: Path, notes: list[str]) -> None:
    (bundle / "checkpoints.txt").write_text("".join(note + "\n" for note in notes))


def checkpoint_sizes(bundle: Path) -> list[int]:
    return sorted(kept_notes(bundle))


def resign(bundle: Path, lines: list[bytes], signer: NoteSigner, origin: str) -> None:
    """Re-sign every checkpoint over ``lines``: what only the key's holder can do."""
    sizes = checkpoint_sizes(bundle)
    frontier = Frontier.empty()
    notes: dict[int, str] = {}
    for position, line in enumerate(lines, 1):
        frontier.append(leaf_hash(line))
        if position in sizes:
            checkpoint = Checkpoint(origin, position, frontier.root())
            notes[position] = sign_checkpoint(checkpoint, signer)
    keep_notes(bundle, [notes[size] for size in sorted(notes)])
    (bundle / "checkpoint").write_text(notes[max(notes)])
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest.update(size=len(lines), root=b64(frontier.root()))
    (bundle / "manifest.json").write_text(json.dumps(manifest))


# The untouched.


async def test_the_untouched_bundle_verifies_clean(exported: Exported) -> None:
    report = verify(exported, exported.bundle)

    assert report.findings == ()
    assert report.size == len(lines_of(exported.bundle))
    assert report.checkpoints_verified == len(checkpoint_sizes(exported.bundle)) + 1


async def test_the_untouched_database_audits_clean(exported: Exported) -> None:
    report, _ = await audit_store(exported.store, COMMUNITY, exported.ledger.verifier)

    assert report.findings == ()
    assert report.outstanding_minutes == 4 * 120 + 60 + 90 - 30 - 100


# The tampering.


async def test_an_amount_changed_in_the_bundle_is_named(exported: Exported) -> None:
    bundle = exported.copy("amount")
    lines = lines_of(bundle)
    k = 14  # member-2 redeems 90 at shop-1
    entry = decode_entry(lines[k])
    posting = entry.draft.postings[0]
    bigger = replace(entry.draft, postings=(replace(posting, amount_minutes=600),))
    lines[k] = encode_entry(entry.community, k, entry.time, bigger, entry.prev)
    write_lines(bundle, lines)

    report = verify(exported, bundle)

    chain = next(f for f in report.findings if f.check == Check.HASH_CHAIN_BROKEN)
    assert (chain.seq, chain.detail["previous_seq"]) == (k + 1, k)
    root = next(f for f in report.findings if f.check == Check.CHECKPOINT_ROOT_MISMATCH)
    assert int(root.detail["first_seq"]) <= k <= int(root.detail["size"]) - 1
    changed = {f.detail["account"] for f in report.findings if f.check == Check.BALANCE_MISMATCH}
    assert changed == {posting.payer, posting.payee}


async def test_a_deleted_entry_is_named(exported: Exported) -> None:
    bundle = exported.copy("deleted")
    lines = lines_of(bundle)
    del lines[10]
    write_lines(bundle, lines)

    report = verify(exported, bundle)

    gap = next(f for f in report.findings if f.check == Check.SEQ_OUT_OF_ORDER)
    assert (gap.seq, gap.detail["expected_seq"], gap.detail["found_seq"]) == (10, 10, 11)
    assert (10, Check.HASH_CHAIN_BROKEN) in named(report)


async def test_two_swapped_entries_are_named(exported: Exported) -> None:
    bundle = exported.copy("swapped")
    lines = lines_of(bundle)
    lines[11], lines[12] = lines[12], lines[11]
    write_lines(bundle, lines)

    report = verify(exported, bundle)

    order = [f for f in report.findings if f.check == Check.SEQ_OUT_OF_ORDER]
    assert order[0].seq == 11 and order[0].detail["found_seq"] == 12
    assert {11, 12} <= {f.seq for f in report.findings if f.check == Check.HASH_CHAIN_BROKEN}


async def test_a_forged_entry_with_recomputed_hashes_is_named(exported: Exported) -> None:
    bundle = exported.copy("forged")
    entries = [decode_entry(line) for line in lines_of(bundle)]
    k = 9
    forged = Draft("gift-1", EntryKind.EARN, "coordinator-1", (Posting("org-1", "member-1", 60),))
    entries.insert(k, replace(entries[k], draft=forged))
    entries = [replace(e, seq=n) for n, e in enumerate(entries)]
    write_lines(bundle, rechain(entries))

    report = verify(exported, bundle)

    roots = [f for f in report.findings if f.check == Check.CHECKPOINT_ROOT_MISMATCH]
    assert roots and int(roots[0].detail["first_seq"]) <= k <= int(roots[0].detail["size"]) - 1
    assert not any(f.check == Check.HASH_CHAIN_BROKEN for f in report.findings)
    unsigned = next(f for f in report.findings if f.check == Check.HEAD_SIZE_MISMATCH)
    assert unsigned.seq == len(entries) - 1
    assert {f.detail["account"] for f in report.findings if f.check == Check.BALANCE_MISMATCH} == {
        "org-1",
        "member-1",
    }


async def test_a_truncated_tail_with_an_older_checkpoint_is_named(exported: Exported) -> None:
    bundle = exported.copy("truncated")
    trusted = (exported.bundle / "checkpoint").read_text()
    sizes = checkpoint_sizes(bundle)
    older = sizes[-3]
    write_lines(bundle, lines_of(bundle)[:older])
    notes = kept_notes(bundle)
    keep_notes(bundle, [notes[size] for size in sizes[:-2]])
    (bundle / "checkpoint").write_text(notes[older])

    lazy = verify(exported, bundle)
    _consistent_tail(bundle, exported)
    careful = verify(exported, bundle)
    caught = verify(exported, bundle, trusted=trusted)

    assert Check.BALANCES_SIZE_MISMATCH in {f.check for f in lazy.findings}
    assert careful.findings == ()  # without an earlier checkpoint, a cut is invisible
    rollback = next(f for f in caught.findings if f.check == Check.TRUSTED_CHECKPOINT_BEYOND_END)
    assert rollback.seq == older
    assert rollback.detail["size"] == sizes[-1]


def _consistent_tail(bundle: Path, exported: Exported) -> None:
    """What a careful forger does after a cut: balances and manifest to match."""
    lines = lines_of(bundle)
    replay = Audit(exported.ledger.verifier, retain=correction_targets(lines))
    for line in lines:
        replay.feed(line)
    balances = {k: a.balance_minutes for k, a in replay.state.accounts.items()}
    (bundle / "balances.json").write_text(json.dumps({"size": len(lines), "balances": balances}))
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest.update(size=len(lines), root=b64(replay.root()))
    (bundle / "manifest.json").write_text(json.dumps(manifest))


async def test_a_checkpoint_signed_by_another_key_is_named(exported: Exported) -> None:
    bundle = exported.copy("stranger")
    head = open_checkpoint((bundle / "checkpoint").read_text(), exported.ledger.verifier)
    stranger = sign_checkpoint(head, generate_signer(head.origin))
    (bundle / "checkpoint").write_text(stranger)

    report = verify(exported, bundle)

    invalid = next(f for f in report.findings if f.check == Check.CHECKPOINT_INVALID)
    assert (invalid.detail["checkpoint"], invalid.detail["reason"]) == (
        "checkpoint",
        "unverified_note",
    )


async def test_two_checkpoints_of_one_size_with_different_roots_are_named_a_fork(
    exported: Exported,
) -> None:
    bundle = exported.copy("fork")
    size = checkpoint_sizes(bundle)[-2]
    entries = [decode_entry(line) for line in lines_of(bundle)[:size]]
    entries[5] = replace(entries[5], draft=replace(entries[5].draft, memo="andere geschiedenis"))
    frontier = Frontier.empty()
    for line in rechain(entries):
        frontier.append(leaf_hash(line))
    origin = open_checkpoint((bundle / "checkpoint").read_text(), exported.ledger.verifier).origin
    other = sign_checkpoint(Checkpoint(origin, size, frontier.root()), exported.signer)
    notes = kept_notes(bundle)
    at = sorted(notes).index(size) + 1
    ordered = [notes[s] for s in sorted(notes)]
    keep_notes(bundle, [*ordered[:at], other, *ordered[at:]])

    report = verify(exported, bundle)

    fork = next(f for f in report.findings if f.check == Check.FORK)
    assert (fork.seq, fork.detail["size"]) == (size - 1, size)
    assert f"checkpoints.txt note {at + 1}" in str(fork.detail["checkpoints"])


async def test_a_history_rewritten_after_a_trusted_checkpoint_is_named(exported: Exported) -> None:
    bundle = exported.copy("rewritten")
    sizes = checkpoint_sizes(bundle)
    trusted_size = sizes[-2]
    trusted = kept_notes(bundle)[trusted_size]
    entries = [decode_entry(line) for line in lines_of(bundle)]
    entries[7] = replace(entries[7], draft=replace(entries[7].draft, memo="herschreven"))
    lines = rechain(entries)
    write_lines(bundle, lines)
    origin = open_checkpoint(trusted, exported.ledger.verifier).origin
    resign(bundle, lines, exported.signer, origin)

    without = verify(exported, bundle)
    report = verify(exported, bundle, trusted=trusted)

    assert without.findings == ()  # the operator's key re-signed it all
    mismatch = next(f for f in report.findings if f.check == Check.TRUSTED_CHECKPOINT_MISMATCH)
    assert (mismatch.seq, mismatch.detail["size"]) == (trusted_size - 1, trusted_size)
    assert (trusted_size - 1, Check.FORK) in named(report)


async def test_a_partial_refund_raised_beyond_what_remains_is_named_even_when_resigned(
    exported: Exported,
) -> None:
    bundle = exported.copy("over-refund")
    entries = [decode_entry(line) for line in lines_of(bundle)]
    k = len(entries) - 1  # the second refund: 30 of the 40 the first refund left
    refund = entries[k].draft
    assert refund.kind is EntryKind.CORRECT and refund.postings[0].amount_minutes == 30
    raised = (replace(refund.postings[0], amount_minutes=41),)
    entries[k] = replace(entries[k], draft=replace(refund, postings=raised))
    lines = rechain(entries)
    write_lines(bundle, lines)
    origin = open_checkpoint((bundle / "checkpoint").read_text(), exported.ledger.verifier).origin
    resign(bundle, lines, exported.signer, origin)

    report = verify(exported, bundle)

    over = next(f for f in report.findings if f.check == Rejection.CORRECTION_EXCEEDS_ORIGINAL)
    assert (over.seq, over.detail["corrects"]) == (k, refund.corrects)
    assert (over.detail["original_minutes"], over.detail["remaining_minutes"]) == (60, 40)
    assert {f.check for f in report.findings} == {
        Rejection.CORRECTION_EXCEEDS_ORIGINAL,
        Check.BALANCE_MISMATCH,  # the claimed balances are those of the refund of 30
    }


async def test_a_balance_edited_in_the_database_cache_is_named(exported: Exported) -> None:
    async with exported.store.engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE accounts SET balance_minutes = balance_minutes + 60 "
                "WHERE community = :c AND id = :id"
            ),
            {"c": COMMUNITY, "id": "member-2"},
        )

    report, _ = await audit_store(exported.store, COMMUNITY, exported.ledger.verifier)
    again = exported.tmp / "after-edit"
    await export_bundle(exported.store, COMMUNITY, again, exported.ledger.verifier)
    offline = verify(exported, again)

    for found in (report, offline):
        mismatch = next(f for f in found.findings if f.check == Check.BALANCE_MISMATCH)
        assert mismatch.detail["account"] == "member-2"
        replayed = int(mismatch.detail["replayed_minutes"])
        assert mismatch.detail["claimed_minutes"] == replayed + 60
        assert Check.BALANCES_DO_NOT_SUM_TO_ZERO in {f.check for f in found.findings}
