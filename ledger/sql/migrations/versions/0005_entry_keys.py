"""Callers' keys map to entry ids instead of being them.

The API names each entry it appends with a time-ordered id (``ledger.ids``), so
that the journal's id index grows at its end. A request's Idempotency-Key,
scoped to its caller (``Draft.key``), is kept here with the id of the entry (or
remembered rejection) it named first, written in the same batch transaction; a
retry under the same key is answered as that entry. ``made_at`` is the Unix
second of the batch's entry time: keys older than the retention window are
forgotten, oldest first, by the (community, made_at) index. Rows are narrow on
purpose: keys are random, so every new one lands on a page of its own.

Before this revision the API named an entry by its scoped key (now
``api.idempotency.legacy_entry_id``). So that a client's retry across the
upgrade still finds its entry, each entry of the last ``CARRIED_DAYS`` before
the journal's newest (and each remembered rejection) is mapped from
``ledger.ids.key_of_legacy_id`` of its own id.

Revision ID: 0005_entry_keys
Revises: 0004_approval_threshold
Create Date: 2026-12-06
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

from ledger.ids import key_of_legacy_id

revision = "0005_entry_keys"
down_revision = "0004_approval_threshold"
branch_labels = None
depends_on = None

# Entries this many days older than a journal's newest are not carried over:
# the server's default retention window for keys.
CARRIED_DAYS = 30
_ROWS_PER_INSERT = 10_000


def upgrade() -> None:
    op.create_table(
        "entry_keys",
        sa.Column("community", sa.String(40), primary_key=True),
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("made_at", sa.BigInteger(), nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_entry_keys_made_at", "entry_keys", ["community", "made_at"])
    _carry_over_recent_ids()


def _seconds(time: str) -> int:
    return int(datetime.strptime(time, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp())


def _carry_over_recent_ids() -> None:
    bind = op.get_bind()
    newest = bind.execute(sa.text("SELECT max(time) FROM journal_entries")).scalar()
    if newest is None:
        return
    since = datetime.strptime(newest, "%Y-%m-%dT%H:%M:%S.%fZ") - timedelta(days=CARRIED_DAYS)
    recent = bind.execute(
        sa.text("SELECT community, id, time FROM journal_entries WHERE time >= :since"),
        {"since": since.strftime("%Y-%m-%dT%H:%M:%S.%fZ")},
    )
    rows = [(c, i, _seconds(t)) for c, i, t in recent]
    refused = bind.execute(sa.text("SELECT community, id FROM rejections"))
    rows += [(c, i, _seconds(newest)) for c, i in refused]
    mapped: dict[tuple[str, str], tuple[str, int]] = {}
    for community, entry_id, made_at in rows:
        mapped.setdefault((community, key_of_legacy_id(entry_id)), (entry_id, made_at))
    insert = sa.text("INSERT INTO entry_keys (community, key, id, made_at) VALUES (:c, :k, :i, :m)")
    values = [{"c": c, "k": k, "i": i, "m": m} for (c, k), (i, m) in mapped.items()]
    for start in range(0, len(values), _ROWS_PER_INSERT):
        bind.execute(insert, values[start : start + _ROWS_PER_INSERT])


def downgrade() -> None:
    op.drop_index("ix_entry_keys_made_at", table_name="entry_keys")
    op.drop_table("entry_keys")
