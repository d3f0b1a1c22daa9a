"""Durable in-process appends per second: group commit vs the naive way, same run.

SQLite: the ledger's group-commit writer (canonical bytes, SHA-256 leaf, Merkle
frontier, a signed checkpoint per batch (EVERY_BATCH), WAL + synchronous=FULL) against a naive
baseline: stdlib sqlite3, one transaction per transfer, no hashing, same pragmas.

PostgreSQL: the same writer against ``pgbench`` TPC-B (16 clients, prepared,
durable) run by this script on the same server. Without ``pgbench`` (Debian:
apt-get install postgresql-client) this part is skipped, and the script says so.

Growth: the transfers are appended in ``--segments`` equal parts and the rate of
each is printed as the journal grows; the last segment must run at least
GROWTH_TARGET of the first. ``--ids`` chooses how drafts are named: ``api`` as
the API names them, a time-ordered id (``ledger.ids``) carrying an
Idempotency-Key scoped to the caller (``api.idempotency.scoped_key``), which
the batch checks and maps in ``entry_keys``; the key is a UUIDv7, as the pages
send (``--keys uuid7``), or a random UUID, as a client may (``--keys uuid4``);
``random`` the scoped random key itself as the id and no key (how the API named
entries before keys were mapped); ``sequential`` ``a-123`` and no key. On
PostgreSQL autovacuum is off for the journal's tables, so the appends run with
planner statistics never gathered (checked at the end).

Against a fresh journal: the first and the last segment lie minutes apart, and
on a shared machine what runs beside them moves each more than the journal's
size does. So after the segments the grown journal takes turns with a fresh one
(another database of the same kind, seeded alike) in the same process:
``--rounds`` turns each of ``transfers / segments / rounds`` transfers, so
that the fresh journal grows through what the first segment covered. The grown
journal's rate over the fresh one's must be at least GROWTH_TARGET too.

Memory: resident set size measured at two journal lengths; it must not grow with
the journal beyond the account balances.

Usage: python bench/ledger_append.py [--transfers N] [--segments 10] [--rounds 5]
       [--ids api|random|sequential] [--keys uuid7|uuid4]
       [--postgres URL|--no-postgres] [--no-pgbench]
The last line printed is one JSON object with the figures and ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import machine

from api.app import tune_for_serving
from api.idempotency import scoped_key
from ledger.cadence import EVERY_BATCH
from ledger.clock import SystemClock
from ledger.ids import new_entry_id, new_uuid7
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
GROWTH_TARGET = 0.9
JOURNAL_TABLES = (
    "journal_entries", "rejections", "entry_keys", "accounts", "monthly_totals", "checkpoints",
)  # fmt: skip
Name = tuple[str, str | None]  # a draft's id and key


def id_maker(shape: str, keys: str = "uuid7") -> Callable[[str, str, int], Name]:
    """``(payer, tag, i) -> (entry id, key)`` for ``--ids`` and ``--keys``."""
    new_key = {"uuid7": new_uuid7, "uuid4": lambda: str(uuid.uuid4())}[keys]
    credentials = {}

    def credential(payer: str) -> str:
        # One API credential per member, as if each member's phone sent its own.
        if payer not in credentials:
            credentials[payer] = "crd_" + hashlib.sha256(payer.encode()).hexdigest()[:20]
        return credentials[payer]

    def api(payer: str, tag: str, i: int) -> Name:
        return new_entry_id(), scoped_key(credential(payer), new_key())

    def random(payer: str, tag: str, i: int) -> Name:
        return scoped_key(credential(payer), str(uuid.uuid4())), None

    def sequential(payer: str, tag: str, i: int) -> Name:
        return f"{tag}-{i}", None

    return {"api": api, "random": random, "sequential": sequential}[shape]


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


async def drive(
    ledger: Ledger,
    members: list[str],
    count: int,
    tag: str,
    make_id: Callable[[str, str, int], Name] | None = None,
) -> float:
    """Append ``count`` transfers from CLIENTS concurrent callers; return transfers/s."""
    make_id = make_id or id_maker("sequential")
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
            entry_id, key = make_id(payer, tag, i)
            draft = Draft(
                id=entry_id,
                kind=EntryKind.TRANSFER,
                actor=payer,
                postings=(Posting(payer, payee, 1 + i % 30),),
                key=key,
            )
            if isinstance(await ledger.append(COMMUNITY, draft), Rejected):
                rejected += 1

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(CLIENTS)))
    elapsed = time.perf_counter() - started
    assert rejected == 0, f"{rejected} transfers were rejected"
    return count / elapsed


async def without_statistics(store: SqlStore) -> None:
    """Autovacuum off for the journal's tables: the planner never gets statistics."""
    async with store.engine.begin() as conn:
        for table in JOURNAL_TABLES:
            await conn.exec_driver_sql(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")


async def analyzed_tables(store: SqlStore) -> int:
    """How many of the journal's tables have planner statistics on any column."""
    async with store.engine.connect() as conn:
        result = await conn.exec_driver_sql(
            "SELECT count(DISTINCT tablename) FROM pg_stats WHERE tablename = ANY($1)",
            (list(JOURNAL_TABLES),),
        )
        return int(result.scalar_one())


async def opened(url: str) -> tuple[SqlStore, Ledger, list[str]]:
    """A store at ``url`` (PostgreSQL: autovacuum off) and its ledger, seeded."""
    store = SqlStore.from_url(url)
    await migrate.upgrade(store.engine)
    if store.engine.dialect.name == "postgresql":
        await without_statistics(store)
    # Every batch signs, so the checkpoints count the batches (mean_batch).
    ledger = Ledger(
        store, generate_signer("bench.example"), "bench.example", SystemClock(),
        cadence=EVERY_BATCH,
    )  # fmt: skip
    return store, ledger, await seed(ledger)


def wal_checkpoint(url: str) -> float:
    """Seconds to checkpoint the WAL of the SQLite database at ``url`` (0 for others)."""
    if not url.startswith("sqlite:///"):
        return 0.0
    started = time.perf_counter()
    db = sqlite3.connect(url.removeprefix("sqlite:///"))
    try:
        db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    finally:
        db.close()
    return time.perf_counter() - started


async def alternated(
    grown: tuple[Ledger, list[str]],
    grown_url: str,
    fresh_url: str,
    count: int,
    rounds: int,
    make_id: Callable[[str, str, int], Name],
) -> dict[str, object]:
    """The grown journal against a fresh one, in the same minutes: ``rounds`` turns each,
    alternating, of ``count / rounds`` transfers, so that the fresh journal grows
    through what the first segment covered. What the machine does meanwhile falls on
    both alike, where the first and last segments lie minutes apart. After each turn
    that journal's SQLite WAL is checkpointed, its time counted in the turn's."""
    store, ledger, members = await opened(fresh_url)
    await drive(ledger, members, min(count, 5_000), "fresh-warm", make_id)  # as the grown one was
    each = max(1, count // rounds)
    seconds = {"grown": 0.0, "fresh": 0.0}
    urls = {"grown": grown_url, "fresh": fresh_url}
    turns: list[dict[str, float]] = []
    for turn in range(rounds):
        turns.append({})
        for name, (turn_ledger, turn_members) in (("grown", grown), ("fresh", (ledger, members))):
            rate = await drive(turn_ledger, turn_members, each, f"{name}{turn}", make_id)
            # Its WAL copied back now, on its own time: not during the other's turn.
            took = each / rate + await asyncio.to_thread(wal_checkpoint, urls[name])
            seconds[name] += took
            turns[-1][name] = round(each / took)
    fresh_entries = (await store.head(COMMUNITY)).size
    engine = store.engine.dialect.name
    await ledger.close()
    await store.close()
    grown_rate, fresh_rate = each * rounds / seconds["grown"], each * rounds / seconds["fresh"]
    print(
        f"  {engine} alternating with a fresh journal: {grown_rate:,.0f} against "
        f"{fresh_rate:,.0f} transfers/s ({grown_rate / fresh_rate:.2f}); turns, grown/fresh: "
        + ", ".join(f"{t['grown']:,}/{t['fresh']:,}" for t in turns),
        flush=True,
    )
    return {
        "rounds": rounds,
        "transfers_each": each * rounds,
        "grown_per_s": round(grown_rate),
        "fresh_per_s": round(fresh_rate),
        "fresh_entries_at_end": fresh_entries,
        "turns_per_s": turns,
        "grown_to_fresh": round(grown_rate / fresh_rate, 2),
        "met": grown_rate >= GROWTH_TARGET * fresh_rate,
    }


async def ledger_run(
    url: str,
    transfers: int,
    segments: int,
    ids: str,
    keys: str = "uuid7",
    fresh_url: str | None = None,
    rounds: int = 5,
) -> dict[str, object]:
    """The growth run at ``url``; with ``fresh_url``, then its journal against a fresh one
    there (``alternated``)."""
    store, ledger, members = await opened(url)
    postgres = store.engine.dialect.name == "postgresql"
    # What the server does once it has started: objects that live as long as the
    # process are kept out of every full collection.
    tune_for_serving()
    make_id = id_maker(ids, keys)
    await drive(ledger, members, min(transfers // 10, 5_000), "warm", make_id)
    rss = [rss_bytes()]
    rates: list[float] = []
    sizes: list[int] = []
    # This process's CPU per transfer (the writer, and SQLite's work in its
    # threads): on a shared machine it says what growth costs when the wall
    # clock also says how busy the neighbours were.
    cpu_us: list[float] = []
    # The cores other processes kept busy meanwhile (the machine's busy time less
    # this process's): a segment they crowded is slower without costing more here.
    others: list[float | None] = []
    elapsed = 0.0
    for segment in range(segments):
        count = transfers // segments + (1 if segment < transfers % segments else 0)
        cpu_before, busy_before = time.process_time(), machine.busy_cpu_seconds()
        rate = await drive(ledger, members, count, f"s{segment}", make_id)
        cpu = time.process_time() - cpu_before
        busy_after = machine.busy_cpu_seconds()
        cpu_us.append(cpu / count * 1e6)
        elapsed += count / rate
        rates.append(rate)
        if busy_before is None or busy_after is None:
            others.append(None)
        else:
            others.append(max(0.0, busy_after - busy_before - cpu) / (count / rate))
        sizes.append((await store.head(COMMUNITY)).size)
        rss.append(rss_bytes())
        print(
            f"  {store.engine.dialect.name} segment {segment + 1}/{segments}: "
            f"journal at {sizes[-1]:,} entries, {rate:,.0f} transfers/s, "
            f"{cpu_us[-1]:.0f} us CPU per transfer, load {os.getloadavg()[0]:.1f}"
            + ("" if others[-1] is None else f", other processes {others[-1]:.2f} cores"),
            flush=True,
        )
    head = await store.head(COMMUNITY)
    checkpoints = len(await store.checkpoints(COMMUNITY, 0, 10**9))
    against_fresh = None
    if fresh_url is not None:
        segment = transfers // segments
        against_fresh = await alternated(
            (ledger, members), url, fresh_url, segment, rounds, make_id
        )
    balances = sum(r.balance_minutes for r in await store.accounts(COMMUNITY))
    assert balances == 0, "balances must sum to zero"
    analyzed = await analyzed_tables(store) if postgres else None
    await ledger.close()
    await store.close()
    middle = segments // 2
    return {
        "transfers_per_s": round(transfers / elapsed),
        "entries": head.size,
        "ids": ids,
        "keys": keys if ids == "api" else None,
        "mean_batch": round(head.size / max(checkpoints, 1), 1),
        "segments": [
            {
                "entries": size,
                "transfers_per_s": round(rate),
                "cpu_us_per_transfer": round(cpu),
                "other_processes_cores": None if busy is None else round(busy, 2),
            }
            for size, rate, cpu, busy in zip(sizes, rates, cpu_us, others, strict=True)
        ],
        "last_to_first": round(rates[-1] / rates[0], 2),
        "growth_met": rates[-1] >= GROWTH_TARGET * rates[0],
        "against_fresh": against_fresh,
        "growth_met_against_fresh": None if against_fresh is None else against_fresh["met"],
        "tables_analyzed": analyzed,
        "rss_growth_first_half_mb": round((rss[middle] - rss[0]) / 2**20, 1),
        "rss_growth_second_half_mb": round((rss[-1] - rss[middle]) / 2**20, 1),
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
    parser.add_argument("--segments", type=int, default=10)
    parser.add_argument(
        "--rounds", type=int, default=5, help="turns each, grown and fresh journal alternating"
    )
    parser.add_argument("--ids", choices=("api", "random", "sequential"), default="api")
    parser.add_argument("--keys", choices=("uuid7", "uuid4"), default="uuid7")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-pgbench", action="store_true", help="skip the pgbench baseline")
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args()
    segments = max(2, args.segments)
    figures: dict[str, object] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "event_loop": EVENT_LOOP,
        "machine": machine.describe(),
    }
    rows: list[tuple[str, object, str]] = []
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            sqlite = await ledger_run(
                f"sqlite:///{tmp}/ledger.db", args.transfers, segments, args.ids, args.keys,
                fresh_url=f"sqlite:///{tmp}/fresh.db", rounds=args.rounds,
            )  # fmt: skip
            naive = naive_sqlite(Path(tmp) / "naive.db")
        figures["sqlite"] = sqlite | {
            "naive_baseline_per_s": round(naive),
            "ratio_to_naive": round(float(sqlite["transfers_per_s"]) / naive, 2),  # type: ignore[arg-type]
        }
        rows += [
            ("SQLite group commit", sqlite["transfers_per_s"], "transfers/s"),
            ("SQLite naive, 1 tx per transfer", round(naive), "transfers/s"),
        ]
    if not args.no_postgres:
        pg_url = await fresh_postgres(args.postgres, "bm_bench_ledger")
        fresh_pg = await fresh_postgres(args.postgres, "bm_bench_ledger_fresh")
        pg = await ledger_run(
            pg_url, args.transfers, segments, args.ids, args.keys, fresh_url=fresh_pg,
            rounds=args.rounds,
        )  # fmt: skip
        figures["postgres"] = pg
        rows.append(("PostgreSQL group commit", pg["transfers_per_s"], "transfers/s"))
        if not args.no_pgbench and shutil.which("pgbench"):
            tps = pgbench_tps(await fresh_postgres(args.postgres, "bm_bench_pgbench"))
            pg |= {
                "pgbench_tps": round(tps),
                "ratio_to_pgbench": round(float(pg["transfers_per_s"]) / tps, 2),  # type: ignore[arg-type]
            }
            rows.append(("PostgreSQL pgbench TPC-B, 16 clients", round(tps), "tps"))
        elif not args.no_pgbench:
            figures["pgbench_not_run"] = "needs pgbench (apt-get install postgresql-client)"
            print(f"pgbench baseline not run: {figures['pgbench_not_run']}", file=sys.stderr)
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
            rates = " ".join(f"{s['transfers_per_s']:,}" for s in f["segments"])
            print(
                f"{engine} growth to {f['entries']:,} entries ({f['ids']} ids"
                + (f", {f['keys']} keys" if f["keys"] else "")
                + f"): {rates} "
                f"transfers/s; last/first {f['last_to_first']} (target >= {GROWTH_TARGET}: "
                f"{'met' if f['growth_met'] else 'NOT met'})"
                + (
                    ""
                    if f["tables_analyzed"] is None
                    else f"; tables analyzed: {f['tables_analyzed']}"
                )
            )
            fresh = f["against_fresh"]
            if fresh is not None:
                met = "met" if f["growth_met_against_fresh"] else "NOT met"
                print(
                    f"{engine} at {f['entries']:,} entries against a fresh journal, "
                    f"{fresh['rounds']} turns each alternating: {fresh['grown_per_s']:,} against "
                    f"{fresh['fresh_per_s']:,} transfers/s, {fresh['grown_to_fresh']} "
                    f"(target >= {GROWTH_TARGET}: {met})"
                )
    print(json.dumps(figures, sort_keys=True))


if __name__ == "__main__":
    run(main())
