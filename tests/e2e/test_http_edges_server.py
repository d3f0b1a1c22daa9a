"""What any anonymous client can send a real ``buurtmunt serve``: preflights, probes,
bodies that are not JSON or nest too deep, oversized headers, forged client addresses.

Each answer is a success or a 4xx problem with a stable code, never a 500.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from litestar.testing import AsyncTestClient

from api import limits
from api.app import create_app
from tests.support.api import world_settings
from tests.support.server import Seeded, free_port, seed, server_env, serving


@dataclass(frozen=True, slots=True)
class Served:
    base: str
    seeded: Seeded

    def member(self, key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.seeded.member_tokens[0]}", "Idempotency-Key": key}


def _serve(extra_env: dict[str, str]) -> Iterator[Served]:
    with tempfile.TemporaryDirectory() as directory:
        port = free_port()
        env = server_env(f"sqlite:///{directory}/b.db", f"http://127.0.0.1:{port}") | extra_env
        seeded = asyncio.run(seed(env, members=2, funds_minutes=600))
        with serving(env, port) as base:
            yield Served(base, seeded)


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    yield from _serve({})


def journal_size(served: Served) -> int:
    headers = {"Authorization": f"Bearer {served.seeded.shop_token}"}
    answer = httpx.get(f"{served.base}/api/v1/ledger/checkpoint", headers=headers)
    assert answer.status_code == 200, answer.text
    size: int = answer.json()["size"]
    return size


def assert_problem(answer: httpx.Response, status: int, code: str) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["code"] == code


def test_options_on_any_route_answers_with_the_allowed_methods(served: Served) -> None:
    for path in ("/api/v1/transfers", "/api/v1/me", "/health", "/P/ABC"):
        answer = httpx.options(f"{served.base}{path}")
        assert answer.status_code == 204, (path, answer.text)
        assert "OPTIONS" in answer.headers["allow"]


def test_a_preflight_from_an_unconfigured_origin_is_granted_nothing(served: Served) -> None:
    answer = httpx.options(
        f"{served.base}/api/v1/transfers",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )

    assert answer.status_code == 204
    assert "access-control-allow-origin" not in answer.headers


def test_head_answers_the_health_and_readiness_probes(served: Served) -> None:
    for path in ("/health", "/ready"):
        answer = httpx.head(f"{served.base}{path}")
        assert answer.status_code == 200, path
        assert answer.content == b""


def test_a_deeply_nested_body_is_refused_before_decoding(served: Served) -> None:
    before = journal_size(served)
    for depth in (limits.JSON_DEPTH_MAX + 1, 900, 1_000, 20_000):
        body = b"[" * depth + b"]" * depth
        answer = httpx.post(
            f"{served.base}/api/v1/transfers",
            content=body,
            headers={**served.member(f"deep{depth}"), "Content-Type": "application/json"},
        )
        assert_problem(answer, 422, "json_too_deep")
    assert journal_size(served) == before


def test_brackets_inside_strings_do_not_count_as_nesting(served: Served) -> None:
    memo = "[" * 200
    answer = httpx.post(
        f"{served.base}/api/v1/transfers",
        json={"payee": served.seeded.member_accounts[1], "amount_minutes": 1, "memo": memo},
        headers=served.member("brackets-in-memo"),
    )
    assert answer.status_code == 201, answer.text


def test_a_json_body_sent_as_text_or_as_a_form_is_an_unsupported_media_type(
    served: Served,
) -> None:
    before = journal_size(served)
    payee = served.seeded.member_accounts[1]
    as_text = httpx.post(
        f"{served.base}/api/v1/transfers",
        content=f'{{"payee": "{payee}", "amount_minutes": 1}}',
        headers={**served.member("as-text"), "Content-Type": "text/plain"},
    )
    as_form = httpx.post(
        f"{served.base}/api/v1/transfers",
        data={"payee": payee, "amount_minutes": "1"},
        headers=served.member("as-form"),
    )
    without_type = httpx.post(
        f"{served.base}/api/v1/transfers",
        content=f'{{"payee": "{payee}", "amount_minutes": 1}}',
        headers=served.member("no-type"),
    )

    assert_problem(as_text, 415, "unsupported_media_type")
    assert_problem(as_form, 415, "unsupported_media_type")
    assert_problem(without_type, 415, "unsupported_media_type")
    assert journal_size(served) == before


def test_the_pay_pages_still_take_their_forms(served: Served) -> None:
    # The pay page's form posts as a form; it must not be turned away as "not JSON".
    answer = httpx.post(f"{served.base}/P/{'A' * 26}", data={"csrf": "x"})
    assert answer.status_code not in {415, 422}, answer.text
    assert answer.status_code < 500


def test_oversized_headers_are_refused(served: Served) -> None:
    big = "a" * (1 << 20)
    answer = httpx.get(f"{served.base}/api/v1/me", headers={"X-Padding": big})
    assert_problem(answer, 431, "headers_too_large")
    fine = httpx.get(f"{served.base}/health", headers={"X-Padding": "a" * 4_000})
    assert fine.status_code == 200


def test_a_connection_that_never_ends_its_headers_is_cut_off(served: Served) -> None:
    host, port = served.base.removeprefix("http://").split(":")
    unfinished = b"a" * (limits.REQUEST_HEAD_BYTES_MAX + 8_192)
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Padding: " + unfinished)
        # The head has not ended: only a bound on what it may take makes the server answer.
        answer = connection.recv(1_000)

    assert answer.startswith(b"HTTP/1.1 431"), answer
    assert b"headers_too_large" in answer


def test_an_idle_connection_outlives_uvicorns_own_five_seconds(served: Served) -> None:
    # A proxy reuses its idle connections to the server for up to 60 s: a server that
    # closed them sooner would reset the request the proxy sends on one as it closes.
    host, port = served.base.removeprefix("http://").split(":")
    ask = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(ask)
        first = connection.recv(10_000)
        time.sleep(6)  # past uvicorn's default keep-alive of 5 s
        connection.sendall(ask)
        second = connection.recv(10_000)

    assert first.startswith(b"HTTP/1.1 200"), first
    assert second.startswith(b"HTTP/1.1 200"), f"the server closed the idle connection: {second!r}"


def _redeem_bad_links(base: str, forwarded_for: list[str]) -> list[httpx.Response]:
    return [
        httpx.post(
            f"{base}/api/v1/enrolment/redeem",
            json={"token": f"wrong{index}"},
            headers={"Idempotency-Key": f"bad{index}", "X-Forwarded-For": address},
        )
        for index, address in enumerate(forwarded_for)
    ]


def _addresses(count: int) -> list[str]:
    return [f"203.0.113.{index + 1}" for index in range(count)]


def test_a_forged_forwarded_for_does_not_escape_the_enrolment_lock_out(served: Served) -> None:
    answers = _redeem_bad_links(served.base, _addresses(limits.LOCKOUT_FAILURES_MAX + 1))

    assert {a.status_code for a in answers[:-1]} == {404}
    assert_problem(answers[-1], 429, "locked_out")


def test_a_configured_proxy_names_the_client() -> None:
    for proxied in _serve({"BUURTMUNT_TRUSTED_PROXIES": "127.0.0.1"}):
        answers = _redeem_bad_links(proxied.base, _addresses(limits.LOCKOUT_FAILURES_MAX + 1))
        # Each forwarded address is its own client: none of them is locked out yet.
        assert {a.status_code for a in answers} == {404}


async def test_a_configured_origin_gets_a_cors_preflight_answer(sqlite_url: str) -> None:
    origin = "https://kaart.buurtmunt.nl"
    app = create_app(world_settings(sqlite_url, cors_origins=(origin,)))
    async with AsyncTestClient(app=app) as client:
        granted = await client.options(
            "/api/v1/transfers",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type, idempotency-key",
            },
        )
        refused = await client.options(
            "/api/v1/transfers",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
        simple = await client.get("/health", headers={"Origin": origin})

    assert granted.status_code in {200, 204}, granted.text
    assert granted.headers["access-control-allow-origin"] == origin
    assert "idempotency-key" in granted.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-credentials" not in granted.headers
    assert refused.headers.get("access-control-allow-origin") != "https://evil.example"
    assert simple.headers["access-control-allow-origin"] == origin


async def test_options_requests_leave_nothing_in_the_error_log(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(world_settings(sqlite_url))
    with caplog.at_level(logging.WARNING):
        async with AsyncTestClient(app=app) as client:
            answers = [
                await client.options(path) for path in ("/api/v1/transfers", "/api/v1/me") * 5
            ]

    assert {a.status_code for a in answers} == {204}
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_a_client_that_hangs_up_mid_body_is_not_a_server_error(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(world_settings(sqlite_url))
    parts = iter(
        [
            {"type": "http.request", "body": b'{"token": "abc', "more_body": True},
            {"type": "http.disconnect"},
        ]
    )
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return next(parts)

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/api/v1/enrolment/redeem",
        "raw_path": b"/api/v1/enrolment/redeem", "query_string": b"", "root_path": "",
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000), "state": {},
        "headers": [
            (b"host", b"127.0.0.1"), (b"content-type", b"application/json"),
            (b"content-length", b"100"), (b"idempotency-key", b"gone-1"),
        ],
    }  # fmt: skip
    with caplog.at_level(logging.INFO):
        async with AsyncTestClient(app=app):  # the app's lifespan: its runtime is open
            await app(scope, receive, send)  # type: ignore[arg-type]

    (start,) = [m for m in sent if m["type"] == "http.response.start"]
    assert start["status"] == 499
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
