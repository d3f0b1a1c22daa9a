"""The bad-input catalogue, against a real ``buurtmunt serve`` over real HTTP.

Every request here is wrong in one way: an amount that is no amount, a body too
big, not UTF-8, nested too deep or with fields nobody asked for, an id from
another community, a token that expired, was revoked or never existed, a QR
payment request or pay code used a second time. Each answer is a 4xx problem
with the stable code listed here, never a 500, and neither community's journal
grows by a single entry.
"""

from __future__ import annotations

import asyncio
import dataclasses
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from api import bootstrap, limits, provisioning
from api.access import Role
from api.runtime import open_runtime
from api.settings import Settings
from ledger import limits as ledger_limits
from ledger.model import AccountType
from ledger.model import Settings as LedgerSettings
from tests.conftest import require
from tests.support.databases import fresh_postgres_url, postgres_unavailable_reason
from tests.support.server import COMMUNITY, Seeded, free_port, seed, server_env, serving

OTHER = "west"
TRANSFERS = "/api/v1/transfers"
REQUESTS = "/api/v1/payment-requests"
# The checkpoint cadence signs an entry within its interval (1 s) and a little more.
SIGNED_WITHIN_SECONDS = 5


@dataclass(frozen=True, slots=True)
class Others:
    """What the catalogue needs beyond ``seed``: another community and spoilt tokens."""

    other_member: str  # a member account of the other community
    other_token: str  # that member's token
    other_request: str  # an open payment request in the other community
    expired_token: str
    revoked_token: str


@dataclass(frozen=True, slots=True)
class Served:
    base: str
    seeded: Seeded
    others: Others

    @property
    def payee(self) -> str:
        return self.seeded.member_accounts[1]


async def _others(env: dict[str, str]) -> Others:
    async with open_runtime(Settings.from_env(env)) as rt:
        actor = (await bootstrap.cli_operator(rt)).staff_id or "cli"
        await provisioning.create_community(
            rt, slug=OTHER, name="West", currency_name="Makkie",
            settings=LedgerSettings(True, None), actor=actor, plan=provisioning.community_plan(),
        )  # fmt: skip
        org = await provisioning.open_named_account(
            rt, OTHER, AccountType.ORGANISATION, "Wijkcentrum", actor,
            provisioning.account_plan(AccountType.ORGANISATION), budget_minutes_per_month=6_000,
        )  # fmt: skip
        _, other_member, other_token = await bootstrap.funded_member(
            rt, OTHER, "Noor", org.account_id, 600, actor
        )
        spoilt = await bootstrap.person_for_token(
            rt, role=Role.AUDITOR, community=COMMUNITY, name="Oud"
        )
        _, expired = await bootstrap.issue_token(
            rt, spoilt, Role.AUDITOR, "expired", expires_at=rt.now_seconds() - 1
        )
        revoked_row, revoked = await bootstrap.issue_token(rt, spoilt, Role.AUDITOR, "revoked")
        await provisioning.revoke_credential(rt, revoked_row, actor)
    return Others(other_member, other_token, "", expired, revoked)


@contextmanager
def a_database(engine: str) -> Iterator[str]:
    """A fresh database URL on ``engine`` for the module's one server."""
    if engine == "sqlite":
        with tempfile.TemporaryDirectory() as directory:
            yield f"sqlite:///{directory}/b.db"
        return
    require(asyncio.run(postgres_unavailable_reason()))
    # One loop for both ends: ``asyncio.run`` would close the generator (and drop
    # the database) as soon as it had been entered.
    loop = asyncio.new_event_loop()
    fresh = fresh_postgres_url()
    try:
        yield loop.run_until_complete(fresh.__aenter__())
    finally:
        loop.run_until_complete(fresh.__aexit__(None, None, None))
        loop.close()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def served(request: pytest.FixtureRequest) -> Iterator[Served]:
    with a_database(request.param) as database_url:
        port = free_port()
        env = server_env(database_url, f"http://127.0.0.1:{port}")
        seeded = asyncio.run(seed(env, members=3, funds_minutes=600))
        others = asyncio.run(_others(env))
        with serving(env, port) as base:
            # A payment request the other community's member opened ("pay me").
            made = httpx.post(
                f"{base}{REQUESTS}",
                json={"amount_minutes": 5},
                headers={**_bearer(others.other_token), "Idempotency-Key": "west-request"},
            )
            assert made.status_code == 201, made.text
            others = dataclasses.replace(others, other_request=made.json()["id"])
            yield Served(base, seeded, others)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _member(served: Served, index: int = 0) -> dict[str, str]:
    return {**_bearer(served.seeded.member_tokens[index]), "Idempotency-Key": str(uuid.uuid4())}


