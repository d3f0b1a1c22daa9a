"""The checkpoint cadence: a journal appended one entry at a time against the same in bulk.

Were every batch to sign a checkpoint, a journal written one entry at a time
would hold one checkpoint per entry, and its export, verify and audit would pay
for each. Here the same transfers (same drafts, same order) are appended
to two SQLite journals: one draft per batch, each append awaited before the
next (a neighbourhood's pace), and in full batches (BATCH_SIZE_MAX drafts
waiting at once). Both use the deployment's default cadence (ledger.cadence).
Then each journal is exported, the bundle verified (``verify_bundle``, as
``buurtmunt verify`` does) and the live database audited (``audit_store``, as
``buurtmunt audit`` does), alternating between the two journals, best of
``--rounds``; sizes of the bundles and the checkpoints held are printed side
by side. Targets: export, verify and audit within 1.2x, bundle within 1.5x.

Usage: python bench/checkpoint_cadence.py [--entries 100000] [--rounds 2]
The last line printed is one JSON object with the figures and ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import machine

from api.audit_commands import audit_store
from ledger import limits
from ledger.audit.bundle import Bundle
from ledger.audit.export import export_bundle
from ledger.audit.verify import verify_bundle
from ledger.cadence import Cadence
from ledger.clock import SystemClock
from ledger.model import AccountSpec, AccountType, Draft, EntryKind, Posting, Rejected, Settings
from ledger.note import NoteSigner, generate_signer
from ledger.service import Ledger
from ledger.sql import migrate
from ledger.sql.store import SqlStore

COMMUNITY = "bench"
HOST = "bench.example"
MEMBERS = 200
TARGET_TIME = 1.2
TARGET_SIZE = 1.5


def drafts(entries: int) -> list[Draft]:
    """A community of MEMBERS members who earn, then transfers to ``entries`` in all."""
    members = [f"m{i:04d}" for i in range(MEMBERS)]
    found = [Draft(id="cfg", kind=EntryKind.CONFIGURE, actor="admin", settings=Settings())]
    org = AccountSpec("org", AccountType.ORGANISATION, None, 100_000_000)
    found.append(Draft(id="open-org", kind=EntryKind.OPEN, actor="admin", account=org))
    for m in members:
        spec = AccountSpec(m, AccountType.MEMBER)
        found.append(Draft(id=f"open-{m}", kind=EntryKind.OPEN, actor="admin", account=spec))
    for m in members:
        posting = (Posting("org", m, 60_000),)
        found.append(Draft(id=f"earn-{m}", kind=EntryKind.EARN, actor="coord", postings=posting))
    i = 0
    while len(found) < entries:
        payer, payee = members[i % MEMBERS], members[(i * 7 + 1) % MEMBERS]
        if payee == payer:
            payee = members[(i + 1) % MEMBERS]
        posting = (Posting(payer, payee, 1 + i % 30),)
        found.append(Draft(id=f"t-{i}", kind=EntryKind.TRANSFER, actor=payer, postings=posting))
        i += 1
    return found[:entries]


async def append(url: str, signer: NoteSigner, all_drafts: list[Draft], bulk: bool) -> float:
    """Append ``all_drafts`` to a new journal at ``url``; the seconds it took."""
    store = SqlStore.from_url(url)
    await migrate.upgrade(store.engine)
    ledger = Ledger(store, signer, HOST, SystemClock(), cadence=Cadence())
    started = time.perf_counter()
    if bulk:
        step = limits.BATCH_SIZE_MAX
        for at in range(0, len(all_drafts), step):
            chunk = all_drafts[at : at + step]
            results = await asyncio.gather(*(ledger.append(COMMUNITY, d) for d in chunk))
            assert not any(isinstance(r, Rejected) for r in results), "a draft was rejected"
    else:
        for draft in all_drafts:
            result = await ledger.append(COMMUNITY, draft)
            assert not isinstance(result, Rejected), result
    await ledger.close()  # signs the head
    seconds = time.perf_counter() - started
    await store.close()
    return seconds


def bundle_bytes(directory: Path) -> tuple[int, int]:
    """Bytes and files of a bundle directory."""
    total = files = 0
    for root, _, names in os.walk(directory):
        for name in names:
            total += os.path.getsize(os.path.join(root, name))
            files += 1
    return total, files


async def measure(url: str, signer: NoteSigner, work: Path, label: str) -> dict[str, float]:
    """Export, verify and audit one journal once; seconds and sizes."""
    store = SqlStore.from_url(url)
    verifier = signer.verifier().named(f"{HOST}/{COMMUNITY}")
    target = work / f"bundle-{label}"
    shutil.rmtree(target, ignore_errors=True)
    started = time.perf_counter()
    exported = await export_bundle(store, COMMUNITY, target, verifier)
    export_s = time.perf_counter() - started
    started = time.perf_counter()
    report = verify_bundle(Bundle(target), verifier)
    verify_s = time.perf_counter() - started
    assert report.clean, report.findings[:3]
    started = time.perf_counter()
    audited, _ = await audit_store(store, COMMUNITY, verifier)
    audit_s = time.perf_counter() - started
    assert audited.clean, audited.findings[:3]
    stored = len(await store.checkpoints(COMMUNITY, 0, limits.BUNDLE_CHECKPOINTS_MAX))
    await store.close()
    size, files = bundle_bytes(target)
    return {
        "export_s": export_s,
        "verify_s": verify_s,
        "audit_s": audit_s,
        "bundle_bytes": size,
        "bundle_files": files,
        "kept_checkpoints": exported.checkpoints,
        "stored_checkpoints": stored,
        "entries": exported.size,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-cadence-"))
    signer = generate_signer(HOST)
    all_drafts = drafts(args.entries)
    urls = {m: f"sqlite+aiosqlite:///{work / m}.db" for m in ("single", "bulk")}
    figures: dict[str, object] = {"machine": machine.describe(), "entries": args.entries}
    try:
        for mode, url in urls.items():
            seconds = asyncio.run(append(url, signer, all_drafts, bulk=mode == "bulk"))
            figures[f"{mode}_append_per_s"] = round(args.entries / seconds)
            print(f"appended {args.entries:,} {mode}: {args.entries / seconds:,.0f}/s", flush=True)
        best: dict[str, dict[str, float]] = {}
        for _ in range(args.rounds):  # alternating, best of the rounds
            for mode, url in urls.items():
                run = asyncio.run(measure(url, signer, work, mode))
                kept = best.setdefault(mode, run)
                for key in ("export_s", "verify_s", "audit_s"):
                    kept[key] = min(kept[key], run[key])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rows = [
        ("export", "export_s", "s"),
        ("verify", "verify_s", "s"),
        ("audit (database)", "audit_s", "s"),
        ("bundle size", "bundle_bytes", "bytes"),
        ("bundle files", "bundle_files", ""),
        ("checkpoints kept in the bundle", "kept_checkpoints", ""),
        ("checkpoints signed (database)", "stored_checkpoints", ""),
    ]
    print(f"{'':<32} {'one at a time':>14} {'in bulk':>14} {'ratio':>7}")
    for name, key, unit in rows:
        single, bulk = best["single"][key], best["bulk"][key]
        ratio = single / bulk if bulk else float("nan")
        print(f"{name:<32} {single:>14,.2f} {bulk:>14,.2f} {ratio:>7.2f}  {unit}")
        figures[f"single_{key}"] = round(single, 3)
        figures[f"bulk_{key}"] = round(bulk, 3)
        figures[f"{key}_ratio"] = round(ratio, 2)
    figures["time_targets_met"] = all(
        figures[f"{key}_ratio"] <= TARGET_TIME  # type: ignore[operator]
        for key in ("export_s", "verify_s", "audit_s")
    )
    figures["size_target_met"] = figures["bundle_bytes_ratio"] <= TARGET_SIZE  # type: ignore[operator]
    figures["load_average"] = os.getloadavg()[0]
    print(json.dumps(figures, sort_keys=True))


if __name__ == "__main__":
    main()
