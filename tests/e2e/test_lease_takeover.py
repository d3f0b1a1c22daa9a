"""Two workers on PostgreSQL, the one writing the community SIGKILLed under load.

``buurtmunt serve --workers 2``: one worker holds the community's lease and
writes its journal, the other forwards its drafts there (``api.leases``).
Members keep paying each other through both while the holder is killed outright.
Afterwards every acknowledged transfer is in the journal exactly once, the other
worker (or the one uvicorn starts in the killed one's place) holds the lease and
appends within a few seconds, every unanswered request sent again books exactly
one entry, and ``buurtmunt audit`` and ``verify`` pass.
"""

from __future__ import annotations

import asyncio
import os
import signal
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from api.leases import holder_pid
from tests.support.api_checks import eventually
from tests.support.crash import (
    REQUEST_SECONDS,
    CrashOutcome,
    ServerProcess,
    audit_and_verify,
    read_books,
    retry_unanswered,
)
from tests.support.server import COMMUNITY, Seeded, free_port, seed, server_env

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

CLIENTS = 8
TAKEOVER_SECONDS_MAX = 5.0
WARM_UP_SECONDS_MAX = 30.0
PREFIX = "lease"


@dataclass(slots=True)
class Load:
    outcome: CrashOutcome = field(default_factory=CrashOutcome)
    acked_at: list[float] = field(default_factory=list)  # monotonic time of each 2xx
    stop: asyncio.Event = field(default_factory=asyncio.Event)


async def pay_until_stopped(server: ServerProcess, seeded: Seeded, index: int, load: Load) -> None:
    token = seeded.member_tokens[index]
    payee = seeded.member_accounts[(index + 1) % len(seeded.member_accounts)]
    number = 0
    # A connection of its own per client: the kernel hands them to both workers.
    async with httpx.AsyncClient(base_url=server.base, timeout=REQUEST_SECONDS) as client:
        while not load.stop.is_set():
            key = f"{PREFIX}-{index}-{number}"
            number += 1
            try:
                response = await client.post(
                    "/api/v1/transfers",
                    json={"payee": payee, "amount_minutes": 1},
                    headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key},
                )
            except httpx.HTTPError as error:
                load.outcome.statuses[type(error).__name__] += 1
                load.outcome.unanswered.add(key)
                await asyncio.sleep(0.05)
                continue
            load.outcome.statuses[str(response.status_code)] += 1
            if response.is_success:
                load.outcome.acked[key] = response.json()["id"]
                load.acked_at.append(time.monotonic())
            else:
                load.outcome.unanswered.add(key)
                await asyncio.sleep(0.05)


async def test_killing_the_worker_that_writes_a_community_loses_nothing_and_the_lease_moves(
    postgres_url: str,
) -> None:
    with tempfile.TemporaryDirectory(prefix="bm-lease-") as directory:
        port = free_port()
        env = {
            **server_env(postgres_url, f"http://127.0.0.1:{port}"),
            "BUURTMUNT_LEASE_DIRECTORY": directory,
        }
        seeded = await seed(env, members=CLIENTS, funds_minutes=100_000)
        server = ServerProcess(env, port, workers=2)
        await asyncio.to_thread(server.start)
        load = Load()
        clients = [
            asyncio.create_task(pay_until_stopped(server, seeded, i, load)) for i in range(CLIENTS)
        ]
        try:
            # Under way: as many transfers acknowledged as there are clients (a busy
            # machine may take a while), and half a second more.
            async def acknowledged() -> int:
                return len(load.outcome.acked)

            await eventually(acknowledged, lambda n: n >= CLIENTS, WARM_UP_SECONDS_MAX)
            await asyncio.sleep(0.5)
            holder = holder_pid(Path(directory), COMMUNITY)
            assert holder is not None, "a worker must hold the community's lease under load"
            before = len(load.outcome.acked)
            killed_at = time.monotonic()
            os.kill(holder, signal.SIGKILL)
            await asyncio.sleep(TAKEOVER_SECONDS_MAX)
            after = [t - killed_at for t in load.acked_at if t > killed_at + 0.2]
            load.stop.set()
            await asyncio.gather(*clients)

            assert before >= CLIENTS, f"too little got through before the kill: {load.outcome}"
            assert after, f"no transfer was acknowledged after the holder died: {load.outcome}"
            assert after[0] < TAKEOVER_SECONDS_MAX
            taken_by = holder_pid(Path(directory), COMMUNITY)
            assert taken_by is not None and taken_by != holder, "the lease must have moved"
            os.kill(taken_by, 0)  # the new holder is alive
            assert "500" not in load.outcome.statuses, (load.outcome.statuses, server.errors())

            retried = await retry_unanswered(server, seeded, load.outcome)
            assert set(retried) <= {200, 201}, retried
        finally:
            load.stop.set()
            await asyncio.gather(*clients, return_exceptions=True)
            await asyncio.to_thread(server.stop)
        books = await read_books(postgres_url)
        answered = load.outcome.acked  # the first answers and the retries'
        for key, entry_id in answered.items():
            assert entry_id in books.ids, f"acknowledged {key} ({entry_id}) is not in the journal"
        assert len(set(answered.values())) == len(answered), "two keys answered with one entry"
        assert books.transfers == set(answered.values()), "a transfer no key was answered with"
        assert await audit_and_verify(postgres_url, env) == []
