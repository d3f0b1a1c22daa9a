"""The journal's hot statements, written once as plain functions over a synchronous connection.

A group commit reads the head, loads what its drafts need and writes the batch.
Each of those steps runs here in one call, as a synchronous function over ``Db``:
on SQLite in a worker thread with a stdlib ``sqlite3`` connection, on PostgreSQL
through SQLAlchemy's ``run_sync`` over asyncpg. So a batch costs a handful of
hand-offs between the event loop and the database, not one per statement, which
is what keeps a busy server's event loop from stretching every batch.

Statements are written with ``?`` placeholders (SQLite's style) and ``IN ?`` for
lists (``select_in``). On SQLite a list becomes ``IN (?, ?, ...)``; on PostgreSQL
placeholders become ``$n`` and a list one array parameter, each of its values
looked up on its own: ``FROM unnest($1) CROSS JOIN LATERAL (... = w.v OFFSET 0)``.
Not ``= ANY($n)``: on a table never analyzed (autovacuum off, a fresh restore)
PostgreSQL guesses a community holds half a percent of the table, and plans
``community = $1 AND id = ANY($2)`` as a read of the whole community filtered by
the ids (518 ms per batch at 1.07M entries). A lateral subquery can only be run
once per value, and for one value the index on (community, id) is the plain
choice whatever the statistics say (tests/integration/test_query_plans.py proves
it with ``EXPLAIN``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Any, Protocol

from ledger import limits
from ledger.canonical import ZERO_HASH, decode_entry
from ledger.clock import parse_time
from ledger.merkle import Frontier, node_home, range_nodes
from ledger.model import AccountSpec, AccountType, Entry, Rejected, Rejection, Settings
from ledger.rules import note_reversal
from ledger.sql.engine import sqlite_chunks
from ledger.state import AccountState, LedgerState
from ledger.store import (
    AccountRow,
    BatchWrite,
    Head,
    Loaded,
    Needs,
    Refused,
    StoredCheckpoint,
    proof_from,
    signed_proof_nodes,
)

Row = Sequence[Any]


class Db(Protocol):
    """A synchronous connection inside an open transaction."""

    postgres: bool

    def rows(self, sql: str, params: Sequence[Any]) -> list[Row]: ...

    def many(self, sql: str, rows: list[tuple[Any, ...]]) -> None: ...

    def execute(self, sql: str, params: Sequence[Any]) -> None: ...


# What another layer writes in each batch's transaction, given the community and
# the entries the batch adds: its own tables kept in step with the journal, in
# the same commit (``SqlStore.also_write``). It returns the ids of the entries
# whose condition in its tables does not hold: then the batch is not written.
Companion = Callable[[Db, str, Sequence[Entry]], Collection[str]]

_NATIVE: dict[str, str] = {}


def native(db: Db, sql: str) -> str:
    """``sql`` in the driver's placeholder style."""
    return numbered(sql) if db.postgres else sql


def numbered(sql: str) -> str:
    """``sql`` with its ``?`` placeholders numbered, as PostgreSQL takes them."""
    if sql not in _NATIVE:
        parts = sql.split("?")
        _NATIVE[sql] = "".join(f"{p}${i}" for i, p in enumerate(parts[:-1], 1)) + parts[-1]
    return _NATIVE[sql]


def select_in(db: Db, sql: str, values: Iterable[Any], *before: Any) -> list[Row]:
    """Rows of ``sql`` with its ``IN ?`` marker filled with ``values``."""
    items = list(values)
    if not items:
        return []
    if db.postgres:
        return db.rows(native(db, postgres_in(sql, items)), (items, *before))
    rows: list[Row] = []
    for chunk, slots in sqlite_chunks(items, 1, spare=len(before)):
        statement = sql.replace(" IN ?", " IN (" + ",".join("?" * slots) + ")")
        padding = [None] * (slots - len(chunk))  # equal to nothing
        rows.extend(db.rows(statement, (*before, *chunk, *padding)))
    return rows


