"""The shop flow against a real ``buurtmunt serve`` over real HTTP.

A shop's till asks to be paid and watches the request's event stream; a
member's phone, linked by its welcome link, opens ``/P/<RID>`` and pays with
the page's form; the till hears ``paid`` within a second. On PostgreSQL the
pay and the stream are served by different processes: two servers on one
database, and one server with two workers.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from typing import Any

import httpx
import pytest

from tests.support.pages import link_phone
from tests.support.server import Seeded, free_port, seed, server_env, serving, sse

FORM_TOKEN = re.compile(r'name="csrf" value="([^"]+)"')
PAID_WITHIN_SECONDS = 1.0
REQUESTS_ACROSS_WORKERS = 12


async def ask(client: httpx.AsyncClient, base: str, seeded: Seeded, minutes: int) -> str:
    made = await client.post(
        f"{base}/api/v1/payment-requests",
        json={"amount_minutes": minutes, "memo": "Gehakt"},
        headers={
            "Authorization": f"Bearer {seeded.shop_token}",
            "Idempotency-Key": f"k{time.time_ns()}",
        },
    )
    assert made.status_code == 201, made.text
    request_id: str = made.json()["id"]
    return request_id


async def watch(
    client: httpx.AsyncClient, base: str, seeded: Seeded, request_id: str, ready: asyncio.Event
) -> tuple[str, dict[str, Any], float]:
    """Follow the request's stream to its final event; when it came (monotonic)."""
    headers = {"Authorization": f"Bearer {seeded.shop_token}"}
    url = f"{base}/api/v1/payment-requests/{request_id}/events"
    async with client.stream("GET", url, headers=headers, timeout=30) as response:
        assert response.status_code == 200
        ready.set()
        async for kind, data in sse(response):
            if kind != "heartbeat":
                return kind, data, time.monotonic()
    raise AssertionError("the stream ended without a final event")


async def pay_on_the_phone(phone: httpx.AsyncClient, base: str, request_id: str) -> float:
    """Open the pay page as the camera app would, and press Pay; when the press was sent."""
    page = await phone.get(f"{base}/P/{request_id}")
    token = FORM_TOKEN.search(page.text)
    assert page.status_code == 200 and token is not None, page.text
    pressed = time.monotonic()
    paid = await phone.post(f"{base}/P/{request_id}", data={"csrf": token.group(1)})
    assert paid.status_code == 200 and "Betaald" in paid.text, paid.text
    return pressed


async def linked_phone(base: str, seeded: Seeded) -> httpx.AsyncClient:
    phone = httpx.AsyncClient(follow_redirects=False)
    await link_phone(phone, f"{base}{seeded.welcome_path}")
    return phone


async def test_a_phone_pays_a_shop_and_the_till_hears_paid_within_a_second(
    tmp_path: Any,
) -> None:
    port = free_port()
    env = server_env(f"sqlite:///{tmp_path}/buurtmunt.db", f"http://127.0.0.1:{port}")
    seeded = await seed(env, members=1, funds_minutes=600)
    with serving(env, port) as base:
        async with httpx.AsyncClient() as till:
            phone = await linked_phone(base, seeded)
            try:
                request_id = await ask(till, base, seeded, 90)
                ready = asyncio.Event()
                watching = asyncio.create_task(watch(till, base, seeded, request_id, ready))
                await ready.wait()
                pressed = await pay_on_the_phone(phone, base, request_id)
                kind, data, heard = await asyncio.wait_for(watching, 10)
            finally:
                await phone.aclose()
            till.headers["Authorization"] = f"Bearer {seeded.shop_token}"
            shop = await till.get(f"{base}/api/v1/accounts/{seeded.shop}")
            statement = await till.get(f"{base}/api/v1/shops/{seeded.shop}/statement")
            audit = audit_of(env)

    assert kind == "paid" and data["payer_name"] == "Member 0"
    assert heard - pressed < PAID_WITHIN_SECONDS
    assert shop.json()["balance_minutes"] == 90
    rows = statement.json()["rows"]
    assert [(r["kind"], r["amount_minutes"], r["name"], r["reference"]) for r in rows] == [
        ("redemption", 90, "Member 0", request_id)
    ]
    assert rows[0]["entry_id"] == data["entry_id"]
    assert statement.json()["closing_balance_minutes"] == shop.json()["balance_minutes"]
    assert audit.returncode == 0, audit.stdout + audit.stderr


