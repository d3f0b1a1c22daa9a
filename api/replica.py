"""Where reads that may lag go: the read replica when it has caught up, else the primary.

History, proofs, receipts, checkpoints and statements read through a
``ReadView``; balances before a payment, idempotency lookups and everything on
the write path read ``Runtime.store`` and ``Runtime.db`` (the primary) as before.

A client that has seen a tree of some size (a checkpoint's ``size``, or an
entry's ``seq`` + 1) sends it as the ``Buurtmunt-Seen-Size`` header. A replica
whose journal is shorter than that is behind the client, and the read goes to
the primary instead, so no client ever sees the ledger move back. Each batch
writes its entries and their checkpoint in one transaction, so a replica with
``seen`` entries also holds a checkpoint of at least that size.

How far the replica has replayed each journal is asked at most once every
``REPLICA_TIP_MEMORY_SECONDS``, unless a client has seen more. A replica
that fails to answer is left alone for ``REPLICA_RETRY_SECONDS`` and
its reads go to the primary meanwhile.

Nor is a replica read that has fallen behind: one whose last replayed
transaction is older than ``read_replica_lag_max_seconds`` (a setting) while
the primary holds entries of the community that it lacks. So a replica that
stopped replaying but still answers is read for at most that long; while the
primary is idle the replica holds all it holds, however long ago it replayed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Annotated, Any

import asyncpg
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.params import HeaderParameter
from sqlalchemy.exc import SQLAlchemyError

from api.access import Principal
from api.auth import community_of
from api.database import Database
from api.settings import DEFAULT_REPLICA_LAG_MAX_SECONDS, Settings
from ledger import limits
from ledger.model import Entry
from ledger.service import Ledger
from ledger.sql import journal
from ledger.sql.engine import is_sqlite
from ledger.sql.store import SqlStore

log = logging.getLogger(__name__)

SEEN_SIZE_HEADER = "Buurtmunt-Seen-Size"
# How long a replica that failed to answer is skipped before it is tried again.
REPLICA_RETRY_SECONDS = 5.0
# How long the replica may take to say how far it has replayed a journal.
REPLICA_TIP_TIMEOUT_SECONDS = 1.0
# How long what the replica said is trusted without asking again. A replica only
# moves forward, so a remembered size is never more than it holds: what this
# saves is a round trip per read; what it costs is noticing a dead replica late.
REPLICA_TIP_MEMORY_SECONDS = 1.0
# Communities whose replica size is remembered (forgotten all at once beyond).
REMEMBERED_TIPS_MAX = 10_000
# What is remembered of a replica that has fallen behind (``replayed_size``).
_BEHIND = -1
# How long ago a standby replayed its last transaction (None: it has replayed none,
# or it is no standby).
_REPLAY_AGE = "SELECT EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())"


@dataclass(frozen=True, slots=True)
class ReadView:
    """One database's reading side. ``ledger`` only reads (checkpoints, proofs, receipts):
    nothing appends through a view."""

    store: SqlStore
    ledger: Ledger
    db: Database
    is_replica: bool


def _replayed(db: journal.Db, community: str) -> tuple[int, float | None]:
    """The replica's size of ``community``'s journal, and how many seconds ago it
    replayed its last transaction (None: none, or it is no standby)."""
    size, _ = journal.read_tip(db, community)
    age = db.rows(_REPLAY_AGE, ())[0][0]
    return size, None if age is None else float(age)


async def replayed_size(
    primary: SqlStore, replica: SqlStore, community: str, lag_max_seconds: float
) -> int | None:
    """How many entries of ``community`` the replica holds, or None if it has fallen
    behind: it replayed nothing for ``lag_max_seconds`` (or is no standby) while the
    primary holds more. (The primary is asked only when the replica has been quiet.)"""
    size, age = await replica.run(False, _replayed, community)
    if age is not None and age <= lag_max_seconds:
        return size
    primary_size, _ = await primary.run(False, journal.read_tip, community)
    return size if size >= primary_size else None


class ReadRouter:
    """Chooses, per read, between the replica's view and the primary's."""

    def __init__(
        self,
        primary: ReadView,
        replica: ReadView | None = None,
        lag_max_seconds: float = DEFAULT_REPLICA_LAG_MAX_SECONDS,
    ) -> None:
        assert replica is None or replica.is_replica, "the replica's view reads the replica"
        self.primary = primary
        self.replica = replica
        self.lag_max_seconds = lag_max_seconds
        self._skip_until = 0.0
        self._behind: set[str] = set()  # communities whose replica has fallen behind
        self._tips: dict[str, tuple[int, float]] = {}  # community -> (size, when asked)

    async def view(self, community: str, seen_size: int = 0) -> ReadView:
        """The replica if it holds at least ``seen_size`` entries of ``community``, else
        the primary."""
        replica = self.replica
        now = time.monotonic()
        if replica is None or now < self._skip_until:
            return self.primary
        known = self._tips.get(community)
        if known is not None and now - known[1] < REPLICA_TIP_MEMORY_SECONDS:
            if known[0] >= seen_size:
                return replica
            if known[0] == _BEHIND:
                return self.primary
        try:
            found = await asyncio.wait_for(
                replayed_size(self.primary.store, replica.store, community, self.lag_max_seconds),
                REPLICA_TIP_TIMEOUT_SECONDS,
            )
        except (OSError, SQLAlchemyError, asyncpg.PostgresError, TimeoutError) as exc:
            log.warning("read replica unavailable, reading from the primary: %r", exc)
            self._skip_until = time.monotonic() + REPLICA_RETRY_SECONDS
            self._tips.clear()
            return self.primary
        if len(self._tips) >= REMEMBERED_TIPS_MAX:
            self._tips.clear()
        self._note_behind(community, found is None)
        size = _BEHIND if found is None else found
        self._tips[community] = (size, now)
        return replica if size >= seen_size else self.primary

    def _note_behind(self, community: str, behind: bool) -> None:
        """Log when a community's replica falls behind and when it has caught up."""
        if behind and community not in self._behind:
            self._behind.add(community)
            log.warning(
                "read replica has replayed nothing for over %s s while the primary holds "
                "more of %s: reading it from the primary", self.lag_max_seconds, community,
            )  # fmt: skip
        elif not behind and community in self._behind:
            self._behind.discard(community)
            log.info("read replica has caught up with %s again", community)

    async def current(self, community: str) -> ReadView:
        """A view that holds every entry the primary holds now: for answers "as at the
        newest checkpoint" (statements), in which what was written before the question
        must be. The replica once it has caught up, else the primary."""
        if self.replica is None:
            return self.primary
        return await self.view(community, (await self.primary.store.head(community)).size)

    async def holding(
        self, view: ReadView, community: str, entry_id: str
    ) -> tuple[ReadView, Entry | None]:
        """The entry ``entry_id`` and a view that holds it. A replica that lacks it may
        be behind the write that made it (a resident asks for the receipt of what they
        just paid), so then the primary is asked too."""
        entry = await view.store.entry_by_id(community, entry_id)
        if entry is None and view.is_replica:
            view = self.primary
            entry = await view.store.entry_by_id(community, entry_id)
        return view, entry

    async def close(self) -> None:
        if self.replica is not None:
            await self.replica.store.close()


