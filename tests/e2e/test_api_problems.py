"""Bad input is a 4xx problem with a stable code, never a 500."""

from __future__ import annotations

from tests.support.api import open_world
from tests.support.api_checks import problem


async def test_malformed_requests_are_422_problems(sqlite_url: str) -> None:
    async with open_world(sqlite_url) as world:
        payee = world.members[1].account
        cases = {
            "huge": {"payee": payee, "amount_minutes": 10**30},
            "negative": {"payee": payee, "amount_minutes": -5},
            "float": {"payee": payee, "amount_minutes": 1.5},
            "string": {"payee": payee, "amount_minutes": "10"},
            "bool": {"payee": payee, "amount_minutes": True},
            "unknown field": {"payee": payee, "amount_minutes": 1, "extra": 1},
            "bad id": {"payee": "not an id!", "amount_minutes": 1},
            "long memo": {"payee": payee, "amount_minutes": 1, "memo": "x" * 281},
            "list": [1, 2, 3],
        }
        for name, body in cases.items():
            answer = await world.post("/api/v1/transfers", body, as_=world.member)
            assert answer.status_code == 422, (name, answer.text)
            assert answer.json()["code"] == "request_invalid", name
        control = await world.post(
            "/api/v1/transfers",
            {"payee": payee, "amount_minutes": 1, "memo": "a\u0000b"},
            as_=world.member,
        )
        not_json = await world.client.post(
            "/api/v1/transfers",
            content=b"{not json",
            headers={
                **world.member.headers,
                "Idempotency-Key": "k",
                "Content-Type": "application/json",
            },
        )
        huge_query = await world.get(
            "/api/v1/ledger/proofs/inclusion", as_=world.auditor, params={"seq": 10**30, "size": 1}
        )

        problem(control, 422, "text_invalid")
        problem(not_json, 422, "request_invalid")
        assert "not JSON" in not_json.json()["detail"], not_json.text
        problem(huge_query, 422, "request_invalid")


async def test_unknown_routes_methods_and_tokens_are_problems(sqlite_url: str) -> None:
    async with open_world(sqlite_url) as world:
        problem(await world.get("/api/v1/nothing", as_=world.admin), 404, "not_found")
        problem(
            await world.client.put("/api/v1/transfers", headers=world.member.headers),
            405,
            "method_not_allowed",
        )
        bogus = await world.client.get("/api/v1/me", headers={"Authorization": "Bearer nope"})
        body = problem(bogus, 401, "not_authenticated")
        assert bogus.headers["www-authenticate"] == "Bearer"
        assert "nope" not in str(body)
        problem(
            await world.client.get("/api/v1/me", headers={"Authorization": "Basic x"}),
            401,
            "not_authenticated",
        )


async def test_health_and_readiness(sqlite_url: str) -> None:
    async with open_world(sqlite_url) as world:
        assert (await world.client.get("/health")).json() == {"status": "ok"}
        assert (await world.client.get("/ready")).json()["status"] == "ready"
        schema = await world.client.get("/schema/openapi.json")
        assert schema.status_code == 200
        assert "/api/v1/transfers" in schema.json()["paths"]
        # Bad input is a 422 problem, never Litestar's 400: the document says only what happens.
        listed = {
            (path, method): set(operation.get("responses", {}))
            for path, item in schema.json()["paths"].items()
            for method, operation in item.items()
            if isinstance(operation, dict)
        }
        assert not [where for where, statuses in listed.items() if "400" in statuses]
        assert "422" in listed[("/api/v1/transfers", "post")]
        assert (await world.client.get("/schema")).status_code == 200


async def test_payments_are_rate_limited_per_credential(sqlite_url: str) -> None:
    async with open_world(sqlite_url, rate_limit_per_minute=3) as world:
        body = {"payee": world.members[1].account, "amount_minutes": 1}
        answers = [await world.post("/api/v1/transfers", body, as_=world.member) for _ in range(4)]
        other = await world.post(
            "/api/v1/transfers",
            {"payee": world.member.account, "amount_minutes": 1},
            as_=world.members[1],
        )

        assert [a.status_code for a in answers[:3]] == [201, 201, 201]
        limited = problem(answers[3], 429, "rate_limited")
        assert limited["retry_after_seconds"] >= 1 and answers[3].headers["retry-after"]
        assert other.status_code == 201


async def test_repeated_refused_payments_lock_the_credential_out(sqlite_url: str) -> None:
    async with open_world(sqlite_url) as world:
        from api import limits

        body = {"payee": world.members[1].account, "amount_minutes": 100_000}
        for _ in range(limits.PAYMENT_FAILURES_MAX):
            await world.post("/api/v1/transfers", body, as_=world.member)
        locked = await world.post(
            "/api/v1/transfers", body | {"amount_minutes": 1}, as_=world.member
        )

        problem(locked, 429, "locked_out")