STREAMS_OPEN = re.compile(r"^buurtmunt_event_streams_open(?:\{[^}]*\})? (\S+)$", re.M)


async def streams_open(client: httpx.AsyncClient, base: str) -> float:
    found = STREAMS_OPEN.search((await client.get(f"{base}/metrics")).text)
    assert found is not None
    return float(found.group(1))


async def test_a_till_that_leaves_gives_up_its_stream_and_the_request_can_still_be_paid(
    tmp_path: Any,
) -> None:
    port = free_port()
    env = server_env(f"sqlite:///{tmp_path}/buurtmunt.db", f"http://127.0.0.1:{port}")
    seeded = await seed(env, members=1, funds_minutes=600)
    headers = {"Authorization": f"Bearer {seeded.shop_token}"}
    with serving(env, port) as base:
        async with httpx.AsyncClient() as till:
            request_id = await ask(till, base, seeded, 30)
            url = f"{base}/api/v1/payment-requests/{request_id}/events"
            async with till.stream("GET", url, headers=headers, timeout=30) as response:
                assert response.headers["content-type"].startswith("text/event-stream")
                while_open = await streams_open(till, base)
            # The till's connection is gone (the stream's context closed it).
            deadline = time.monotonic() + 5
            while await streams_open(till, base) > 0 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            after_leaving = await streams_open(till, base)
            ready = asyncio.Event()
            watching = asyncio.create_task(watch(till, base, seeded, request_id, ready))
            await ready.wait()
            paid = await till.post(
                f"{base}/api/v1/payment-requests/{request_id}/pay",
                json={},
                headers={
                    "Authorization": f"Bearer {seeded.member_tokens[0]}",
                    "Idempotency-Key": "leave-1",
                },
            )
            kind, _, _ = await asyncio.wait_for(watching, 10)

    assert (while_open, after_leaving) == (1, 0)
    assert paid.status_code == 200, paid.text
    assert kind == "paid"


def audit_of(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``buurtmunt audit`` on the server's database: replays the journal, checks every balance."""
    command = [sys.executable, "-m", "api.cli", "audit", "--community", "oost"]
    return subprocess.run(
        command, env={**os.environ, **env}, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("layout", ["two servers", "one server, two workers"])
async def test_on_postgresql_a_pay_on_one_process_reaches_a_stream_on_another(
    postgres_url: str, layout: str
) -> None:
    ports = [free_port(), free_port()]
    env = server_env(postgres_url, f"http://127.0.0.1:{ports[0]}")
    seeded = await seed(env, members=REQUESTS_ACROSS_WORKERS, funds_minutes=60)
    if layout == "two servers":
        with serving(env, ports[0]) as streams_at, serving(env, ports[1]) as pays_at:
            outcomes = await pay_many(seeded, streams_at, pays_at)
    else:
        with serving(env, ports[0], workers=2) as base:
            outcomes = await pay_many(seeded, base, base)

    assert [kind for kind, _ in outcomes] == ["paid"] * REQUESTS_ACROSS_WORKERS
    assert max(delay for _, delay in outcomes) < PAID_WITHIN_SECONDS


async def pay_many(seeded: Seeded, streams_at: str, pays_at: str) -> list[tuple[str, float]]:
    """One request per member, each watched on ``streams_at`` and paid through ``pays_at``."""
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=100)) as client:
        outcomes = []
        for index, token in enumerate(seeded.member_tokens):
            request_id = await ask(client, streams_at, seeded, 30 + index)
            ready = asyncio.Event()
            watching = asyncio.create_task(watch(client, streams_at, seeded, request_id, ready))
            await ready.wait()
            pressed = time.monotonic()
            paid = await client.post(
                f"{pays_at}/api/v1/payment-requests/{request_id}/pay",
                json={},
                headers={"Authorization": f"Bearer {token}", "Idempotency-Key": f"p{index}"},
            )
            assert paid.status_code == 200, paid.text
            kind, _, heard = await asyncio.wait_for(watching, 10)
            outcomes.append((kind, heard - pressed))
        return outcomes
