"""What an operator sees: ``/metrics``, ``/ready`` and the JSON request log.

Metrics live in the process's registry, which every app built in this process
shares: the in-process tests compare counts before and after. The log and the
multi-worker tests run ``buurtmunt serve`` as a real process.
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from api import limits
from api.metrics import exposition
from tests.support.api import World, open_world
from tests.support.api_checks import problem
from tests.support.server import COMMUNITY, free_port, seed, server_env, serving

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(text: str) -> Samples:
    """Every sample of a Prometheus text exposition, by name and labels."""
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(found: Samples, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


async def scrape(world: World) -> Samples:
    answer = await world.client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    return samples(answer.text)


async def test_metrics_count_requests_by_route_template_and_problems_by_code(
    sqlite_url: str,
) -> None:
    async with open_world(sqlite_url) as world:
        account = world.member.account
        assert account is not None
        before = await scrape(world)

        await world.get(f"/api/v1/accounts/{account}", as_=world.member)
        await world.get(f"/api/v1/accounts/{account}", as_=world.member)
        await world.get("/no/such/page", as_=None)
        too_much = await world.post(
            "/api/v1/transfers",
            {"payee": world.members[1].account, "amount_minutes": 10**6},
            as_=world.member,
        )
        after = await scrape(world)

    problem(too_much, 422, "request_invalid")
    route = "/api/v1/accounts/{account_id}"
    requests = "buurtmunt_http_requests_total"
    labels = {"method": "GET", "route": route, "status": "200"}
    assert value(after, requests, **labels) - value(before, requests, **labels) == 2
    unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
    assert value(after, requests, **unmatched) - value(before, requests, **unmatched) == 1
    assert not any(account in name or account in str(labels) for name, labels in after)
    seconds = "buurtmunt_http_request_duration_seconds_count"
    assert value(after, seconds, method="GET", route=route) >= 2
    problems = "buurtmunt_problems_total"
    for code, status in (("request_invalid", "422"), ("not_found", "404")):
        grew = value(after, problems, code=code, status=status) - value(
            before, problems, code=code, status=status
        )
        assert grew == 1, code


async def test_metrics_follow_group_commits_and_the_checkpoint_age(sqlite_url: str) -> None:
    async with open_world(sqlite_url) as world:
        before = await scrape(world)
        bodies = [
            ("POST", "/api/v1/transfers", {"payee": world.members[1].account, "amount_minutes": 1},
             {**world.member.headers, "Idempotency-Key": f"metrics-{n}"})
            for n in range(8)
        ]  # fmt: skip
        answers = world.concurrently(bodies)
        after = await scrape(world)

    assert [a.status_code for a in answers] == [201] * 8
    community = {"community": COMMUNITY}
    entries = "buurtmunt_ledger_entries_appended_total"
    assert value(after, entries, **community) - value(before, entries, **community) == 8
    drafts = "buurtmunt_ledger_batch_drafts_sum"
    assert value(after, drafts, **community) - value(before, drafts, **community) == 8
    commits = "buurtmunt_ledger_commit_duration_seconds_count"
    batches = value(after, commits, **community) - value(before, commits, **community)
    assert 1 <= batches <= 8
    age = value(after, "buurtmunt_ledger_checkpoint_age_seconds", **community)
    assert 0 <= age < 60


async def test_an_open_event_stream_is_counted_until_it_closes(sqlite_url: str) -> None:
    streams = "buurtmunt_event_streams_open"
    async with open_world(sqlite_url) as world:

        async def open_two_and_count() -> tuple[float, float, float]:
            before = value(samples(exposition().decode()), streams)
            async with world.rt.signals.watch("pr_one"), world.rt.signals.watch("pr_two"):
                during = value(samples(exposition().decode()), streams)
            return before, during, value(samples(exposition().decode()), streams)

        before, during, after = world.run(open_two_and_count)

    assert during - before == 2
    assert after == before


async def test_ready_lists_each_writer_and_is_a_problem_when_one_stopped(
    sqlite_url: str,
) -> None:
    async with open_world(sqlite_url) as world:
        ready = (await world.client.get("/ready")).json()
        writer = world.rt.ledger.writers()[COMMUNITY]

        async def stop_the_writer() -> None:
            writer._stop([], AssertionError("the stored tree does not match"))

        world.run(stop_the_writer)
        stopped = await world.client.get("/ready")

    assert ready["status"] == "ready" and ready["database"] == "ok"
    (oost,) = [w for w in ready["writers"] if w["community"] == COMMUNITY]
    assert oost["alive"] is True and oost["waiting_drafts"] == 0
    assert 0 <= oost["last_commit_age_seconds"] < 60
    body = problem(stopped, 503, "ledger_writer_stopped")
    assert COMMUNITY in body["detail"]
    assert [w["alive"] for w in body["writers"] if w["community"] == COMMUNITY] == [False]


async def test_ready_is_a_problem_when_the_database_does_not_answer_in_time(
    sqlite_url: str,
) -> None:
    async with open_world(sqlite_url) as world:

        async def hanging() -> None:
            await asyncio.sleep(limits.READY_DATABASE_SECONDS * 5)

        world.rt.db.ping = hanging  # type: ignore[method-assign]
        started = asyncio.get_running_loop().time()
        answer = await world.client.get("/ready")
        took = asyncio.get_running_loop().time() - started

    problem(answer, 503, "database_unavailable")
    assert took < limits.READY_DATABASE_SECONDS * 2


def log_lines(path: Path) -> list[dict[str, object]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


async def test_each_request_is_one_json_log_line_with_its_id_and_never_a_secret(
    sqlite_url: str, tmp_path: Path
) -> None:
    port = free_port()
    env = server_env(sqlite_url, f"http://127.0.0.1:{port}")
    seeded = await seed(env, members=2, funds_minutes=600)
    log = tmp_path / "server.log"
    token, welcome = seeded.member_tokens[0], seeded.welcome_path
    pay_code, pin = "483920175561", "739104"
    with serving(env, port, log=log) as base:
        async with httpx.AsyncClient(base_url=base) as client:
            mine = await client.get(
                "/api/v1/me",
                headers={"Authorization": f"Bearer {token}", "X-Request-Id": "trace-42.a"},
            )
            odd = await client.get("/health", headers={"X-Request-Id": "no spaces allowed"})
            await client.get(welcome)
            await client.get(welcome + "?again=1")
            shop = {"Authorization": f"Bearer {seeded.shop_token}", "Idempotency-Key": "obs-1"}
            await client.post(
                "/api/v1/pay-codes/redeem", json={"code": pay_code, "amount_minutes": 5},
                headers=shop,
            )  # fmt: skip
            await client.post(
                "/api/v1/cards/redeem",
                json={"card": "BM1.bogus", "pin": pin, "amount_minutes": 5},
                headers={**shop, "Idempotency-Key": "obs-2"},
            )
            await client.get(f"/P/{token}")

    text = log.read_text(encoding="utf-8")
    lines = log_lines(log)  # every line is one JSON object
    requests = [line for line in lines if line["logger"] == "buurtmunt.requests"]
    assert len([line for line in requests if line["route"] != "/ready"]) == 7  # besides probes
    assert not [line for line in lines if line["logger"] == "uvicorn.access"]
    for secret in (token, welcome.rsplit("/", 1)[1], pay_code, pin, seeded.shop_token):
        assert secret not in text
    (traced,) = [line for line in requests if line["request_id"] == "trace-42.a"]
    assert traced["route"] == "/api/v1/me" and traced["method"] == "GET"
    assert traced["status"] == mine.status_code == 200
    assert isinstance(traced["duration_ms"], float)
    assert mine.headers["x-request-id"] == "trace-42.a"
    assert odd.headers["x-request-id"] != "no spaces allowed"
    assert len(odd.headers["x-request-id"]) == 16
    routes = {line["route"] for line in requests}
    assert {"/e/{token}", "/P/{request_id}", "/api/v1/cards/redeem"} <= routes
    # Stopped by SIGTERM: the shutdown's lines are written before the process ends.
    assert str(lines[-1]["message"]).startswith("Finished server process"), lines[-3:]


async def test_with_two_workers_every_scrape_adds_up_all_workers(postgres_url: str) -> None:
    port = free_port()
    env = server_env(postgres_url, f"http://127.0.0.1:{port}")
    await seed(env, members=1, funds_minutes=60)
    with serving(env, port, workers=2) as base:
        for _ in range(40):
            with urllib.request.urlopen(f"{base}/health", timeout=5):
                pass
        scrapes = []
        for _ in range(6):
            with urllib.request.urlopen(f"{base}/metrics", timeout=5) as answer:
                scrapes.append(samples(answer.read().decode()))

    served = "buurtmunt_http_requests_total"
    counts = {value(s, served, method="GET", route="/health", status="200") for s in scrapes}
    assert counts == {40.0}
