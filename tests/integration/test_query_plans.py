"""The writer's lookups by id and seq use their index on a table never analyzed.

A fresh restore, or a server with autovacuum off, has no planner statistics.
The journal's lookups of many ids at once (``write_if_tip``'s check that a
batch's ids and keys are new, ``load``'s entries, rejections, keys, accounts
and monthly totals) must still be planned as index probes, not as a read of the whole
community. These tests fill the tables with many rows after the migrations'
ANALYZE (of empty tables) and with autovacuum off for them, so the planner has
no statistics on any column, then ask each database to explain the exact
statements the writer runs, through the same ``journal.select_in`` and the
store's own connections (on PostgreSQL planned for the actual parameters, as
the engine's ``plan_cache_mode`` asks).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import text

from ledger.sql import journal
from ledger.sql.migrate import upgrade
from ledger.sql.store import SqlStore
from ledger.store import BatchWrite

COMMUNITY = "big"
ENTRIES = 200_000
OTHERS = 20_000  # rejections, accounts, monthly totals
LOOKED_UP = 500  # a large batch's ids: where `= ANY` used to be planned as a community scan
MONTH = "2026-01"

# (statement, the values of its IN list, parameters before the list, column looked up,
#  the index on PostgreSQL, the table)
LOOKUPS: list[tuple[str, list[Any], tuple[Any, ...], str, str, str]] = [
    (journal.SELECT_ENTRY_IDS, [f"e{i * 397:07d}" for i in range(LOOKED_UP)], (COMMUNITY,),
     "id", "ix_journal_entries_id", "journal_entries"),
    (journal.SELECT_BY_ID, [f"e{i * 397:07d}" for i in range(LOOKED_UP)], (COMMUNITY,),
     "id", "ix_journal_entries_id", "journal_entries"),
    (journal.SELECT_BY_SEQ, [i * 397 for i in range(LOOKED_UP)], (COMMUNITY,),
     "seq", "journal_entries_pkey", "journal_entries"),
    (journal.SELECT_NODES, [i * 397 for i in range(LOOKED_UP)], (COMMUNITY,),
     "seq", "journal_entries_pkey", "journal_entries"),
    (journal.SELECT_CORRECTIONS, [i * 397 for i in range(LOOKED_UP)], (COMMUNITY,),
     "corrects", "ix_journal_entries_corrects", "journal_entries"),
    (journal.SELECT_REJECTED_IDS, [f"r{i * 37:07d}" for i in range(LOOKED_UP)], (COMMUNITY,),
     "id", "rejections_pkey", "rejections"),
    (journal.SELECT_REJECTIONS, [f"r{i * 37:07d}" for i in range(LOOKED_UP)], (COMMUNITY,),
     "id", "rejections_pkey", "rejections"),
    (journal.SELECT_KEYS, [f"k{i * 37:07d}" for i in range(LOOKED_UP)], (COMMUNITY,),
     "key", "entry_keys_pkey", "entry_keys"),
    (journal.SELECT_ACCOUNTS, [f"a{i * 37:07d}" for i in range(LOOKED_UP)], (COMMUNITY,),
     "id", "accounts_pkey", "accounts"),
    (journal.SELECT_MONTHLY, [f"a{i * 37:07d}" for i in range(LOOKED_UP)], (COMMUNITY, MONTH),
     "account", "monthly_totals_pkey", "monthly_totals"),
]  # fmt: skip

TABLES = ("journal_entries", "rejections", "entry_keys", "accounts", "monthly_totals")
FILL = [
    # Every tenth entry corrects an earlier one, so the corrects index is not empty.
    "INSERT INTO journal_entries (community, seq, id, kind, time, from_account, to_account, "
    "corrects, data, leaf, nodes) SELECT '{c}', g, 'e' || {pad}, 'transfer', "
    "'2026-01-01T00:00:00Z', 'a' || {pad_other}, NULL, "
    "CASE WHEN g % 10 = 9 THEN g - 1 END, {blob}, {blob}, {blob} FROM {entries}",
    "INSERT INTO rejections (community, id, code, numbers, fingerprint) "
    "SELECT '{c}', 'r' || {pad}, 'insufficient_funds', '{{}}', {blob} "
    "FROM {others}",
    "INSERT INTO entry_keys (community, key, id, made_at) "
    "SELECT '{c}', 'k' || {pad}, 'e' || {pad}, 1767225600 FROM {others}",
    "INSERT INTO accounts (community, id, type, floor_minutes, budget_minutes_per_month, "
    "balance_minutes) SELECT '{c}', 'a' || {pad}, 'member', 0, NULL, 0 "
    "FROM {others}",
    "INSERT INTO monthly_totals (community, account, month, minutes) "
    "SELECT '{c}', 'a' || {pad}, '{m}', 60 FROM {others}",
]
POSTGRES_SQL = {"series": "generate_series(0, {n} - 1) AS g", "pad": "lpad({g}::text, 7, '0')"}
SQLITE_SQL = {
    "series": "(WITH RECURSIVE s(g) AS (SELECT 0 UNION ALL SELECT g + 1 FROM s WHERE g < {n} - 1) "
    "SELECT g FROM s)",
    "pad": "printf('%07d', {g})",
}


class Explaining:
    """A ``journal.Db`` that explains each statement instead of running it."""

    def __init__(self, db: journal.Db) -> None:
        self.db = db
        self.postgres = db.postgres
        self.plans: list[Any] = []

    def rows(self, sql: str, params: Sequence[Any]) -> list[journal.Row]:
        prefix = "EXPLAIN (FORMAT JSON) " if self.postgres else "EXPLAIN QUERY PLAN "
        self.plans.append(self.db.rows(prefix + sql, params))
        return []


def explain_all(db: journal.Db) -> list[list[Any]]:
    plans = []
    for sql, values, before, *_ in LOOKUPS:
        explaining = Explaining(db)
        journal.select_in(explaining, sql, values, *before)
        plans.append(explaining.plans)
    return plans


def scans(node: dict[str, Any]) -> list[dict[str, Any]]:
    """Every node of a PostgreSQL plan that reads a table or an index."""
    found = [node] if "Relation Name" in node or "Index Name" in node else []
    for child in node.get("Plans", []):
        found += scans(child)
    return found


async def fill(store: SqlStore, postgres: bool) -> None:
    """Many rows in one community, in one statement per table, and no ANALYZE."""
    dialect = POSTGRES_SQL if postgres else SQLITE_SQL
    blob = "'\\x00'::bytea" if postgres else "x'00'"
    async with store.engine.begin() as conn:
        if postgres:
            for table in TABLES:
                await conn.execute(text(f"ALTER TABLE {table} SET (autovacuum_enabled = false)"))
        for statement in FILL:
            sql = statement.format(
                c=COMMUNITY, m=MONTH, blob=blob,
                entries=dialect["series"].format(n=ENTRIES),
                others=dialect["series"].format(n=OTHERS),
                pad=dialect["pad"].format(g="g"),
                pad_other=dialect["pad"].format(g=f"(g % {OTHERS})"),
            )  # fmt: skip
            await conn.execute(text(sql))


async def explained_on_filled(url: str, postgres: bool, explain: Any) -> Any:
    """What ``explain`` returns, run on a store at ``url`` filled by ``fill`` (never analyzed)."""
    store = SqlStore.from_url(url)
    try:
        await upgrade(store.engine)
        await fill(store, postgres=postgres)
        return await store.run(False, explain)
    finally:
        await store.close()


def plan_of(raw: Any) -> dict[str, Any]:
    """The top node of a PostgreSQL ``EXPLAIN (FORMAT JSON)`` result."""
    plan: dict[str, Any] = (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]
    return plan


async def test_id_lookups_use_their_index_on_a_never_analyzed_postgres(postgres_url: str) -> None:
    store = SqlStore.from_url(postgres_url)
    try:
        await upgrade(store.engine)
        await fill(store, postgres=True)
        async with store.engine.connect() as conn:
            statistics = await conn.scalar(
                text("SELECT count(*) FROM pg_stats WHERE tablename = ANY(:t)"),
                {"t": list(TABLES)},
            )
        assert statistics == 0, "the tables must be without planner statistics"
        plans = await store.run(False, explain_all)
    finally:
        await store.close()
    for (sql, _, _, column, index, table), explained in zip(LOOKUPS, plans, strict=True):
        assert len(explained) == 1, sql
        plan = plan_of(explained[0][0][0])
        on_table = [n for n in scans(plan) if n.get("Relation Name", table) == table]
        kinds = [n["Node Type"] for n in on_table]
        assert "Seq Scan" not in kinds, (sql, kinds)
        probes = [n for n in on_table if "Index Name" in n]
        assert probes, (sql, kinds)
        for probe in probes:
            assert probe["Index Name"] == index, (sql, probe["Index Name"])
            condition = probe.get("Index Cond", "")
            assert re.search(rf"\b{column}\)?(::text)? = ", condition), (sql, condition[:200])


async def test_id_lookups_use_their_index_on_a_never_analyzed_sqlite(tmp_path: Path) -> None:
    store = SqlStore.from_url(f"sqlite:///{tmp_path}/plans.db")
    try:
        await upgrade(store.engine)
        await fill(store, postgres=False)
        plans = await store.run(False, explain_all)
    finally:
        await store.close()
    for (sql, _, _, column, _, table), explained in zip(LOOKUPS, plans, strict=True):
        assert explained, sql
        for rows in explained:
            details = [str(row[-1]) for row in rows]
            on_table = [d for d in details if d.split(" ")[1:2] == [table]]
            assert on_table, (sql, details)
            for detail in on_table:
                assert detail.startswith(f"SEARCH {table} USING "), (sql, details)
                assert f"{column}=?" in detail, (sql, details)


def explain_forgetting(db: journal.Db) -> list[Any]:
    """The plan of forgetting old keys (``journal.forget_keys``), without running it."""
    explaining = Explaining(db)
    journal.forget_keys(explaining, COMMUNITY, "2026-01-02T00:00:00.000000Z")
    return explaining.plans


async def test_forgetting_old_keys_reads_them_by_time_on_a_never_analyzed_postgres(
    postgres_url: str,
) -> None:
    (explained,) = await explained_on_filled(postgres_url, True, explain_forgetting)
    plan = plan_of(explained[0][0])
    kinds = [n["Node Type"] for n in scans(plan)]
    assert "Seq Scan" not in kinds, kinds
    assert {n.get("Index Name") for n in scans(plan)} >= {"ix_entry_keys_made_at"}, kinds


async def test_forgetting_old_keys_reads_them_by_time_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/plans.db"
    (explained,) = await explained_on_filled(url, False, explain_forgetting)
    details = [str(row[-1]) for row in explained]
    assert any("INDEX ix_entry_keys_made_at (community=? AND made_at<?)" in d for d in details), (
        details
    )
    assert not any(d.startswith("SCAN entry_keys") for d in details), details


def explain_landing(db: journal.Db) -> list[Any]:
    """The plan of a landing batch's one statement on PostgreSQL (``journal.write_if_tip``:
    the tip, whether any of its ids or keys is known, and its writes), without running it."""
    explaining = Explaining(db)
    ids = [f"e{i * 397:07d}" for i in range(LOOKED_UP)]
    keys = [f"k{i * 37:07d}" for i in range(LOOKED_UP)]
    balances = {f"a{i * 37:07d}": 0 for i in range(LOOKED_UP)}
    batch = BatchWrite(balances=balances)
    written = journal.write_if_tip(explaining, COMMUNITY, (0, b""), batch, ids, None, keys)
    assert not written, "an explained check finds nothing, so it writes nothing"
    return explaining.plans


async def test_a_landing_batchs_one_statement_probes_each_index_on_a_never_analyzed_postgres(
    postgres_url: str,
) -> None:
    (explained,) = await explained_on_filled(postgres_url, True, explain_landing)
    plan = plan_of(explained[0][0])
    kinds = [(n["Node Type"], n.get("Relation Name")) for n in scans(plan)]
    # (account_history_marks has a row per community: read whole, as everywhere.)
    assert not [k for k in kinds if k[0] == "Seq Scan" and k[1] in TABLES], kinds
    probes = {n.get("Index Name") for n in scans(plan)}
    assert {
        "ix_journal_entries_id",
        "journal_entries_pkey",  # the tip
        "rejections_pkey",
        "entry_keys_pkey",
        "accounts_pkey",  # the balances
    } <= probes, probes
