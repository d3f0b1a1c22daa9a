"""Rate limits and lockouts.

Payments (transfers, earnings): a token bucket per credential, in this process's
memory (with several workers each enforces its own share), plus a lockout after
``PAYMENT_FAILURES_MAX`` refused payments within the window. Enrolment: unknown
tokens are counted per client address in the database (shared by all workers),
and too many lock that address out for ``LOCKOUT_SECONDS``. Only guessing is
counted and only guessing is locked out: many residents share one address (a
community centre's wifi, a mobile network's gateway), so a link that was issued
is never counted, whether used or expired, and a valid unused link is never
refused (``refuse_unknown_enrolment``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import text

from api import limits
from api.database import Database
from api.problems import ProblemError
from api.tables import LockoutRow


def too_many(retry_after_seconds: int, code: str = "rate_limited") -> ProblemError:
    seconds = max(1, retry_after_seconds)
    return ProblemError(
        429,
        code,
        "Too many attempts; wait before trying again.",
        headers={"Retry-After": str(seconds)},
        retry_after_seconds=seconds,
    )


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float
    failures: int = 0
    window_started: float = 0.0
    locked_until: float = 0.0


class PaymentLimiter:
    def __init__(self, per_minute: int, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._capacity = float(max(1, per_minute))
        self._rate = self._capacity / 60.0
        self._monotonic = monotonic
        self._buckets: dict[str, _Bucket] = {}

    def _bucket(self, key: str, now: float) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= limits.RATE_BUCKETS_MAX:
                self._buckets.clear()
            bucket = self._buckets[key] = _Bucket(tokens=self._capacity, updated=now)
        return bucket

    def take(self, key: str) -> None:
        """Spend one attempt for ``key`` or raise a 429 problem saying when to retry."""
        now = self._monotonic()
        bucket = self._bucket(key, now)
        if bucket.locked_until > now:
            raise too_many(math.ceil(bucket.locked_until - now), "locked_out")
        bucket.tokens = min(self._capacity, bucket.tokens + (now - bucket.updated) * self._rate)
        bucket.updated = now
        if bucket.tokens < 1.0:
            raise too_many(math.ceil((1.0 - bucket.tokens) / self._rate))
        bucket.tokens -= 1.0

    def failed(self, key: str) -> None:
        """Count a refused payment; too many within the window lock ``key`` out."""
        now = self._monotonic()
        bucket = self._bucket(key, now)
        if now - bucket.window_started > limits.LOCKOUT_WINDOW_SECONDS:
            bucket.window_started, bucket.failures = now, 0
        bucket.failures += 1
        if bucket.failures >= limits.PAYMENT_FAILURES_MAX:
            bucket.locked_until = now + limits.LOCKOUT_SECONDS
            bucket.failures = 0


async def check_lockout(db: Database, bucket: str, now: int) -> None:
    async with db.read() as session:
        row = await session.get(LockoutRow, bucket)
    if row is not None and row.locked_until is not None and row.locked_until > now:
        raise too_many(row.locked_until - now, "locked_out")


_CREATE_BUCKET = text(
    "INSERT INTO lockouts (bucket, failures, window_started_at) VALUES (:b, 0, :now) "
    "ON CONFLICT (bucket) DO NOTHING"
)


async def record_failure(db: Database, bucket: str, now: int) -> None:
    """Count a failure for ``bucket``; concurrent failures of one bucket all count."""
    async with db.write() as session:
        # Create the row if needed, then lock it (PostgreSQL; SQLite's write lock suffices).
        await (await session.connection()).execute(_CREATE_BUCKET, {"b": bucket, "now": now})
        row = await session.get(LockoutRow, bucket, with_for_update=True, populate_existing=True)
        assert row is not None
        if now - row.window_started_at > limits.LOCKOUT_WINDOW_SECONDS:
            row.failures, row.window_started_at = 0, now
        row.failures += 1
        if row.failures >= limits.LOCKOUT_FAILURES_MAX:
            row.locked_until = now + limits.LOCKOUT_SECONDS
            row.failures, row.window_started_at = 0, now
        session.add(row)


async def refuse_unknown_enrolment(db: Database, bucket: str, now: int) -> None:
    """An enrolment token that was never issued: refuse it (429) while ``bucket`` is locked
    out, else count it. Call only for unknown tokens, after the valid ones went through."""
    await check_lockout(db, bucket, now)
    await record_failure(db, bucket, now)
