"""Durable in-process appends per second: group commit vs the naive way, same run.

SQLite: the ledger's group-commit writer (canonical bytes, SHA-256 leaf, Merkle
frontier, a signed checkpoint per batch, WAL + synchronous=FULL) against a naive
baseline: stdlib sqlite3, one transaction per transfer, no hashing, same pragmas.

PostgreSQL: the same writer against ``pgbench`` TPC-B (16 clients, prepared,
durable) run by this script on the same server. Without ``pgbench`` (Debian:
apt-get install postgresql-client) this part is skipped, and the script says so.

Memory: resident set size measured at two journal lengths; it must not grow with
the journal beyond the account balances.

Usage: python bench/ledger_append.py [--transfers N] [--postgres URL|--no-postgres]
The last line printed is one JSON object with the figures and ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import machine

from api.app import tune_for_serving
from ledger.clock import SystemClock
from ledger.model import AccountSpec, AccountType, Draft, EntryKind, Posting, Rejected, Settings
from ledger.note import generate_signer
from ledger.service import Ledger
from ledger.sql import migrate
from ledger.sql.store import SqlStore

try:  # the event loop the server runs on (uvicorn picks uvloop when it is installed)
    from uvloop import run

    EVENT_LOOP = "uvloop"
except ImportError:  # pragma: no cover - uvloop is a dependency except on Windows
    from asyncio import run

    EVENT_LOOP = "asyncio"

ACCOUNTS = 1_000
CLIENTS = 4_096
COMMUNITY = "bench"


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def seed(ledger: Ledger) -> list[str]:
    members = [f"m{i:05d}" for i in range(ACCOUNTS)]
    drafts = [Draft(id="cfg", kind=EntryKind.CONFIGURE, actor="admin", settings=Settings())]
    drafts.append(
        Draft(
            id="open-org",
            kind=EntryKind.OPEN,
            actor="admin",
            account=AccountSpec("org", AccountType.ORGANISATION, None, 100_000_000),
        )
    )
    drafts += [
        Draft(
            id=f"open-{m}",
            kind=EntryKind.OPEN,
            actor="admin",
            account=AccountSpec(m, AccountType.MEMBER),
        )
        for m in members
    ]
    drafts += [
        Draft(
            id=f"earn-{m}",
            kind=EntryKind.EARN,
            actor="coord",
            postings=(Posting("org", m, 60_000),),
        )
        for m in members
    ]
    for draft in drafts[:2]:
        await ledger.append(COMMUNITY, draft)
    results = await asyncio.gather(*(ledger.append(COMMUNITY, d) for d in drafts[2:]))
    assert not any(isinstance(r, Rejected) for r in results), "seeding failed"
    return members


async def drive(ledger: Ledger, members: list[str], count: int, tag: str) -> float:
    """Append ``count`` transfers from CLIENTS concurrent callers; return transfers/s."""
    next_index = 0
    rejected = 0

    async def client() -> None:
        nonlocal next_index, rejected
        while next_index < count:
            i = next_index
            next_index += 1
            payer = members[i % len(members)]
            payee = members[(i * 7 + 1) % len(members)]
            if payee == payer:
                payee = members[(i + 1) % len(members)]
            draft = Draft(
                id=f"{tag}-{i}",
                kind=EntryKind.TRANSFER,
                actor=payer,
                postings=(Posting(payer, payee, 1 + i % 30),),
            )
            if isinstance(await ledger.append(COMMUNITY, draft), Rejected):
                rejected += 1

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(CLIENTS)))
    elapsed = time.perf_counter() - started
    assert rejected == 0, f"{rejected} transfers were rejected"
    return count / elapsed


async def ledger_run(url: str, transfers: int) -> dict[str, float]:
    store = SqlStore.from_url(url)
    await migrate.upgrade(store.engine)
    ledger = Ledger(store, generate_signer("bench.example"), "bench.example", SystemClock())
    members = await seed(ledger)
    # What the server does once it has started: objects that live as long as the
    # process are kept out of every full collection.
    tune_for_serving()
    await drive(ledger, members, min(transfers // 10, 5_000), "warm")
    rss_before = rss_bytes()
    first = await drive(ledger, members, transfers // 2, "a")
    rss_middle = rss_bytes()
    second = await drive(ledger, members, transfers - transfers // 2, "b")
    rss_after = rss_bytes()
    head = await store.head(COMMUNITY)
    checkpoints = len(await store.checkpoints(COMMUNITY, 0, 10**9))
    balances = sum(r.balance_minutes for r in await store.accounts(COMMUNITY))
    assert balances == 0, "balances must sum to zero"
    await ledger.close()
    await store.close()
    return {
        "transfers_per_s": round(
            transfers / (transfers / 2 / first + (transfers - transfers // 2) / second)
        ),
        "entries": head.size,
        "mean_batch": round(head.size / max(checkpoints, 1), 1),
        "rss_growth_first_half_mb": round((rss_middle - rss_before) / 2**20, 1),
        "rss_growth_second_half_mb": round((rss_after - rss_middle) / 2**20, 1),
    }


def naive_sqlite(path: Path, seconds: float = 3.0) -> float:
    """One stdlib sqlite3 transaction per transfer: two balance updates and an insert."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE balances (id TEXT PRIMARY KEY, minutes INTEGER NOT NULL)")
    db.execute(
        "CREATE TABLE transfers (id INTEGER PRIMARY KEY, payer TEXT, payee TEXT, minutes INTEGER)"
    )
    db.executemany(
        "INSERT INTO balances VALUES (?, 60000)", [(f"m{i:05d}",) for i in range(ACCOUNTS)]
    )
    done = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        payer, payee = f"m{done % ACCOUNTS:05d}", f"m{(done * 7 + 1) % ACCOUNTS:05d}"
        db.execute("BEGIN IMMEDIATE")
        db.execute("UPDATE balances SET minutes = minutes - 1 WHERE id = ?", (payer,))
        db.execute("UPDATE balances SET minutes = minutes + 1 WHERE id = ?", (payee,))
        db.execute("INSERT INTO transfers (payer, payee, minutes) VALUES (?, ?, 1)", (payer, payee))
        db.execute("COMMIT")
        done += 1
    elapsed = time.perf_counter() - started
    db.close()
    return done / elapsed


