"""A real server for end-to-end tests: ``buurtmunt serve`` in a child process, over real HTTP.

``seed`` sets up a community the way an operator would (a shop with staff, a
member with a welcome link, funded by an organisation) straight through the
services; ``serving`` runs the command a deployment runs and waits for
``/health``; ``sse`` reads a server-sent event stream as it arrives.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from api import bootstrap, provisioning
from api.access import Role
from api.runtime import open_runtime
from api.settings import Settings
from ledger.model import AccountType
from ledger.model import Settings as LedgerSettings
from ledger.note import generate_signer

ROOT = Path(__file__).resolve().parents[2]
COMMUNITY = "oost"
START_SECONDS = 30


@dataclass(frozen=True, slots=True)
class Seeded:
    env: dict[str, str]
    shop: str
    shop_token: str
    member_accounts: list[str]
    member_tokens: list[str]
    welcome_path: str  # the first member's enrolment link, as a path


def server_env(database_url: str, public_url: str) -> dict[str, str]:
    return {
        "BUURTMUNT_DATABASE_URL": database_url,
        "BUURTMUNT_SIGNING_KEY": generate_signer("buurtmunt.test").key_string(),
        "BUURTMUNT_PUBLIC_URL": public_url,
        "BUURTMUNT_RATE_LIMIT_PER_MINUTE": "1000000",
        "BUURTMUNT_EVENT_HEARTBEAT_SECONDS": "5",
    }


async def seed(env: dict[str, str], members: int, funds_minutes: int) -> Seeded:
    """A community ``oost`` with one shop (and its staff's token) and ``members`` funded members."""
    settings = Settings.from_env(env)
    async with open_runtime(settings) as rt:
        operator = await bootstrap.cli_operator(rt)
        actor = operator.staff_id or "cli"
        await provisioning.create_community(
            rt, slug=COMMUNITY, name="Oost", currency_name="Makkie",
            settings=LedgerSettings(True, None), actor=actor, plan=provisioning.community_plan(),
        )  # fmt: skip
        org = await provisioning.open_named_account(
            rt, COMMUNITY, AccountType.ORGANISATION, "Buurthuis", actor,
            provisioning.account_plan(AccountType.ORGANISATION),
            budget_minutes_per_month=members * funds_minutes,
        )  # fmt: skip
        shop = await provisioning.open_named_account(
            rt, COMMUNITY, AccountType.SHOP, "Slagerij", actor,
            provisioning.account_plan(AccountType.SHOP),
        )  # fmt: skip
        staff = await bootstrap.person_for_token(
            rt, role=Role.SHOP, community=COMMUNITY, name="Piet", scope=shop.account_id
        )
        _, shop_token = await bootstrap.issue_token(rt, staff, Role.SHOP, "till")
        accounts, tokens, welcome = [], [], ""
        for index in range(members):
            person, account, token = await bootstrap.funded_member(
                rt, COMMUNITY, f"Member {index}", org.account_id, funds_minutes, actor
            )
            accounts.append(account)
            tokens.append(token)
            if index == 0:
                _, link = await provisioning.issue_enrolment_link(rt, person, actor)
                welcome = "/" + link.split("/", 3)[3]
    return Seeded(env, shop.account_id, shop_token, accounts, tokens, welcome)


_GIVEN_PORTS: set[int] = set()


def free_port() -> int:
    """A port nothing listens on, never one this test run was given before: two
    calls in a row (two servers started together) would otherwise get the same
    port about once in ten thousand pairs."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
        if port not in _GIVEN_PORTS:
            _GIVEN_PORTS.add(port)
            return port


@contextmanager
def serving(
    env: dict[str, str], port: int, workers: int = 1, log: Path | None = None
) -> Iterator[str]:
    """``buurtmunt serve`` on ``port`` until the block ends; yields its base URL.

    With ``log``, its log (one line per request included) goes to that file."""
    command = [
        sys.executable, "-m", "api.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
        "--workers", str(workers), *([] if log else ["--no-access-log"]),
    ]  # fmt: skip
    stderr = None if log is None else log.open("ab")
    server = subprocess.Popen(command, env={**os.environ, **env}, cwd=ROOT, stderr=stderr)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            try:
                with urllib.request.urlopen(f"{base}/ready", timeout=1):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the server on port {port} did not start") from None
                time.sleep(0.1)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        if stderr is not None:
            stderr.close()


async def sse(response: httpx.Response) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """The (event, data) pairs of a streaming server-sent event response, as they come."""
    kind, data = "", ""
    async for line in response.aiter_lines():
        if line.startswith("event: "):
            kind = line[len("event: ") :]
        elif line.startswith("data: "):
            data = line[len("data: ") :]
        elif line == "" and kind:
            yield kind, json.loads(data or "{}")
            kind, data = "", ""
