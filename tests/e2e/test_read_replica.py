"""Reads from a real streaming replica, and what a lagging replica may not do.

The test makes its own primary (``initdb``) and a hot standby of it
(``pg_basebackup -R``) on free ports, runs ``buurtmunt serve`` with
``BUURTMUNT_READ_DATABASE_URL`` pointing at the standby, and pauses the
standby's replay (``pg_wal_replay_pause()``) to make it lag on purpose: a
client that sends no seen size then reads the older state (so reads do come
from the replica), one that sends ``Buurtmunt-Seen-Size`` gets the primary's,
and a balance, the receipt of an entry the replica lacks and a statement
always come from what the primary holds. A replica that has replayed nothing
for longer than ``BUURTMUNT_READ_REPLICA_LAG_MAX_SECONDS`` while the primary
holds more is not read at all, by the server or by ``buurtmunt export``.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.replica import REPLICA_TIP_MEMORY_SECONDS, SEEN_SIZE_HEADER
from tests.conftest import require
from tests.support.clusters import (
    Cluster,
    cluster_unavailable_reason,
    private_cluster,
    private_directory,
    replica_of,
    wait_until_replayed,
)
from tests.support.server import COMMUNITY, free_port, seed, server_env, serving

DATABASE = "buurtmunt"


@dataclass(frozen=True, slots=True)
class Pair:
    primary: Cluster
    replica: Cluster


@pytest.fixture
def pair() -> Iterator[Pair]:
    require(cluster_unavailable_reason())
    with private_directory() as root, private_cluster(root) as primary:
        primary.sql(f"CREATE DATABASE {DATABASE}")
        with replica_of(primary, root) as replica:
            yield Pair(primary, replica)


def bearer(token: str, seen_size: int | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}"}
    if seen_size is not None:
        headers[SEEN_SIZE_HEADER] = str(seen_size)
    return headers


def export(env: dict[str, str], out: Path) -> str:
    """``buurtmunt export`` of the community, as an operator runs it; its output."""
    done = subprocess.run(
        [sys.executable, "-m", "api.cli", "export", "--community", COMMUNITY, "--out", str(out)],
        env={**os.environ, **env}, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return done.stdout


async def get(client: httpx.AsyncClient, path: str, headers: dict[str, str]) -> Any:
    response = await client.get(path, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.slow
@pytest.mark.postgres
async def test_reads_come_from_the_replica_and_never_older_than_the_client_has_seen(
    pair: Pair, tmp_path: Path
) -> None:
    port = free_port()
    env = server_env(pair.primary.url(DATABASE), f"http://127.0.0.1:{port}")
    env["BUURTMUNT_READ_DATABASE_URL"] = pair.replica.url(DATABASE)
    # Long enough that the paused replica is still read for the whole test.
    env["BUURTMUNT_READ_REPLICA_LAG_MAX_SECONDS"] = "600"
    seeded = await seed(env, members=2, funds_minutes=120)
    payer, payee = seeded.member_accounts
    token = seeded.member_tokens[0]
    with serving(env, port) as base:
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            wait_until_replayed(pair.primary, pair.replica)
            before = (await get(client, "/api/v1/ledger/checkpoint", bearer(token)))["size"]
            pair.replica.pause_replay()

            paid = await client.post(
                "/api/v1/transfers",
                json={"payee": payee, "amount_minutes": 30},
                headers={**bearer(token), "Idempotency-Key": "replica-1"},
            )
            assert paid.status_code == 201, paid.text
            seen = paid.json()["seq"] + 1
            assert seen == before + 1
            history = f"/api/v1/accounts/{payer}/entries"

            # The paused replica answers for a client that says nothing: the old state.
            lagging = await get(client, "/api/v1/ledger/checkpoint", bearer(token))
            assert lagging["size"] == before
            old_items = (await get(client, history, bearer(token)))["items"]
            assert paid.json()["id"] not in [item["id"] for item in old_items]
            # Not a receipt, though: the replica lacks the entry, so the primary is asked
            # (a resident asks for the receipt of what they just paid, and sends no size).
            receipt = f"/api/v1/receipts/{paid.json()['id']}"
            assert (await get(client, receipt, bearer(token)))["seq"] == seen - 1

            # A client that has seen the transfer is never shown less.
            fresh = await get(client, "/api/v1/ledger/checkpoint", bearer(token, seen))
            assert fresh["size"] == seen
            new_items = (await get(client, history, bearer(token, seen)))["items"]
            assert new_items[0]["id"] == paid.json()["id"]
            assert (await get(client, receipt, bearer(token, seen)))["seq"] == seen - 1
            proof = await get(
                client,
                f"/api/v1/ledger/proofs/consistency?from={before}&to={seen}",
                bearer(token, seen),
            )
            assert proof["to_size"] == seen

            # Nor a statement: it holds what was written before it was asked for, so it
            # reads the primary while the replica lags.
            statement = await get(
                client, f"/api/v1/shops/{seeded.shop}/statement", bearer(seeded.shop_token)
            )
            assert statement["checkpoint"]["size"] == seen

            # So does an export: the journal as the replica holds it.
            exported = export(env, tmp_path / "bundle")
            assert f"exported {before:,} entries" in exported

            # A balance is read from the primary, whatever the replica says.
            account = await get(client, f"/api/v1/accounts/{payer}/", bearer(token))
            assert account["balance_minutes"] == 120 - 30

            pair.replica.resume_replay()
            wait_until_replayed(pair.primary, pair.replica)
            caught_up = await get(client, "/api/v1/ledger/checkpoint", bearer(token))
            assert caught_up["size"] == seen

            # A replica that is down: reads go to the primary.
            pair.replica.stop("immediate")
            # What it said last is trusted this long; after that it is asked again.
            await asyncio.sleep(REPLICA_TIP_MEMORY_SECONDS)
            still = await get(client, "/api/v1/ledger/checkpoint", bearer(token))
            assert still["size"] == seen
            assert (await get(client, history, bearer(token)))["items"][0]["seq"] == seen - 1


@pytest.mark.slow
@pytest.mark.postgres
async def test_a_replica_that_has_fallen_behind_is_not_read(pair: Pair, tmp_path: Path) -> None:
    lag_max = 1.0
    port = free_port()
    env = server_env(pair.primary.url(DATABASE), f"http://127.0.0.1:{port}")
    env["BUURTMUNT_READ_DATABASE_URL"] = pair.replica.url(DATABASE)
    env["BUURTMUNT_READ_REPLICA_LAG_MAX_SECONDS"] = str(lag_max)
    seeded = await seed(env, members=2, funds_minutes=120)
    payer, payee = seeded.member_accounts
    token = seeded.member_tokens[0]
    with serving(env, port) as base:
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            wait_until_replayed(pair.primary, pair.replica)
            pair.replica.pause_replay()
            paid = await client.post(
                "/api/v1/transfers",
                json={"payee": payee, "amount_minutes": 30},
                headers={**bearer(token), "Idempotency-Key": "replica-behind-1"},
            )
            assert paid.status_code == 201, paid.text
            size = paid.json()["seq"] + 1

            # Past the lag allowed and what the server remembers of the replica: a
            # client that sends no seen size reads what the primary holds.
            await asyncio.sleep(lag_max + REPLICA_TIP_MEMORY_SECONDS + 0.5)
            checkpoint = await get(client, "/api/v1/ledger/checkpoint", bearer(token))
            assert checkpoint["size"] == size
            history = await get(client, f"/api/v1/accounts/{payer}/entries", bearer(token))
            assert history["items"][0]["id"] == paid.json()["id"]
            exported = subprocess.run(
                [sys.executable, "-m", "api.cli", "export", "--community", COMMUNITY,
                 "--out", str(tmp_path / "bundle")],
                env={**os.environ, **env}, capture_output=True, text=True, timeout=120,
            )  # fmt: skip
            assert exported.returncode == 0, exported.stderr
            assert f"exported {size:,} entries" in exported.stdout
            assert "the read replica has replayed nothing for over 1 s" in exported.stderr

            pair.replica.resume_replay()
            wait_until_replayed(pair.primary, pair.replica)
            await asyncio.sleep(REPLICA_TIP_MEMORY_SECONDS)
            assert (await get(client, "/api/v1/ledger/checkpoint", bearer(token)))["size"] == size


async def test_a_seen_size_that_is_not_a_tree_size_is_refused_with_a_problem(
    sqlite_url: str,
) -> None:
    port = free_port()
    env = server_env(sqlite_url, f"http://127.0.0.1:{port}")
    seeded = await seed(env, members=1, funds_minutes=60)
    with serving(env, port) as base:
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            for bad in ("-1", "many", "1" * 30):
                response = await client.get(
                    "/api/v1/ledger/checkpoint",
                    headers={**bearer(seeded.member_tokens[0]), SEEN_SIZE_HEADER: bad},
                )
                assert response.status_code == 422, (bad, response.text)
                assert response.json()["code"] == "request_invalid"
            ahead = await get(
                client, "/api/v1/ledger/checkpoint", bearer(seeded.member_tokens[0], 10**9)
            )
            assert ahead["size"] > 0