def postgres_in(sql: str, items: Sequence[Any], array: str | None = None) -> str:
    """``sql`` run once per distinct value of an array, the first parameter, for its ``IN ?``
    (an array of ``array``, or of what ``items`` hold)."""
    if array is None:
        array = "bigint[]" if all(isinstance(i, int) for i in items) else "text[]"
    one = sql.replace(" IN ?", " = w.v")
    return (
        f"SELECT t.* FROM (SELECT DISTINCT unnest(?::{array}) AS v) AS w "
        f"CROSS JOIN LATERAL ({one} OFFSET 0) AS t"
    )


def entry_from_row(community: str, seq: int, data: bytes) -> Entry:
    entry = decode_entry(bytes(data))
    assert (entry.community, entry.seq) == (community, seq), "row and bytes disagree"
    return entry


_ACCOUNT_TYPES = {t.value: t for t in AccountType}


def account_from_row(row: Row) -> AccountRow:
    """From ``id, type, floor_minutes, budget_minutes_per_month, balance_minutes``."""
    spec = AccountSpec(
        id=row[0],
        type=_ACCOUNT_TYPES[row[1]],
        floor_minutes=row[2],
        budget_minutes_per_month=row[3],
    )
    return AccountRow(spec=spec, balance_minutes=int(row[4]))


