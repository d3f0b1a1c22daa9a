"""Servers SIGKILLed mid-payment, PostgreSQL stopped ``-m immediate``: nothing acknowledged is lost.

Members pay each other over HTTP with a fresh Idempotency-Key per transfer
while ``buurtmunt serve`` is killed at random moments (``tests.support.crash``);
on PostgreSQL, a private cluster is also stopped once with ``pg_ctl stop -m
immediate`` under load and started again. Afterwards every acknowledged key
names exactly one entry, the one acknowledged; sending each unanswered key
again books exactly one entry for it (or finds the one booked before the
crash); and ``buurtmunt audit`` and ``buurtmunt verify`` of an export pass.
``bench/crash.py`` runs the same drill as long as asked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from ledger.sql.store import SqlStore
from ledger.store import Head
from tests.conftest import require
from tests.support.clusters import (
    Cluster,
    cluster_unavailable_reason,
    private_cluster,
    private_directory,
)
from tests.support.crash import CrashPlan, ServerProcess, run_drill, stop_and_start
from tests.support.server import COMMUNITY, free_port, seed, server_env

pytestmark = pytest.mark.slow

PLAN = CrashPlan(kills=3, clients=8, phase_seconds=(0.3, 1.0), seed=11)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    require(cluster_unavailable_reason())
    with private_directory() as root, private_cluster(root) as cluster:
        yield cluster


async def head_of(database_url: str) -> Head:
    store = SqlStore.from_url(database_url)
    try:
        return await store.head(COMMUNITY)
    finally:
        await store.close()


async def survives_the_drill(
    database_url: str, workers: int = 1, interrupt: Callable[[], None] | None = None
) -> None:
    report = await run_drill(database_url, PLAN, workers, interrupt)
    print(f"crash drill: {report}")

    assert report.kills == PLAN.kills
    assert report.database_interruptions == (interrupt is not None)
    assert report.acknowledged >= PLAN.clients, (
        f"too little got through to prove anything: {report}"
    )
    assert report.lost == [] and report.unbooked == [], report
    assert report.doubled == [] and report.stray == [], report
    assert report.retry_failures == {}, report
    # While PostgreSQL is away, requests are refused with 503 database_unavailable.
    assert "500" not in report.statuses, report
    assert report.audit_failures == []


async def test_on_sqlite_a_killed_server_loses_no_acknowledged_transfer(sqlite_url: str) -> None:
    await survives_the_drill(sqlite_url)


@pytest.mark.postgres
async def test_on_postgresql_a_killed_server_and_a_crashed_database_lose_no_acknowledged_transfer(
    cluster: Cluster,
) -> None:
    cluster.sql("CREATE DATABASE crash_one")
    await survives_the_drill(cluster.url("crash_one"), interrupt=stop_and_start(cluster))


@pytest.mark.postgres
async def test_with_two_workers_on_postgresql_a_crash_loses_no_acknowledged_transfer(
    cluster: Cluster,
) -> None:
    cluster.sql("CREATE DATABASE crash_two")
    await survives_the_drill(cluster.url("crash_two"), workers=2, interrupt=stop_and_start(cluster))


async def test_a_tail_a_kill_left_unsigned_is_signed_when_the_server_starts_again(
    sqlite_url: str,
) -> None:
    env = server_env(sqlite_url, "http://buurtmunt.test")
    # A minute's interval: after its first batch signs, the server signs nothing by itself.
    env["BUURTMUNT_CHECKPOINT_INTERVAL_SECONDS"] = "60"
    seeded = await seed(env, members=2, funds_minutes=600)
    server = ServerProcess(env, free_port())
    server.start()
    try:
        async with httpx.AsyncClient(base_url=server.base) as client:
            for n in range(3):
                paid = await client.post(
                    "/api/v1/transfers",
                    json={"payee": seeded.member_accounts[1], "amount_minutes": 1},
                    headers={
                        "Authorization": f"Bearer {seeded.member_tokens[0]}",
                        "Idempotency-Key": f"before-kill-{n}",
                    },
                )
                assert paid.status_code == 201, paid.text
        server.kill()
        killed = await head_of(sqlite_url)
        server.start()
        started = await head_of(sqlite_url)
    finally:
        server.kill()

    assert killed.checkpoint is not None and killed.checkpoint.size < killed.size
    assert started.size == killed.size
    assert started.checkpoint is not None and started.checkpoint.size == killed.size