def journal_sizes(served: Served, covering: int = 0) -> dict[str, int]:
    """Each community's signed journal size, as its members can see it; once the
    checkpoint of ``COMMUNITY`` covers its first ``covering`` entries (the checkpoint
    cadence signs an entry up to a second after it was written)."""
    deadline = time.monotonic() + SIGNED_WITHIN_SECONDS
    while True:
        sizes = {}
        for community, token in (
            (COMMUNITY, served.seeded.shop_token),
            (OTHER, served.others.other_token),
        ):
            answer = httpx.get(f"{served.base}/api/v1/ledger/checkpoint", headers=_bearer(token))
            assert answer.status_code == 200, answer.text
            sizes[community] = answer.json()["size"]
        if sizes[COMMUNITY] >= covering or time.monotonic() > deadline:
            return sizes
        time.sleep(0.05)


def assert_problem(answer: httpx.Response, status: int, code: str, case: str) -> None:
    assert answer.status_code < 500, (case, answer.text)
    assert answer.status_code == status, (case, answer.text)
    assert answer.headers["content-type"].startswith("application/problem+json"), case
    body: dict[str, Any] = answer.json()
    assert body["code"] == code, (case, body)
    assert body["status"] == status, case


def test_amounts_that_are_no_amount_are_refused(served: Served) -> None:
    before = journal_sizes(served)
    amounts: dict[str, Any] = {
        "negative": -5,
        "zero": 0,
        "over the maximum": ledger_limits.TRANSFER_MINUTES_MAX + 1,
        "huge": 10**30,
        "beyond 64 bits": 2**64,
        "fractional": 1.5,
        "fraction that is whole": 2.0,
        "exponent": 1e3,
        "string": "10",
        "boolean": True,
        "null": None,
        "list": [10],
    }
    for case, amount in amounts.items():
        body = {"payee": served.payee, "amount_minutes": amount}
        answer = httpx.post(f"{served.base}{TRANSFERS}", json=body, headers=_member(served))
        assert_problem(answer, 422, "request_invalid", f"transfer: {case}")
        shop = {**_bearer(served.seeded.shop_token), "Idempotency-Key": str(uuid.uuid4())}
        asked = httpx.post(
            f"{served.base}{REQUESTS}", json={"amount_minutes": amount}, headers=shop
        )
        if amount is None:  # a request may leave the amount to the payer, but not a shop's
            assert asked.status_code < 500, asked.text
            continue
        assert_problem(asked, 422, "request_invalid", f"payment request: {case}")
    more_than_the_balance = {"payee": served.payee, "amount_minutes": 601}
    answer = httpx.post(
        f"{served.base}{TRANSFERS}", json=more_than_the_balance, headers=_member(served)
    )
    assert_problem(answer, 422, "exceeds_balance", "more than the balance")
    assert journal_sizes(served) == before


def test_bodies_that_are_too_big_not_utf8_too_deep_or_unexpected_are_refused(
    served: Served,
) -> None:
    before = journal_sizes(served)
    json_type = {"Content-Type": "application/json"}
    megabyte = b'{"payee": "' + b"x" * (1 << 20) + b'", "amount_minutes": 1}'
    not_utf8 = b'{"payee": "\xff\xfe\xc3", "amount_minutes": 1}'
    deep = b'{"payee": ' * 1_000 + b"1" + b"}" * 1_000
    payee = served.payee.encode()
    surrogate = b'{"payee": "' + payee + b'", "amount_minutes": 1, "memo": "\\ud800"}'
    duplicate_keys = b'{"amount_minutes": 1, "amount_minutes": "1"}'
    cases: list[tuple[str, bytes, int, str]] = [
        ("one megabyte", megabyte, 413, "request_too_large"),
        ("invalid UTF-8", not_utf8, 422, "request_invalid"),
        ("lone surrogate escape", surrogate, 422, "request_invalid"),
        ("deep nesting", deep, 422, "json_too_deep"),
        ("not JSON", b"{payee: 1", 422, "request_invalid"),
        ("empty", b"", 422, "request_invalid"),
        ("a number", b"7", 422, "request_invalid"),
        ("duplicate keys, no payee", duplicate_keys, 422, "request_invalid"),
    ]  # fmt: skip
    for case, content, status, code in cases:
        headers = {**_member(served), **json_type}
        answer = httpx.post(f"{served.base}{TRANSFERS}", content=content, headers=headers)
        assert_problem(answer, status, code, case)
    unknown = {"payee": served.payee, "amount_minutes": 1, "fee_minutes": 0}
    answer = httpx.post(f"{served.base}{TRANSFERS}", json=unknown, headers=_member(served))
    assert_problem(answer, 422, "request_invalid", "an unknown field")
    bad_key = {**_member(served), "Idempotency-Key": "x" * (limits.IDEMPOTENCY_KEY_LENGTH_MAX + 1)}
    body = {"payee": served.payee, "amount_minutes": 1}
    answer = httpx.post(f"{served.base}{TRANSFERS}", json=body, headers=bad_key)
    assert_problem(answer, 422, "request_invalid", "an idempotency key too long")
    assert journal_sizes(served) == before