def advisory_key(community: str) -> int:
    """A stable signed 64-bit key for PostgreSQL's advisory lock on a community."""
    digest = hashlib.sha256(b"buurtmunt:" + community.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def read_head(db: Db, community: str) -> Head:
    last = db.rows(native(db, SELECT_LAST), (community,))
    size = int(last[0][0]) + 1 if last else 0
    rows = db.rows(native(db, SELECT_LAST_CHECKPOINT), (community,))
    checkpoint = StoredCheckpoint(int(rows[0][0]), bytes(rows[0][1]), rows[0][2]) if rows else None
    coordinates = range_nodes(0, size)
    # A head ahead of its checkpoint comes with the proof that it extends it.
    groups = signed_proof_nodes(checkpoint, size)
    found = read_nodes(db, community, coordinates + [n for group in groups for n in group])
    assert all(c in found for c in coordinates), "the tree's frontier is missing from the journal"
    return Head(
        size=size,
        last_leaf=bytes(last[0][1]) if last else ZERO_HASH,
        last_time=last[0][2] if last else "",
        frontier=Frontier.from_hashes(size, [found[c] for c in coordinates]),
        checkpoint=checkpoint,
        signed_proof=proof_from(groups, found),
    )


def read_tip(db: Db, community: str) -> tuple[int, bytes]:
    """The journal's size and last leaf hash: what a landing batch checks it builds on."""
    last = db.rows(native(db, SELECT_LAST), (community,))
    return (int(last[0][0]) + 1, bytes(last[0][1])) if last else (0, ZERO_HASH)


def write_if_tip(
    db: Db,
    community: str,
    tip: tuple[int, bytes],
    batch: BatchWrite,
    new_ids: Sequence[str],
    companion: Companion | None = None,
    new_keys: Sequence[str] = (),
) -> bool:
    """Write ``batch`` if the journal still ends at ``tip`` and knows none of ``new_ids``
    (as entries or remembered rejections) nor of ``new_keys``; else write nothing and
    return False."""
    ids, keys = sorted(new_ids), sorted(new_keys)
    if db.postgres and not batch.new_accounts:
        # One round trip: the checks, and the batch's entries, balances and keys
        # written only if they pass. (A new account must be in before the balances
        # statement runs, which one statement cannot do: that case checks first.)
        written, indexed = _write_postgres(db, community, batch, (tip, ids, keys))
        if written:
            _write_rest(db, community, batch, companion, indexed)
        return written
    if db.postgres:
        # One round trip for the tip and all three checks.
        params = (ids, community, ids, community, *((keys, community) if keys else ()), community)
        rows = db.rows(PG_TIP_AND_KNOWN[bool(keys)], params)
        if not rows or rows[0][2]:
            return False
        found = (0, ZERO_HASH) if rows[0][0] is None else (int(rows[0][0]) + 1, bytes(rows[0][1]))
        if found != tip:
            return False
    elif (
        read_tip(db, community) != tip
        or select_in(db, SELECT_ENTRY_IDS, ids, community)
        or select_in(db, SELECT_REJECTED_IDS, ids, community)
        or select_in(db, SELECT_KEYS, keys, community)
    ):
        return False
    write(db, community, batch, companion)
    return True


def read_nodes(
    db: Db, community: str, coordinates: Sequence[tuple[int, int]]
) -> dict[tuple[int, int], bytes]:
    """Merkle node hashes by (level, index), from the rows of the leaves that complete them."""
    homes = {c: node_home(*c) if c[0] > 0 else (c[1], -1) for c in coordinates}
    seqs = sorted({seq for seq, _ in homes.values()})
    by_seq = {
        int(r[0]): (bytes(r[1]), bytes(r[2])) for r in select_in(db, SELECT_NODES, seqs, community)
    }
    found: dict[tuple[int, int], bytes] = {}
    for coordinate, (seq, slot) in homes.items():
        if seq not in by_seq:
            continue
        leaf, nodes = by_seq[seq]
        if slot < 0:
            found[coordinate] = leaf
        elif len(nodes) >= 32 * (slot + 1):
            found[coordinate] = nodes[32 * slot : 32 * (slot + 1)]
    return found


def read_snapshot(db: Db, community: str) -> tuple[Head, list[AccountRow]]:
    """The head and every account's cached balance, read in the caller's one transaction."""
    head = read_head(db, community)
    rows = db.rows(native(db, SELECT_ALL_ACCOUNTS), (community,))
    return head, [account_from_row(row) for row in rows]


def read_settings(db: Db, community: str) -> tuple[Settings, str | None]:
    """The community's settings and its community account, as the cache holds them."""
    rows = db.rows(native(db, SELECT_SETTINGS), (community,))
    if not rows:
        return Settings(), None
    may_transfer, cap, threshold, community_account = rows[0]
    return Settings(bool(may_transfer), cap, threshold), community_account


def load(db: Db, community: str, needs: Needs) -> Loaded:
    """Everything a batch of drafts needs to see of the ledger's state."""
    c = community
    settings, community_account = read_settings(db, c)
    state = LedgerState(settings=settings, community_account=community_account)
    for row in select_in(db, SELECT_ACCOUNTS, sorted(needs.account_ids), c):
        account = account_from_row(row)
        state.accounts[account.spec.id] = AccountState(account.spec, account.balance_minutes)
    by_month: dict[str, set[str]] = {}
    for account_id, month in needs.monthly_keys:
        by_month.setdefault(month, set()).add(account_id)
    for month, accounts in by_month.items():
        for row in select_in(db, SELECT_MONTHLY, sorted(accounts), c, month):
            state.monthly[(row[0], month)] = int(row[1])
    _load_corrected(db, c, needs, state)
    keyed = {row[0]: row[1] for row in select_in(db, SELECT_KEYS, sorted(needs.entry_keys), c)}
    ids = sorted(needs.entry_ids | frozenset(keyed.values()))
    existing = {}
    for row in select_in(db, SELECT_BY_ID, ids, c):
        entry = entry_from_row(c, int(row[0]), row[1])
        existing[entry.id] = entry
    failed: dict[str, tuple[Rejected, bytes]] = {}
    for entry_id, code, numbers, fingerprint in select_in(db, SELECT_REJECTIONS, ids, c):
        rejected = Rejected(entry_id, Rejection(code), tuple(json.loads(numbers).items()))
        failed[entry_id] = (rejected, bytes(fingerprint))
    return Loaded(state=state, existing=existing, failed=failed, keyed=keyed)


def forget_keys(db: Db, community: str, made_before: str) -> int:
    """Forget at most ``limits.KEY_PRUNE_BATCH_MAX`` keys mapped before the entry time
    ``made_before``, oldest first (by the (community, made_at) index); how many went."""
    before = unix_seconds(made_before)
    params = (community, community, before, limits.KEY_PRUNE_BATCH_MAX)
    return len(db.rows(native(db, DELETE_OLD_KEYS), params))


def unix_seconds(time: str) -> int:
    """An entry time as the Unix second it falls in (``entry_keys.made_at``)."""
    return int(parse_time(time).timestamp())


def _load_corrected(db: Db, community: str, needs: Needs, state: LedgerState) -> None:
    """The entries ``needs`` names as corrected, and what their corrections reversed.

    The corrections are found by the (community, corrects) index and decoded
    to be summed. Their number is bounded by the rules: each reverses at least
    a minute of every posting of its original and all of them together at most
    the original, so an entry has at most TRANSFER_MINUTES_MAX corrections (and
    a payment in practice one or two refunds).
    """
    seqs = sorted(needs.corrected_seqs)
    for row in select_in(db, SELECT_BY_SEQ, seqs, community):
        state.originals[int(row[0])] = entry_from_row(community, int(row[0]), row[1])
    before = needs.corrections_before
    for seq, data in select_in(db, SELECT_CORRECTIONS, seqs, community):
        # The bound is applied here, not in SQL: with ``seq < ?`` SQLite scans
        # the primary key's range instead of using the corrects index.
        if before is None or int(seq) < before:
            note_reversal(state, entry_from_row(community, int(seq), data).draft)


def write(db: Db, community: str, batch: BatchWrite, companion: Companion | None = None) -> None:
    """Write one group commit's changes (inside the batch's transaction), and then
    ``companion``'s over the batch's new entries; raise ``Refused`` (the caller's
    transaction then rolls back) for the entries it refuses."""
    c = community
    # Accounts first: a batch may open an account and move minutes to it.
    _many(db, INSERT_ACCOUNT, [account_params(c, a) for a in batch.new_accounts])
    indexed: int | None = None
    if db.postgres:
        _, indexed = _write_postgres(db, c, batch)
    else:
        entries = [entry_params(c, e, n) for e, n in zip(batch.entries, batch.nodes, strict=True)]
        if entries:
            db.many(INSERT_ENTRY, entries)
        if batch.balances:
            # One statement, not one per account (see ``SqliteDb.many``).
            for chunk, slots in sqlite_chunks(list(batch.balances.items()), 2, spare=1):
                values = ", ".join(["(?, ?)"] * slots)
                padding = [None] * (2 * (slots - len(chunk)))  # matches no account
                db.execute(
                    SQLITE_UPDATE_BALANCES.format(values=values),
                    [*(x for pair in chunk for x in pair), *padding, c],
                )
        if batch.keys:
            seconds = {t: unix_seconds(t) for t in {t for _, _, t in batch.keys}}
            rows = [(c, k, entry_id, seconds[t]) for k, entry_id, t in batch.keys]
            _many(db, INSERT_KEY, rows)
    _write_rest(db, c, batch, companion, indexed)


def _write_rest(
    db: Db, community: str, batch: BatchWrite, companion: Companion | None, indexed: int | None
) -> None:
    """What a batch writes besides its new accounts, entries, balances and keys."""
    c = community
    _many(
        db,
        UPDATE_ACCOUNT_SPEC,
        [(a.floor_minutes, a.budget_minutes_per_month, c, a.id) for a in batch.changed_accounts],
    )
    _many(db, UPSERT_MONTHLY, [(c, a, m, v) for (a, m), v in batch.monthly.items()])
    new_community = next(
        (a.id for a in batch.new_accounts if a.type is AccountType.COMMUNITY), None
    )
    if batch.settings is not None or new_community is not None:
        settings, community_account = read_settings(db, c)
        settings = batch.settings or settings
        row = (
            c,
            settings.members_may_transfer,
            settings.member_earning_cap_minutes_per_month,
            settings.approval_threshold_minutes,
        )
        _many(db, UPSERT_SETTINGS, [(*row, new_community or community_account)])
    _many(
        db,
        INSERT_REJECTION,
        [
            (c, r.id, r.code.value, json.dumps(dict(r.numbers), sort_keys=True), fingerprint)
            for r, fingerprint in batch.rejections
        ],
    )
    if batch.checkpoint is not None:
        cp = batch.checkpoint
        _many(db, INSERT_CHECKPOINT, [(c, cp.size, cp.root, cp.note)])
    if batch.entries:
        index_history(db, c, batch.entries[-1].seq + 1, indexed)
        if companion is not None:
            refused = companion(db, c, batch.entries)
            if refused:
                raise Refused(refused)


Guard = tuple[tuple[int, bytes], list[str], list[str]]  # the tip, ids and keys to check


def _write_postgres(
    db: Db, community: str, batch: BatchWrite, guard: Guard | None = None
) -> tuple[bool, int]:
    """The entries, balances and keys in one statement over arrays (one round trip):
    whether they were written (only if the journal ends at the guard's tip and knows
    none of its ids or keys), and the account history's mark, which it also reads."""
    c = community
    entries = [entry_params(c, e, n)[1:] for e, n in zip(batch.entries, batch.nodes, strict=True)]
    seconds = {t: unix_seconds(t) for t in {t for _, _, t in batch.keys}}
    keys = [(k, entry_id, seconds[t]) for k, entry_id, t in batch.keys]
    keyed = bool(keys) or (guard is not None and bool(guard[2]))
    params: list[Any] = []
    if guard is not None:
        (size, leaf), ids, checked = guard
        params += [ids, c, ids, c] + ([checked, c] if keyed else [])
        last = (size - 1, leaf) if size else (None, None)
        params += [*last, c]
    params += [c, *_columns(entries, 10), *_columns(list(batch.balances.items()), 2), c]
    if keyed:
        params += [c, *_columns(keys, 3)]
    params.append(c)
    rows = db.rows(PG_WRITE[(keyed, guard is not None)], params)
    if not rows:
        return False, 0
    return bool(rows[0][0]), int(rows[0][1] or 0)


def _columns(rows: Sequence[Sequence[Any]], width: int) -> list[list[Any]]:
    """``rows`` of ``width`` values as ``width`` lists, one per column (for ``unnest``)."""
    return [[row[i] for row in rows] for i in range(width)]


def index_history(db: Db, community: str, size: int, indexed: int | None = None) -> None:
    """Index entries below ``size`` by account once ``limits.HISTORY_LAG_MAX`` of them are not.

    One sorted pass over many entries touches each account's page of
    ``account_history`` once, where indexing every batch as it lands would touch it
    once per batch. Runs inside the batch's transaction, so the index and its mark
    move together with the journal. ``indexed`` is the mark, if the caller has read it
    in this transaction.
    """
    if indexed is None:
        marks = db.rows(native(db, SELECT_HISTORY_MARK), (community,))
        indexed = int(marks[0][0]) if marks else 0
    if size - indexed < limits.HISTORY_LAG_MAX:
        return
    db.execute(native(db, INDEX_HISTORY), (community, indexed, size) * 2)
    db.execute(native(db, UPSERT_HISTORY_MARK), (community, size))


def _many(db: Db, sql: str, rows: list[tuple[Any, ...]]) -> None:
    if rows:
        db.many(native(db, sql), rows)


def entry_params(community: str, entry: Entry, nodes: bytes) -> tuple[Any, ...]:
    draft = entry.draft
    first = draft.postings[0] if draft.postings else None
    to_account = first.payee if first else None
    if draft.account is not None:
        to_account = draft.account.id
    elif draft.budget is not None:
        to_account = draft.budget.organisation
    elif draft.staff is not None:
        to_account = draft.staff.organisation
    return (
        community, entry.seq, entry.id, entry.kind.value, entry.time,
        first.payer if first else None, to_account, draft.corrects, entry.data, entry.leaf, nodes,
    )  # fmt: skip


def account_params(community: str, spec: AccountSpec) -> tuple[Any, ...]:
    return (
        community, spec.id, spec.type.value, spec.floor_minutes, spec.budget_minutes_per_month,
    )  # fmt: skip


SELECT_LAST = (
    "SELECT seq, leaf, time FROM journal_entries WHERE community = ? ORDER BY seq DESC LIMIT 1"
)
SELECT_LAST_CHECKPOINT = (
    "SELECT size, root, note FROM checkpoints WHERE community = ? ORDER BY size DESC LIMIT 1"
)
SELECT_NODES = "SELECT seq, leaf, nodes FROM journal_entries WHERE community = ? AND seq IN ?"
SELECT_SETTINGS = (
    "SELECT members_may_transfer, member_earning_cap_minutes_per_month, "
    "approval_threshold_minutes, community_account FROM ledger_settings WHERE community = ?"
)
SELECT_ACCOUNTS = (
    "SELECT id, type, floor_minutes, budget_minutes_per_month, balance_minutes FROM accounts "
    "WHERE community = ? AND id IN ?"
)
SELECT_ALL_ACCOUNTS = (
    "SELECT id, type, floor_minutes, budget_minutes_per_month, balance_minutes FROM accounts "
    "WHERE community = ? ORDER BY id"
)
SELECT_BY_SEQ = "SELECT seq, data FROM journal_entries WHERE community = ? AND seq IN ?"
SELECT_CORRECTIONS = "SELECT seq, data FROM journal_entries WHERE community = ? AND corrects IN ?"
SELECT_BY_ID = "SELECT seq, data FROM journal_entries WHERE community = ? AND id IN ?"
SELECT_ENTRY_IDS = "SELECT id FROM journal_entries WHERE community = ? AND id IN ?"
SELECT_REJECTED_IDS = "SELECT id FROM rejections WHERE community = ? AND id IN ?"
SELECT_KEYS = "SELECT key, id FROM entry_keys WHERE community = ? AND key IN ?"
DELETE_OLD_KEYS = (
    "DELETE FROM entry_keys WHERE community = ? AND key IN (SELECT key FROM entry_keys "
    "WHERE community = ? AND made_at < ? ORDER BY made_at LIMIT ?) RETURNING key"
)
# No ON CONFLICT: a batch maps only keys it checked under its lock, so a clash is
# a broken invariant, and the batch fails rather than answer for another's key.
INSERT_KEY = "INSERT INTO entry_keys (community, key, id, made_at) VALUES (?, ?, ?, ?)"
SELECT_REJECTIONS = (
    "SELECT id, code, numbers, fingerprint FROM rejections WHERE community = ? AND id IN ?"
)
SELECT_MONTHLY = (
    "SELECT account, minutes FROM monthly_totals WHERE community = ? AND month = ? AND account IN ?"
)
INSERT_ENTRY = (
    "INSERT INTO journal_entries (community, seq, id, kind, time, from_account, to_account, "
    "corrects, data, leaf, nodes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
SELECT_HISTORY_MARK = "SELECT indexed_size FROM account_history_marks WHERE community = ?"
INDEX_HISTORY = (
    "INSERT INTO account_history (community, account, seq) "
    "SELECT community, account, seq FROM ("
    "SELECT community, from_account AS account, seq FROM journal_entries "
    "WHERE community = ? AND seq >= ? AND seq < ? AND from_account IS NOT NULL "
    "UNION ALL SELECT community, to_account AS account, seq FROM journal_entries "
    "WHERE community = ? AND seq >= ? AND seq < ? AND to_account IS NOT NULL"
    ") AS named ORDER BY account, seq"
)
UPSERT_HISTORY_MARK = (
    "INSERT INTO account_history_marks (community, indexed_size) VALUES (?, ?) "
    "ON CONFLICT (community) DO UPDATE SET indexed_size = excluded.indexed_size"
)
INSERT_ACCOUNT = (
    "INSERT INTO accounts (community, id, type, floor_minutes, budget_minutes_per_month, "
    "balance_minutes) VALUES (?, ?, ?, ?, ?, 0)"
)
UPDATE_ACCOUNT_SPEC = (
    "UPDATE accounts SET floor_minutes = ?, budget_minutes_per_month = ? "
    "WHERE community = ? AND id = ?"
)
SQLITE_UPDATE_BALANCES = (
    "UPDATE accounts SET balance_minutes = v.column2 FROM (VALUES {values}) AS v "
    "WHERE accounts.community = ? AND accounts.id = v.column1"
)
UPSERT_MONTHLY = (
    "INSERT INTO monthly_totals (community, account, month, minutes) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (community, account, month) DO UPDATE SET minutes = excluded.minutes"
)
UPSERT_SETTINGS = (
    "INSERT INTO ledger_settings (community, members_may_transfer, "
    "member_earning_cap_minutes_per_month, approval_threshold_minutes, community_account) "
    "VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (community) DO UPDATE SET members_may_transfer = excluded.members_may_transfer, "
    "member_earning_cap_minutes_per_month = excluded.member_earning_cap_minutes_per_month, "
    "approval_threshold_minutes = excluded.approval_threshold_minutes, "
    "community_account = excluded.community_account"
)
INSERT_REJECTION = (
    "INSERT INTO rejections (community, id, code, numbers, fingerprint) "
    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (community, id) DO NOTHING"
)
INSERT_CHECKPOINT = "INSERT INTO checkpoints (community, size, root, note) VALUES (?, ?, ?, ?)"


def _pg_tip_and_known(keys: bool) -> str:
    """The tip and whether any of the ids (or keys) is known, in one statement: each
    check as ``select_in`` runs it (one index probe per value). Without keys, it
    does not touch their table (a journal may predate it: ``0005_entry_keys``)."""
    checks = [SELECT_ENTRY_IDS, SELECT_REJECTED_IDS] + ([SELECT_KEYS] if keys else [])
    known = " OR ".join(f"EXISTS ({postgres_in(sql, (), 'text[]')})" for sql in checks)
    return numbered(
        f"SELECT l.seq, l.leaf, {known} "
        f"FROM (SELECT 1) AS one LEFT JOIN LATERAL ({SELECT_LAST}) AS l ON true"
    )


def _pg_write(keys: bool, guarded: bool) -> str:
    """A batch's entries, balances (and keys), and the account history's mark; when
    ``guarded``, written only if the tip and the ids' (and keys') checks of
    ``_pg_tip_and_known`` pass, and whether they did."""
    ok = "SELECT true AS ok"
    if guarded:
        checks = [SELECT_ENTRY_IDS, SELECT_REJECTED_IDS] + ([SELECT_KEYS] if keys else [])
        known = " OR ".join(f"EXISTS ({postgres_in(sql, (), 'text[]')})" for sql in checks)
        ok = (
            f"SELECT NOT ({known}) AND (SELECT l.seq IS NOT DISTINCT FROM ?::bigint "
            "AND l.leaf IS NOT DISTINCT FROM ?::bytea FROM (SELECT 1) AS one "
            f"LEFT JOIN LATERAL ({SELECT_LAST}) AS l ON true) AS ok"
        )
    mapped = (
        ", keys AS (INSERT INTO entry_keys (community, key, id, made_at) "
        "SELECT ?::text, * FROM unnest(?::text[], ?::text[], ?::bigint[]) "
        "WHERE (SELECT ok FROM ok))"
    )
    return numbered(
        f"WITH ok AS ({ok}), "
        "entries AS (INSERT INTO journal_entries (community, seq, id, kind, time, "
        "from_account, to_account, corrects, data, leaf, nodes) SELECT ?::text, * FROM "
        "unnest(?::bigint[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], "
        "?::bigint[], ?::bytea[], ?::bytea[], ?::bytea[]) WHERE (SELECT ok FROM ok)), "
        "balances AS (UPDATE accounts AS a SET balance_minutes = v.b FROM "
        "unnest(?::text[], ?::bigint[]) AS v(id, b) "
        "WHERE a.community = ? AND a.id = v.id AND (SELECT ok FROM ok))"
        f"{mapped if keys else ''} "
        "SELECT (SELECT ok FROM ok), "
        "(SELECT indexed_size FROM account_history_marks WHERE community = ?)"
    )


# By whether the batch has keys to check or map (and, for writing, whether it is guarded).
PG_TIP_AND_KNOWN = {keys: _pg_tip_and_known(keys) for keys in (False, True)}
PG_WRITE = {
    (keys, guarded): _pg_write(keys, guarded) for keys in (False, True) for guarded in (False, True)
}