async def fresh_postgres(url: str, name: str) -> str:
    import asyncpg

    admin = await asyncpg.connect(url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return urlsplit(url)._replace(path="/" + name).geturl()


def pgbench_tps(url: str, seconds: int = 10) -> float:
    parts = urlsplit(url)
    env = dict(
        os.environ,
        PGHOST=parts.hostname or "127.0.0.1",
        PGPORT=str(parts.port or 5432),
        PGUSER=parts.username or "postgres",
        PGDATABASE=parts.path.lstrip("/"),
    )
    subprocess.run(["pgbench", "-i", "-q", "-s", "16"], env=env, check=True, capture_output=True)
    out = subprocess.run(
        ["pgbench", "-c", "16", "-j", "2", "-M", "prepared", "-T", str(seconds)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    match = re.search(r"tps = ([0-9.]+)", out)
    assert match, out
    return float(match.group(1))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transfers", type=int, default=100_000)
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "BUURTMUNT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    figures: dict[str, object] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "event_loop": EVENT_LOOP,
        "machine": machine.describe(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = await ledger_run(f"sqlite:///{tmp}/ledger.db", args.transfers)
        naive = naive_sqlite(Path(tmp) / "naive.db")
    figures["sqlite"] = sqlite | {
        "naive_baseline_per_s": round(naive),
        "ratio_to_naive": round(sqlite["transfers_per_s"] / naive, 2),
    }
    rows = [
        ("SQLite group commit", sqlite["transfers_per_s"], "transfers/s"),
        ("SQLite naive, 1 tx per transfer", round(naive), "transfers/s"),
    ]
    if not args.no_postgres and shutil.which("pgbench"):
        pg_url = await fresh_postgres(args.postgres, "bm_bench_ledger")
        pg = await ledger_run(pg_url, args.transfers)
        tps = pgbench_tps(await fresh_postgres(args.postgres, "bm_bench_pgbench"))
        figures["postgres"] = pg | {
            "pgbench_tps": round(tps),
            "ratio_to_pgbench": round(pg["transfers_per_s"] / tps, 2),
        }
        rows += [
            ("PostgreSQL group commit", pg["transfers_per_s"], "transfers/s"),
            ("PostgreSQL pgbench TPC-B, 16 clients", round(tps), "tps"),
        ]
    elif not args.no_postgres:
        figures["postgres_not_run"] = "needs pgbench (apt-get install postgresql-client)"
        print(f"PostgreSQL part not run: {figures['postgres_not_run']}", file=sys.stderr)
    print(f"event loop: {EVENT_LOOP}; machine: {figures['machine']}")
    print(f"{'what':<40} {'figure':>12}  unit")
    for what, figure, unit in rows:
        print(f"{what:<40} {figure:>12,}  {unit}")
    for engine in ("sqlite", "postgres"):
        if engine in figures:
            f = figures[engine]
            assert isinstance(f, dict)
            print(
                f"{engine}: mean batch {f['mean_batch']}, RSS growth "
                f"{f['rss_growth_first_half_mb']} MB then {f['rss_growth_second_half_mb']} MB"
            )
    print(json.dumps(figures, sort_keys=True))


if __name__ == "__main__":
    run(main())
