"""Signals that a payment request changed, to the event streams that watch it.

A signal carries only the request's id: a stream that wakes reads the request
again, so a duplicated signal is harmless and a lost one costs at most a
heartbeat (every stream re-reads its request that often anyway).

On SQLite the deployment is one process, and a signal is an in-process wake-up.
On PostgreSQL the pay and the stream may be served by different worker
processes: the change is announced with ``pg_notify`` inside the transaction
that makes it (so it is delivered only when that commits), and every process
keeps one connection that LISTENs and wakes its own streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from api import limits
from api.metrics import EVENT_STREAMS

log = logging.getLogger(__name__)

CHANNEL = "buurtmunt_payment_requests"
RECONNECT_SECONDS = 1.0


class TooManyStreams(RuntimeError):
    """This process already serves ``limits.EVENT_STREAMS_MAX`` event streams."""


class Watch:
    """One stream's place in line: ``wait`` returns once its request may have changed
    (``wake``) or the time is up; ``final`` holds the request's last word when the
    process that made it passed it along, so the stream needs no read.

    A future and a timer, not an ``asyncio.Event`` under ``wait_for``: thousands of
    streams wait at once, and ``wait_for`` runs each wait in a task of its own."""

    __slots__ = ("_waiter", "_woken", "final")

    def __init__(self) -> None:
        self._woken = False
        self._waiter: asyncio.Future[None] | None = None
        self.final: Any = None

    def wake(self) -> None:
        self._woken = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def clear(self) -> None:
        """Forget earlier wake-ups: what follows reads the request afresh."""
        self._woken = False

    async def wait(self, timeout_seconds: float) -> bool:
        """Until woken (since the last ``clear``) or ``timeout_seconds`` have passed:
        whether woken."""
        if not self._woken:
            loop = asyncio.get_running_loop()
            waiter = self._waiter = loop.create_future()
            timer = loop.call_later(timeout_seconds, _time_up, waiter)
            try:
                await waiter
            finally:
                timer.cancel()
                self._waiter = None
        return self._woken


def _time_up(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class PaymentSignals:
    """Who waits for which payment request in this process, and waking them."""

    def __init__(self) -> None:
        self._waiting: dict[str, set[Watch]] = {}
        self._count = 0

    @asynccontextmanager
    async def watch(self, request_id: str) -> AsyncIterator[Watch]:
        if self._count >= limits.EVENT_STREAMS_MAX:
            raise TooManyStreams(f"{self._count} streams open")
        watch = Watch()
        self._waiting.setdefault(request_id, set()).add(watch)
        self._count += 1
        EVENT_STREAMS.inc()
        try:
            yield watch
        finally:
            self._count -= 1
            EVENT_STREAMS.dec()
            waiting = self._waiting.get(request_id)
            if waiting is not None:
                waiting.discard(watch)
                if not waiting:
                    del self._waiting[request_id]

    def wake(self, request_id: str, final: Any = None) -> None:
        """Wake the streams of ``request_id``, handing them ``final`` if given."""
        for watch in self._waiting.get(request_id, ()):
            if final is not None:
                watch.final = final
            watch.wake()

    def wake_all(self) -> None:
        """After a gap in the signals (a lost LISTEN connection): every stream re-reads."""
        for waiting in self._waiting.values():
            for watch in waiting:
                watch.wake()

    @property
    def open_streams(self) -> int:
        return self._count


def _setter(event: asyncio.Event) -> Any:
    return lambda _connection: event.set()


class PostgresListener:
    """One LISTEN connection per process that wakes this process's streams.

    Reconnects after a lost connection; streams re-read their request on every
    heartbeat, so nothing is missed for longer than that while it is away.
    """

    def __init__(self, database_url: str, signals: PaymentSignals) -> None:
        _, rest = database_url.split("://", 1)
        self._dsn = "postgresql://" + rest  # asyncpg's own scheme, whatever driver was named
        self._signals = signals
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())
        # Wait for the first LISTEN, so a stream opened right after start-up hears
        # every change; a database that is down does not hold start-up.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), timeout=5)

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        self._signals.wake(payload)

    async def _run(self) -> None:
        while True:
            try:
                conn = await asyncpg.connect(self._dsn)
            except (OSError, asyncpg.PostgresError):
                log.warning("payment listener: cannot connect; retrying", exc_info=True)
                await asyncio.sleep(RECONNECT_SECONDS)
                continue
            lost = asyncio.Event()
            try:
                conn.add_termination_listener(_setter(lost))
                await conn.add_listener(CHANNEL, self._on_notify)
                self._ready.set()
                self._signals.wake_all()
                await lost.wait()
                log.warning("payment listener: connection lost; reconnecting")
            finally:
                with contextlib.suppress(Exception):
                    await conn.close()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
