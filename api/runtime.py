"""What a running application holds: settings, the ledger, the database, the clock.

One ``Runtime`` per application, built at startup from the settings and closed
at shutdown; routes receive it as the ``rt`` dependency.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from api import limits
from api.auth import Authenticator
from api.database import Database
from api.events import PaymentSignals, PostgresListener
from api.key_retention import KeyRetention
from api.leases import HostLeases, default_directory
from api.metrics import CommitMetrics
from api.payment_store import PaymentStore
from api.ratelimit import PaymentLimiter
from api.replica import ReadRouter, ReadView, open_replica
from api.services import (
    cadence_from,
    retired_verifiers,
    signer_from,
    store_from,
    upgrade_database,
)
from api.settings import Settings
from api.witnesses import Witnesses, parse_witnesses
from ledger.clock import Clock, SystemClock
from ledger.service import Ledger
from ledger.sql.journal import Db, native
from ledger.sql.store import SqlStore


@dataclass(slots=True)
class Runtime:
    settings: Settings
    store: SqlStore
    ledger: Ledger
    db: Database
    clock: Clock = field(default_factory=SystemClock)
    # What this process's writers did last (the ledger's commit observer).
    commits: CommitMetrics = field(default_factory=CommitMetrics)
    authenticator: Authenticator = field(init=False)
    payments: PaymentLimiter = field(init=False)
    # Wakes the event streams of payment requests that changed (see api.events).
    signals: PaymentSignals = field(init=False)
    requests: PaymentStore = field(init=False)
    # Where reads that may lag go: the read replica, when there is one.
    reads: ReadRouter = field(init=False)
    # Asks the configured witnesses to cosign checkpoints; started by the app.
    witnesses: Witnesses = field(init=False)
    # Forgets idempotency keys older than the retention window; started by the app.
    keys: KeyRetention = field(init=False)

    def __post_init__(self) -> None:
        self.authenticator = Authenticator(self.db, self.clock)
        self.payments = PaymentLimiter(self.settings.rate_limit_per_minute)
        self.signals = PaymentSignals()
        self.requests = PaymentStore(self.store, self.signals)
        primary = ReadView(self.store, self.ledger, self.db, is_replica=False)
        self.reads = open_replica(self.settings, primary)
        self.witnesses = Witnesses(
            parse_witnesses(self.settings.witnesses), self.ledger, self.db,
            retry_seconds=self.settings.witness_retry_seconds,
            timeout_seconds=self.settings.witness_timeout_seconds,
            now_seconds=self.now_seconds,
        )  # fmt: skip
        self.keys = KeyRetention(
            self.store, self.clock, self.settings.idempotency_key_retention_days
        )

    def now(self) -> datetime:
        return self.clock.now()

    def now_seconds(self) -> int:
        return int(self.clock.now().timestamp())

    def month(self) -> str:
        return self.clock.now().strftime("%Y-%m")

    async def close(self) -> None:
        await self.keys.close()
        await self.witnesses.close()
        await self.requests.close()
        await self.reads.close()
        await self.ledger.close()
        await self.store.close()


@asynccontextmanager
async def open_runtime(settings: Settings, clock: Clock | None = None) -> AsyncIterator[Runtime]:
    """Open the store, migrate, build the ledger; close everything afterwards."""
    store = store_from(settings)
    runtime: Runtime | None = None
    listener: PostgresListener | None = None
    try:
        await upgrade_database(store)
        the_clock = clock or SystemClock()
        commits = CommitMetrics()
        ledger = Ledger(
            store, signer_from(settings), settings.host, the_clock, commits,
            cadence=cadence_from(settings), retired=retired_verifiers(settings),
        )  # fmt: skip
        # A tail a crash (or a kill) left unsigned is signed before any request.
        await ledger.sign_unsigned()
        database = Database(store.engine, store.write_lock)
        runtime = Runtime(settings, store, ledger, database, the_clock, commits)
        if settings.workers > 1:
            ledger.leases = await start_leases(settings, store, ledger)
        if settings.sqlite_path() is None:
            # Other worker processes announce changes through PostgreSQL.
            listener = PostgresListener(settings.database_url, runtime.signals)
            await listener.start()
        yield runtime
    finally:
        if listener is not None:
            await listener.stop()
        if runtime is not None:
            await runtime.close()
        else:
            await store.close()


async def start_leases(settings: Settings, store: SqlStore, ledger: Ledger) -> HostLeases:
    """Join the other worker processes in sharing the communities' writers: each
    community is written by one worker at a time, the others forward their drafts
    to it (docs/operations.md, "Several workers")."""
    directory = settings.lease_directory
    leases = HostLeases(
        Path(directory) if directory else default_directory(settings.database_url),
        spread=settings.workers,
        append_here=ledger.append_here,
        communities=lambda: store.run(False, _community_slugs),
    )
    await leases.start()
    return leases


def _community_slugs(db: Db) -> list[str]:
    query = native(db, "SELECT slug FROM communities ORDER BY slug LIMIT ?")
    return [str(row[0]) for row in db.rows(query, (limits.LEASE_COMMUNITIES_MAX,))]