def open_replica(settings: Settings, primary: ReadView) -> ReadRouter:
    """The router for ``settings``: with a replica when ``read_database_url`` is set."""
    url = settings.read_database_url
    if url is None:
        return ReadRouter(primary)
    if is_sqlite(url) or primary.db.is_sqlite:
        raise ValueError("BUURTMUNT_READ_DATABASE_URL needs PostgreSQL for both databases")
    store = SqlStore.from_url(url)
    ledger = Ledger(
        store, primary.ledger.signer, primary.ledger.host, primary.ledger.clock,
        cadence=primary.ledger.cadence, retired=primary.ledger.retired,
    )  # fmt: skip
    replica = ReadView(store, ledger, Database(store.engine), is_replica=True)
    return ReadRouter(primary, replica, settings.read_replica_lag_max_seconds)


SeenSizeHeader = Annotated[
    int,
    HeaderParameter(
        name=SEEN_SIZE_HEADER,
        ge=0,
        le=limits.TREE_SIZE_MAX,
        required=False,
        description=(
            "The largest tree size this client has seen (a checkpoint's size, or an entry's "
            "seq + 1). The answer is read at that size or later."
        ),
        # Litestar writes ge/le as floats, and 2**63 - 1 as a float is another number.
        schema_extra={"minimum": 0, "maximum": limits.TREE_SIZE_MAX},
    ),
]


async def provide_reads(
    request: ASGIConnection[Any, Any, Any, Any],
    principal: NamedDependency[Principal],
    seen_size: SeenSizeHeader = 0,
) -> ReadView:
    runtime = request.app.state.runtime
    router: ReadRouter = runtime.reads
    return await router.view(community_of(principal), seen_size)