def test_ids_from_another_community_are_not_found(served: Served) -> None:
    before = journal_sizes(served)
    foreign = served.others.other_member
    transfer = {"payee": foreign, "amount_minutes": 5}
    cases = [
        # The ledger's own rejection: the payee is no account of this community's journal.
        ("pay a member of another community", "POST", TRANSFERS, transfer, 422,
         "payee_not_found"),
        ("read an account of another community", "GET", f"/api/v1/accounts/{foreign}", None,
         404, "account_not_found"),
        ("pay a request of another community", "POST",
         f"{REQUESTS}/{served.others.other_request}/pay", {}, 404, "payment_request_not_found"),
    ]  # fmt: skip
    for case, method, path, body, status, code in cases:
        answer = httpx.request(
            method, f"{served.base}{path}", json=body, headers=_member(served, 2)
        )
        assert_problem(answer, status, code, case)
    assert journal_sizes(served) == before


def test_expired_revoked_and_forged_tokens_are_refused(served: Served) -> None:
    before = journal_sizes(served)
    real = served.seeded.member_tokens[0]
    forged = real[:-1] + ("A" if real[-1] != "A" else "B")
    tokens = {
        "expired": (served.others.expired_token, "token_expired"),
        "revoked": (served.others.revoked_token, "not_authenticated"),
        "forged": (forged, "not_authenticated"),
        "made up": ("x" * 43, "not_authenticated"),
        "too long": ("x" * 10_000, "not_authenticated"),
    }
    for case, (token, code) in tokens.items():
        for method, path, body in (
            ("GET", "/api/v1/me", None),
            ("POST", TRANSFERS, {"payee": served.payee, "amount_minutes": 1}),
        ):
            headers = {**_bearer(token), "Idempotency-Key": str(uuid.uuid4())}
            answer = httpx.request(method, f"{served.base}{path}", json=body, headers=headers)
            assert_problem(answer, 401, code, f"{case} token, {method} {path}")
            assert token not in answer.text
    assert journal_sizes(served) == before


def test_a_paid_qr_payment_request_cannot_be_paid_again(served: Served) -> None:
    shop = {**_bearer(served.seeded.shop_token), "Idempotency-Key": str(uuid.uuid4())}
    made = httpx.post(f"{served.base}{REQUESTS}", json={"amount_minutes": 7}, headers=shop)
    assert made.status_code == 201, made.text
    pay = f"{served.base}{REQUESTS}/{made.json()['id']}/pay"
    paid = httpx.post(pay, json={}, headers=_member(served, 0))
    assert paid.status_code == 200, paid.text
    before = journal_sizes(served, covering=paid.json()["seq"] + 1)

    again = httpx.post(pay, json={}, headers=_member(served, 0))
    by_another = httpx.post(pay, json={}, headers=_member(served, 1))
    unknown = httpx.post(
        f"{served.base}{REQUESTS}/{'A' * 26}/pay", json={}, headers=_member(served, 1)
    )

    assert again.status_code < 500 and again.json().get("entry_id") == paid.json()["entry_id"]
    assert_problem(by_another, 409, "payment_request_paid", "paid by another member")
    assert_problem(unknown, 404, "payment_request_not_found", "an unknown payment request")
    assert journal_sizes(served) == before


def test_a_pay_code_pays_once(served: Served) -> None:
    token = served.seeded.welcome_path.rsplit("/", 1)[1]
    device = httpx.post(
        f"{served.base}/api/v1/enrolment/redeem",
        json={"token": token},
        headers={"Idempotency-Key": "phone"},
    )
    assert device.status_code == 201, device.text
    phone = _bearer(device.json()["session_token"])
    code = httpx.get(f"{served.base}/api/v1/pay-codes/device", headers=phone).json()["code"]
    redeem = f"{served.base}/api/v1/pay-codes/redeem"

    def take(pay_code: str) -> httpx.Response:
        headers = {**_bearer(served.seeded.shop_token), "Idempotency-Key": str(uuid.uuid4())}
        return httpx.post(redeem, json={"code": pay_code, "amount_minutes": 3}, headers=headers)

    first = take(code)
    assert first.status_code == 201, first.text
    before = journal_sizes(served, covering=first.json()["seq"] + 1)
    replayed = take(code)
    malformed = take("12345")

    assert_problem(replayed, 409, "pay_code_used", "a used pay code")
    assert_problem(malformed, 422, "request_invalid", "a malformed pay code")
    assert journal_sizes(served) == before
