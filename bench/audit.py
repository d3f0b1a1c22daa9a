"""Offline verification speed: a 1,000,000-entry bundle through ``python -m ledger.audit.verify``.

Generates a realistic bundle directly with the pure functions (canonical bytes,
SHA-256 leaves, Merkle frontier, a signed checkpoint every 10,000 entries), not
through a database: a community of 1,000 members, 40 shops and 20
organisations earning, transferring, redeeming, settling and correcting over a
year. Then verifies it in a subprocess (so peak memory is the verifier's own),
once with ``--jobs 1`` (one process: the reference) and once as the verifier
chooses (worker processes on a bundle this size), and, in the same run, times
plain SHA-256 of the same entries file, the floor for anything that reads
every byte.

Targets: >= 100,000 entries/s and peak RSS < 300 MB.

Usage: python bench/audit.py [--entries N] [--keep DIR]
The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import machine

from ledger.audit.audit import Audit
from ledger.audit.bundle import BundleWriter, Manifest
from ledger.audit.findings import b64
from ledger.audit.scan import correction_targets, scan_lines
from ledger.canonical import ZERO_HASH, decode_entry, encode_entry, scan_plain
from ledger.checkpoint import Checkpoint, origin_for, sign_checkpoint
from ledger.clock import format_time
from ledger.merkle import Frontier, leaf_hash
from ledger.model import AccountSpec, AccountType, Draft, EntryKind, Posting, Settings
from ledger.note import NoteSigner, NoteVerifier, generate_signer
from ledger.rules import apply, check_state
from ledger.shape import check_shape

COMMUNITY = "bench"
HOST = "buurtmunt.bench"
MEMBERS, SHOPS, ORGANISATIONS = 1_000, 40, 20
CHECKPOINT_EVERY = 10_000
TARGET_RATE = 100_000
TARGET_RSS_MB = 300
MEMOS = ("", "", "", "boodschappen gedaan", "tuinieren bij de buren", "taalcafé", "bingo")


class Generator:
    """Writes a valid journal: every entry passes the ledger's rules."""

    def __init__(self, signer: NoteSigner, seed: int) -> None:
        self.random = random.Random(seed)
        self.signer = signer
        self.origin = origin_for(HOST, COMMUNITY)
        self.frontier = Frontier.empty()
        self.prev = ZERO_HASH
        self.time = datetime(2026, 1, 1, tzinfo=UTC)
        self.balances: dict[str, int] = {}
        self.members = [f"m{n:04d}" for n in range(MEMBERS)]
        self.shops = [f"shop-{n:02d}" for n in range(SHOPS)]
        self.orgs = [f"org-{n:02d}" for n in range(ORGANISATIONS)]
        self.earns: list[tuple[int, str, str, int]] = []  # seq, org, member, minutes
        self.checkpoints: list[tuple[int, str]] = []

    def append(self, draft: Draft) -> bytes:
        seq = self.frontier.size
        data = encode_entry(COMMUNITY, seq, format_time(self.time), draft, self.prev)
        self.prev = leaf_hash(data)
        self.frontier.append(self.prev)
        for posting in draft.postings:
            self.balances[posting.payer] -= posting.amount_minutes
            self.balances[posting.payee] += posting.amount_minutes
        if self.frontier.size % CHECKPOINT_EVERY == 0:
            self.sign()
        return data

    def sign(self) -> None:
        size = self.frontier.size
        note = sign_checkpoint(Checkpoint(self.origin, size, self.frontier.root()), self.signer)
        self.checkpoints.append((size, note))

    def opening(self) -> list[bytes]:
        specs = [AccountSpec("community", AccountType.COMMUNITY)]
        specs += [AccountSpec(o, AccountType.ORGANISATION, None, 50_000_000) for o in self.orgs]
        specs += [AccountSpec(m, AccountType.MEMBER) for m in self.members]
        specs += [AccountSpec(s, AccountType.SHOP) for s in self.shops]
        lines = []
        for n, spec in enumerate(specs):
            self.balances[spec.id] = 0
            lines.append(self.append(Draft(f"open-{n}", EntryKind.OPEN, "admin", account=spec)))
        settings = Settings(members_may_transfer=True, member_earning_cap_minutes_per_month=None)
        lines.append(
            self.append(Draft("configure-0", EntryKind.CONFIGURE, "admin", settings=settings))
        )
        return lines

    def next(self, n: int) -> bytes:
        self.time += timedelta(seconds=self.random.randint(1, 60))
        pick = self.random.random()
        if pick < 0.01 and self.earns:
            draft = self._correction(n)
            if draft is not None:
                return self.append(draft)
        if pick < 0.40:
            return self.append(self._earn(n))
        member = self.random.choice(self.members)
        balance = self.balances[member]
        if balance < 15:
            return self.append(self._earn(n, member))
        minutes = self.random.randint(1, min(balance, 240) // 15) * 15
        memo = self.random.choice(MEMOS)
        if pick < 0.65:
            payee = self.random.choice(self.members)
            if payee != member:
                posting = Posting(member, payee, minutes)
                return self.append(Draft(f"t-{n}", EntryKind.TRANSFER, member, (posting,), memo))
        if pick < 0.95:
            shop = self.random.choice(self.shops)
            posting = Posting(member, shop, minutes)
            meta = (("till", f"till-{self.random.randint(1, 3)}"),)
            return self.append(
                Draft(f"r-{n}", EntryKind.REDEEM, member, (posting,), memo, "", meta)
            )
        shop = max(self.shops, key=self.balances.__getitem__)
        if self.balances[shop] > 0:
            posting = Posting(shop, "community", self.balances[shop])
            return self.append(Draft(f"s-{n}", EntryKind.SETTLE, "admin", (posting,)))
        return self.append(self._earn(n))

    def _earn(self, n: int, member: str | None = None) -> Draft:
        org = self.random.choice(self.orgs)
        member = member or self.random.choice(self.members)
        minutes = self.random.choice((15, 30, 60, 90, 120, 180))
        self.earns.append((self.frontier.size, org, member, minutes))
        if len(self.earns) > 64:
            del self.earns[0]
        memo = self.random.choice(MEMOS)
        posting = Posting(org, member, minutes)
        return Draft(f"e-{n}", EntryKind.EARN, "coordinator", (posting,), memo, f"shift-{n}")

    def _correction(self, n: int) -> Draft | None:
        seq, org, member, minutes = self.earns.pop(self.random.randrange(len(self.earns)))
        amount = min(minutes, 15)
        if self.balances[member] < amount:
            return None
        posting = Posting(member, org, amount)
        return Draft(f"c-{n}", EntryKind.CORRECT, "admin", (posting,), "te veel uren", corrects=seq)


def generate(directory: Path, entries: int, signer: NoteSigner) -> int:
    generator = Generator(signer, seed=2026)
    with BundleWriter(directory) as writer:
        writer.add_entries(generator.opening())
        chunk: list[bytes] = []
        for n in range(generator.frontier.size, entries):
            chunk.append(generator.next(n))
            if len(chunk) >= 10_000:
                writer.add_entries(chunk)
                chunk.clear()
        writer.add_entries(chunk)
        if not generator.checkpoints or generator.checkpoints[-1][0] != generator.frontier.size:
            generator.sign()
        for size, note in generator.checkpoints:
            writer.add_checkpoint(size, note)
        size = generator.frontier.size
        manifest = Manifest(
            COMMUNITY,
            generator.origin,
            size,
            b64(generator.frontier.root()),
            format_time(datetime.now(UTC)),
        )
        writer.commit(
            manifest=manifest,
            head_note=generator.checkpoints[-1][1],
            verifier_key=signer.verifier().key_string(),
            balances=generator.balances,
        )
    return (directory / "entries.jsonl").stat().st_size


def sha256_seconds(path: Path) -> float:
    start = time.perf_counter()
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while block := file.read(1 << 20):
            digest.update(block)
    return time.perf_counter() - start


def breakdown(directory: Path, key: str, sample: int = 50_000) -> dict[str, float]:
    """Microseconds per entry of each stage, in this process, over the first lines."""
    lines = []
    with open(directory / "entries.jsonl", "rb") as file:
        for line in file:
            lines.append(line[:-1])
            if len(lines) >= sample:
                break
    verifier = NoteVerifier.from_key_string(key)
    figures: dict[str, float] = {}

    def timed(name: str, work: Callable[[], object]) -> object:
        start = time.perf_counter()
        result = work()
        figures[name] = (time.perf_counter() - start) / len(lines) * 1e6
        return result

    timed("common-line grammar only", lambda: [scan_plain(line) for line in lines])
    entries = timed("decode + canonical check", lambda: [decode_entry(line) for line in lines])
    assert isinstance(entries, list)
    timed("shape checks", lambda: [check_shape(e.draft) for e in entries])
    state = Audit(verifier, retain=correction_targets(lines)).state

    def rules() -> None:
        for entry in entries:
            check_state(state, entry.draft, entry.time[:7])
            apply(state, entry)

    timed("state checks + apply", rules)
    frontier = Frontier.empty()
    timed("leaf hash + tree", lambda: [frontier.append(leaf_hash(line)) for line in lines])
    audit = Audit(verifier, retain=correction_targets(lines))
    timed("Audit.feed, all of it", lambda: [audit.feed(line) for line in lines])
    assert not audit.findings
    # What verification does instead: the order-free part ahead (in worker
    # processes), then the ordered rest, which takes runs of lines in bulk.
    items = timed("scan_lines (workers)", lambda: scan_lines(lines, 0))
    assert isinstance(items, list)
    journal = b"".join(line + b"\n" for line in lines)
    in_runs = Audit(verifier, retain=correction_targets(lines))

    def feed_runs() -> None:
        for item in items:
            if isinstance(item, bytes):
                in_runs.feed(item)
            else:
                in_runs.feed_run(item, lambda offset, size: journal[offset : offset + size])

    timed("Audit.feed_run", feed_runs)
    assert not in_runs.findings and in_runs.root() == audit.root()
    return figures


def verify_in_subprocess(
    directory: Path, key: str, jobs: int | None = None
) -> tuple[float, float, int, str]:
    """Wall seconds, peak RSS in MB of the verifier, exit status, its output.

    ``jobs`` None lets the verifier choose (worker processes on a big bundle).
    Peak RSS is the largest sum, sampled every 20 ms, of the verifier's and its
    workers' resident sets, or the largest single process's if that is larger.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    more = [] if jobs is None else ["--jobs", str(jobs)]
    with tempfile.TemporaryFile("w+") as out:
        verifier = subprocess.Popen(
            [sys.executable, "-m", "ledger.audit.verify", str(directory), "--key", key, *more],
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
        peak_sum_kb = 0
        while verifier.poll() is None:
            peak_sum_kb = max(peak_sum_kb, tree_rss_kb(verifier.pid))
            time.sleep(0.02)
        seconds = time.perf_counter() - start
        out.seek(0)
        output = out.read()
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    assert peak_kb >= before
    return seconds, max(peak_kb, peak_sum_kb) / 1024, verifier.returncode, output


def tree_rss_kb(pid: int) -> int:
    """Resident set of a process and its children, in kB (0 once it has gone)."""
    total = 0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except (OSError, ValueError):
        return total
    return total + sum(tree_rss_kb(int(child)) for child in children)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="keep the bundle in this (new) directory")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="buurtmunt-bench-"))
    directory = args.keep or root / "bundle"
    try:
        signer = generate_signer(origin_for(HOST, COMMUNITY))
        start = time.perf_counter()
        size_bytes = generate(directory, args.entries, signer)
        generate_seconds = time.perf_counter() - start
        hash_seconds = sha256_seconds(directory / "entries.jsonl")
        key = signer.verifier().key_string()
        single_seconds, _, status, output = verify_in_subprocess(directory, key, jobs=1)
        if status != 0:
            print(output, file=sys.stderr)
            raise SystemExit(f"the generated bundle did not verify clean (exit {status})")
        seconds, peak_mb, status, output = verify_in_subprocess(directory, key)
        if status != 0:
            print(output, file=sys.stderr)
            raise SystemExit(f"the generated bundle did not verify clean (exit {status})")
        stages = breakdown(directory, key)
        report(
            args.entries,
            size_bytes,
            generate_seconds,
            hash_seconds,
            (single_seconds, seconds),
            peak_mb,
            stages,
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)


def report(
    entries: int,
    size_bytes: int,
    generate_s: float,
    hash_s: float,
    verify_seconds: tuple[float, float],
    peak: float,
    stages: dict[str, float],
) -> None:
    single_s, verify_s = verify_seconds
    rate = entries / verify_s
    single_rate = entries / single_s
    rows = [
        ("entries", f"{entries:,}", ""),
        ("bundle size", f"{size_bytes / 1e6:,.1f} MB", f"{size_bytes / entries:.0f} bytes/entry"),
        ("generate", f"{generate_s:.2f} s", "pure functions, no database"),
        ("sha256 of entries.jsonl", f"{hash_s:.3f} s", f"{size_bytes / hash_s / 1e6:,.0f} MB/s"),
        ("verify --jobs 1", f"{single_s:.2f} s", f"{single_rate:,.0f} entries/s, one process"),
        ("verify (subprocess)", f"{verify_s:.2f} s", f"{rate:,.0f} entries/s, default jobs"),
        ("target", f"{TARGET_RATE:,} entries/s", "met" if rate >= TARGET_RATE else "NOT met"),
        ("verify peak RSS", f"{peak:.0f} MB", "met" if peak < TARGET_RSS_MB else "NOT met"),
        ("verify / sha256", f"{verify_s / hash_s:.1f}x", ""),
    ]
    rows.append(("where the time goes", "us/entry", "in-process, first 50,000 entries"))
    rows += [(f"  {name}", f"{micros:.2f}", "") for name, micros in stages.items()]
    for name, value, note in rows:
        print(f"{name:<26} {value:>18}  {note}")
    print(
        json.dumps(
            {
                "bench": "audit",
                "entries": entries,
                "bundle_bytes": size_bytes,
                "generate_seconds": round(generate_s, 3),
                "sha256_seconds": round(hash_s, 4),
                "verify_seconds": round(verify_s, 3),
                "entries_per_second": round(rate),
                "single_process_seconds": round(single_s, 3),
                "single_process_entries_per_second": round(single_rate),
                "peak_rss_mb": round(peak, 1),
                "verify_to_sha256_ratio": round(verify_s / hash_s, 2),
                "target_entries_per_second": TARGET_RATE,
                "target_peak_rss_mb": TARGET_RSS_MB,
                "machine": machine.describe(),
                "stage_microseconds": {k: round(v, 2) for k, v in stages.items()},
            }
        )
    )


if __name__ == "__main__":
    main()
