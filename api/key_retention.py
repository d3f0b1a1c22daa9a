"""Forgetting idempotency keys older than the retention window, in the background.

The ledger maps each request's scoped Idempotency-Key to the id of the entry
(or rejection) it named first (``ledger.store.BatchWrite.keys``). Clients'
keys are random, so the key map is an index written at random places: kept
forever it would grow with the journal and each batch would touch ever more of
it. Keys older than ``Settings.idempotency_key_retention_days`` are forgotten,
oldest first, a bounded number per transaction, once an interval. A retry after
the window is a new request: it books again. Any process may prune; deleting
what another already deleted is harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from api import limits
from ledger import limits as ledger_limits
from ledger.clock import Clock, format_time
from ledger.store import Store

log = logging.getLogger(__name__)


class KeyRetention:
    """Prunes every community's keys once per ``interval_seconds``; ``days`` 0 keeps them."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        days: int,
        interval_seconds: float = limits.KEY_PRUNE_INTERVAL_SECONDS,
    ) -> None:
        self._store = store
        self._clock = clock
        self._days = days
        self._interval_seconds = interval_seconds
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._days > 0 and self._task is None:
            self._task = asyncio.create_task(self._run(), name="key-retention")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def prune(self) -> int:
        """Forget every community's keys mapped before the window; how many went."""
        before = format_time(self._clock.now() - timedelta(days=self._days))
        forgotten = 0
        for community in await self._store.communities():
            for _ in range(limits.KEY_PRUNE_ROUNDS_MAX):
                went = await self._store.forget_keys(community, before)
                forgotten += went
                if went < ledger_limits.KEY_PRUNE_BATCH_MAX:
                    break
        return forgotten

    async def _run(self) -> None:
        while True:
            try:
                forgotten = await self.prune()
                if forgotten:
                    log.info("forgot %d idempotency keys", forgotten)
            except Exception:
                log.exception("forgetting old idempotency keys failed; trying again later")
            await asyncio.sleep(self._interval_seconds)
