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

import time
from collections.abc import Callable, Iterator

import pytest

from tests.conftest import require
from tests.support.clusters import (
    Cluster,
    cluster_unavailable_reason,
    private_cluster,
    private_directory,
)
from tests.support.crash import (
    CrashPlan,
    ServerProcess,
    audit_and_verify,
    crash_drill,
    read_books,
    retry_unanswered,
)
from tests.support.server import free_port, seed, server_env

pytestmark = pytest.mark.slow

PLAN = CrashPlan(kills=3, clients=8, phase_seconds=(0.3, 1.0), seed=11)
FUNDS_MINUTES = 5_000
DATABASE_DOWN_SECONDS = 0.5
PREFIX = "crash"


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    require(cluster_unavailable_reason())
    with private_directory() as root, private_cluster(root) as cluster:
        yield cluster


def stop_and_start(cluster: Cluster) -> Callable[[], None]:
    def interrupt() -> None:
        cluster.stop("immediate")
        time.sleep(DATABASE_DOWN_SECONDS)
        cluster.start()

    return interrupt


async def survives_the_drill(
    database_url: str, workers: int = 1, interrupt: Callable[[], None] | None = None
) -> None:
    began = time.monotonic()
    port = free_port()
    env = server_env(database_url, f"http://127.0.0.1:{port}")
    seeded = await seed(env, members=PLAN.clients, funds_minutes=FUNDS_MINUTES)
    server = ServerProcess(env, port, workers)
    try:
        outcome = await crash_drill(server, seeded, PLAN, interrupt, PREFIX)
        acked = dict(outcome.acked)
        before_retry = await read_books(database_url, PREFIX)
        retried = await retry_unanswered(server, seeded, outcome)
    finally:
        server.stop()
    books = await read_books(database_url, PREFIX)
    booked = len(set(before_retry.by_key) & outcome.unanswered)
    print(
        f"crash drill: {outcome.statuses}, restarts {outcome.restart_seconds}, "
        f"unanswered {len(outcome.unanswered)} ({booked} booked before the retry), "
        f"elapsed {time.monotonic() - began:.1f} s"
    )

    assert outcome.kills == PLAN.kills
    assert outcome.database_interruptions == (interrupt is not None)
    assert len(acked) >= PLAN.clients, f"too little got through to prove anything: {outcome}"
    for key, entry_id in acked.items():
        assert books.by_key[key] == 1 and entry_id in books.ids, key
    assert set(before_retry.by_key) <= set(acked) | outcome.unanswered
    assert set(retried) <= {200, 201}, retried
    assert sum(retried.values()) == len(outcome.unanswered)
    assert set(books.by_key) == set(acked) | outcome.unanswered
    assert set(books.by_key.values()) == {1}
    assert await audit_and_verify(database_url, env) == []


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
