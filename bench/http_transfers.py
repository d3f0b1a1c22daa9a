"""HTTP benchmark: POST /api/v1/transfers against a bare Litestar JSON POST, same server.

Seeds a deployment (SQLite, or PostgreSQL with ``--database``) with many funded
members (each with an API token), serves the app with uvicorn (``--workers``
processes, 1 by default, as ``buurtmunt serve --workers N`` runs it;
uvloop/httptools when installed, no uvicorn access log; the app's own JSON line
per request goes to a file) on a free loopback port, and
drives it with wrk at 64 connections: every request is a transfer from one
member to the next with its own Idempotency-Key, so members keep trading and
nobody runs out. Beside it, it serves a bare Litestar app (one JSON POST
endpoint) with as many workers and drives it the same way. The two take turns,
in rounds of a few seconds each, so that a stretch when the machine is slower
does not fall on one side only. Throughput is all requests over all seconds;
latency the median round's. Prints a table and, as the last line, one JSON
object.

With two cores or more and one worker, the server runs on core 0 and wrk on
core 1 (taskset), so the figures say what the server can do rather than how the
two shared a core; with more workers nothing is pinned (the workers, wrk and,
for PostgreSQL, the database server share the machine). Besides wrk's
latencies (from request sent to response read), each server records how long
its app took per request (from the ASGI call to the last byte handed to
uvicorn), so a tail outside the app shows as the difference. Each endpoint's CPU
time per request is measured over the same rounds from /proc: its server's
processes (``cpu µs``) and, on PostgreSQL, the backends connected to its
database (``db µs``); on a shared machine these move less than req/s.

    .venv/bin/python bench/http_transfers.py [--seconds 5] [--rounds 3] [--connections 64]
        [--database sqlite,postgresql://postgres@127.0.0.1:5432/test] [--workers 1,2]
        [--communities 4] [--without-leases] [--ceiling]

``--database`` and ``--workers`` take comma-separated lists: every database is
served with every number of workers, and each number of workers also serves the
bare endpoint, all in the same rounds. Every configuration serves a database of
its own, seeded alike: ``sqlite`` is a file in a temp dir; a PostgreSQL URL names
a server, where the benchmark creates (and drops first) a database
``bm_bench_http_<n>`` for each. ``--communities N`` spreads the
members over N communities (each transfer stays within one). With more than one
worker, each community is written by the worker holding its lease
(``api.leases``); ``--without-leases`` also serves each such configuration with
every worker writing to every community, for an A/B in the same rounds.
``--ceiling`` also serves each such configuration as that many one-worker
servers (unpinned), each holding its share of the leases and driven by a wrk
of its own that sends only the transfers of its communities: no draft is
handed to another process, so the row says what the workers could give on
this machine if handing drafts over cost nothing.

Needs ``wrk`` (Debian: apt-get install wrk). Targets: at least 40% of the bare
endpoint's throughput, p99 at most 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import machine
import msgspec

ROOT = machine.ROOT

TARGET_RATIO = 0.40
TARGET_P99_MS = 50.0
FUNDING_MINUTES = 300_000
COMMUNITY = "bench"
# PostgreSQL connections per worker (and half as many more in bursts).
POOL_SIZE = 8

LUA = r"""
local accounts = {%(accounts)s}
local payees = {%(payees)s}
local tokens = {%(tokens)s}
local counter = 0
local thread_id = 0
local run = ""
local threads = {}

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

-- Each run of wrk passes a token of its own, so that no round sends a key an
-- earlier one sent: every request is a new transfer, never a retry.
function init(args)
  run = args[1]
  thread_id = tonumber(wrk.thread:get("id"))
  counter = thread_id * 7919
end

function request()
  counter = counter + 1
  local payer = (counter %% #accounts) + 1
  local body = '{"payee":"' .. accounts[payees[payer]] .. '","amount_minutes":1}'
  local headers = {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. tokens[payer],
    ["Idempotency-Key"] = run .. "-" .. thread_id .. "-" .. counter,
  }
  return wrk.format("POST", "/api/v1/transfers", headers, body)
end
"""

BARE_LUA = r"""
wrk.method = "POST"
wrk.body = '{"payee":"mbr_aaaaaaaaaaaaaaaa","amount_minutes":1}'
wrk.headers["Content-Type"] = "application/json"
"""


class BareBody(msgspec.Struct):
    payee: str
    amount_minutes: int


def bare_app() -> Any:
    """The baseline: one Litestar JSON POST endpoint, nothing else (a uvicorn factory)."""
    from litestar import Litestar, post

    @post("/echo")
    async def echo(data: BareBody) -> dict[str, Any]:
        return {"payee": data.payee, "amount_minutes": data.amount_minutes, "ok": True}

    return timed(Litestar([echo], openapi_config=None))


def transfers_app() -> Any:
    """The real app, as ``buurtmunt serve`` builds it (a uvicorn factory)."""
    from api.app import app_from_environment

    return timed(app_from_environment())


def timed(app: Any) -> Any:
    """``app``, recording (end, seconds) per HTTP request, written to $BENCH_TIMES at shutdown."""
    times: list[tuple[float, float]] = []
    clock = time.time

    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return await app(scope, receive, _writing_at_shutdown(send, times))  # type: ignore[no-any-return]
        started = clock()

        async def timed_send(message: Any) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                end = clock()
                times.append((end, end - started))

        await app(scope, receive, timed_send)

    return wrapped


def _writing_at_shutdown(send: Any, times: list[tuple[float, float]]) -> Any:
    async def lifespan_send(message: Any) -> None:
        if message["type"] == "lifespan.shutdown.complete":
            # One file per worker process: BENCH_TIMES is a prefix.
            Path(f"{os.environ['BENCH_TIMES']}.{os.getpid()}.json").write_text(json.dumps(times))
        await send(message)

    return lifespan_send


async def seed(env: dict[str, str], members: int, communities: int) -> tuple[list[str], list[str]]:
    """``members`` funded members (with tokens) spread round the ``communities``, in order."""
    os.environ.update(env)
    from api import bootstrap, provisioning
    from api.runtime import open_runtime
    from api.settings import Settings
    from ledger import limits
    from ledger.model import AccountType
    from ledger.model import Settings as LedgerSettings

    accounts, tokens = [], []
    async with open_runtime(Settings.from_env()) as rt:
        operator = await bootstrap.cli_operator(rt)
        actor = operator.staff_id or "cli"
        banks = []
        for slug in community_slugs(communities):
            await provisioning.create_community(
                rt, slug=slug, name="Bench", currency_name="Buurtmunt",
                settings=LedgerSettings(True, None), actor=actor,
                plan=provisioning.community_plan(),
            )  # fmt: skip
            org = await provisioning.open_named_account(
                rt, slug, AccountType.ORGANISATION, "Bank", actor,
                provisioning.account_plan(AccountType.ORGANISATION),
                budget_minutes_per_month=limits.BUDGET_MINUTES_PER_MONTH_MAX,
            )  # fmt: skip
            banks.append((slug, org.account_id))
        for index in range(members):
            slug, bank = banks[index % communities]
            _, account, token = await bootstrap.funded_member(
                rt, slug, f"Member {index}", bank, FUNDING_MINUTES, actor
            )
            accounts.append(account)
            tokens.append(token)
    return accounts, tokens


def community_slugs(communities: int) -> list[str]:
    return [COMMUNITY] if communities == 1 else [f"{COMMUNITY}-{n}" for n in range(communities)]


def payees(members: int, communities: int) -> list[int]:
    """For each member (1-based, as Lua counts), whom they pay: the next member of their
    own community (members are dealt round the communities in turn)."""
    return [(i + communities) % members + 1 for i in range(members)]


async def fresh_postgres(url: str, name: str) -> str:
    """``url`` with its database replaced by ``name``, dropped and created empty."""
    import asyncpg

    admin = await asyncpg.connect(url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return urlsplit(url)._replace(path="/" + name).geturl()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def serve(
    target: str, port: int, env: dict[str, str], app_dir: Path, workers: int, pinned: bool
) -> subprocess.Popen[bytes]:
    command = [
        sys.executable, "-m", "uvicorn", target, "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
        "--no-access-log", "--log-level", "warning", "--app-dir", str(app_dir),
    ]  # fmt: skip
    prefix = pin(0) if pinned else []
    # The server's log (a JSON line per request) goes to a file, as in a deployment.
    log = Path(env["BENCH_TIMES"]).with_suffix(".log").open("ab")
    server = subprocess.Popen([*prefix, *command], env={**os.environ, **env}, cwd=ROOT, stderr=log)
    log.close()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1):
                return server
        except OSError as error:
            if getattr(error, "code", None) == 404:  # the bare app has no /health: it is up
                return server
            time.sleep(0.1)
    server.kill()
    raise RuntimeError(f"{target} did not start")


def pin(core: int) -> list[str]:
    """A command prefix that keeps a process on one core, when there are two to share."""
    if (os.cpu_count() or 1) >= 2 and shutil.which("taskset"):
        return ["taskset", "-c", str(core)]
    return []


def drive(
    url: str, script: Path, seconds: int, connections: int, pinned: bool = True
) -> dict[str, float]:
    command = [*(pin(1) if pinned else []),
        # One load-generator thread, on the core the server does not use.
        "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s",
        "-s", str(script), url, "--", f"r{time.time_ns()}",
    ]  # fmt: skip
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    done = re.search(r"(\d+) requests in ([\d.]+)(ms|s)", out)
    assert done is not None, out
    requests, took = float(done.group(1)), _ms(done.group(2) + done.group(3)) / 1000
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    return {
        "rps": rps,
        "requests": requests,
        "seconds": took,
        "p50_ms": p50,
        "p99_ms": p99,
        "non_2xx": float(bad.group(1)) if bad else 0.0,
        "socket_errors": 1.0 if errors else 0.0,
    }


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


@dataclass
class Endpoint:
    name: str
    target: str  # the uvicorn factory
    path: str
    script: Path
    workers: int = 1
    env: dict[str, str] = field(default_factory=dict)  # on top of the common environment
    # ``--ceiling``: one single-worker server per script, each sent only the
    # transfers of the communities it holds (their slugs beside its script).
    own: list[tuple[Path, list[str]]] = field(default_factory=list)
    rounds: list[dict[str, float]] = field(default_factory=list)
    windows: list[tuple[float, float]] = field(default_factory=list)
    in_app: dict[str, float] = field(default_factory=dict)  # the app's own times, all rounds
    refused: dict[str, int] = field(default_factory=dict)  # "status route" -> requests
    # CPU seconds over the rounds: the server's processes, and PostgreSQL's backends
    # serving its database (load-independent enough to compare when req/s are noisy).
    cpu_seconds: float = 0.0
    db_cpu_seconds: float = 0.0


@dataclass(frozen=True)
class Load:
    """One wrk run's target: a URL, its script and its share of the connections."""

    url: str
    script: Path
    connections: int


def is_pinned(endpoint: Endpoint) -> bool:
    """One worker on a core of its own (and wrk on the other); anything more shares both."""
    return endpoint.workers == 1 and not endpoint.own


def drive_all(loads: list[Load], seconds: int, pinned: bool) -> dict[str, float]:
    """wrk against every load at once; their requests together, the slowest p50 and p99."""
    if len(loads) == 1:
        load = loads[0]
        return drive(load.url, load.script, seconds, load.connections, pinned)
    with ThreadPoolExecutor(len(loads)) as pool:
        runs = list(pool.map(
            lambda load: drive(load.url, load.script, seconds, load.connections, pinned), loads
        ))  # fmt: skip
    return {
        "rps": sum(r["rps"] for r in runs),
        "requests": sum(r["requests"] for r in runs),
        "seconds": max(r["seconds"] for r in runs),
        "p50_ms": max(r["p50_ms"] for r in runs),
        "p99_ms": max(r["p99_ms"] for r in runs),
        "non_2xx": sum(r["non_2xx"] for r in runs),
        "socket_errors": max(r["socket_errors"] for r in runs),
    }


def held_by(pid: int, communities: list[str], lease_directory: str) -> None:
    """Wait until server ``pid`` holds the leases of ``communities``; fail if it does not."""
    from api.leases import holder_pid

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        holders = {c: holder_pid(Path(lease_directory), c) for c in communities}
        if all(holder in process_tree(pid) for holder in holders.values()):
            return
        time.sleep(0.1)
    raise RuntimeError(f"server {pid} was to hold {communities}; the holders are {holders}")


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU time used so far by ``pids`` (those still running)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (uvicorn's workers)."""
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [pid] + [p for child in children.split() for p in process_tree(int(child))]


def backends(url: str | None) -> list[int]:
    """The pids of PostgreSQL's backends connected to ``url``'s database (none for SQLite)."""
    if url is None or not url.startswith("postgres"):
        return []
    import asyncpg

    async def pids() -> list[int]:
        conn = await asyncpg.connect(url)
        try:
            query = "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            return [row[0] for row in await conn.fetch(query)]
        finally:
            await conn.close()

    return asyncio.run(pids())


def refusals(log: Path) -> dict[str, int]:
    """Requests the server did not answer with 2xx, by status and route, from its log."""
    counts: dict[str, int] = {}
    if not log.exists():
        return counts
    for line in log.read_text(errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            status = record.get("status") if isinstance(record, dict) else None
            if isinstance(status, int) and status >= 300:
                key = f"{status} {record.get('message', '')}"[:120]
                counts[key] = counts.get(key, 0) + 1
            elif isinstance(record, dict) and record.get("level") in ("WARNING", "ERROR"):
                cause = str(record.get("exception", "")).strip().splitlines()[-1:]
                key = f"{record['level']} {record.get('message', '')} {''.join(cause)}"[:240]
                counts[key] = counts.get(key, 0) + 1
    return counts


def measure(endpoints: list[Endpoint], env: dict[str, str], args: argparse.Namespace) -> None:
    """Serve every endpoint at once and drive them in turn, ``args.rounds`` times.

    Taking turns in short rounds, rather than one long run each, keeps a
    machine that is slower for a while from landing on one side only.
    """
    servers: list[tuple[Endpoint, list[subprocess.Popen[bytes]], list[Load], Path]] = []
    try:
        for number, endpoint in enumerate(endpoints):
            times = endpoint.script.parent / f"endpoint-{number}.times"
            endpoint_env = {**env, **endpoint.env, "BENCH_TIMES": str(times)}
            procs, loads = [], []
            # One server with the endpoint's workers, or (``--ceiling``) one single-worker
            # server per share of the communities, started in turn so that each takes
            # the next lease slot and with it the communities that slot prefers.
            for script, communities in endpoint.own or [(endpoint.script, [])]:
                port = free_port()
                procs.append(serve(
                    endpoint.target, port, endpoint_env, Path(__file__).parent,
                    endpoint.workers if not endpoint.own else 1, pinned=is_pinned(endpoint),
                ))  # fmt: skip
                if communities:
                    held_by(procs[-1].pid, communities, endpoint.env["BUURTMUNT_LEASE_DIRECTORY"])
                connections = args.connections // max(1, len(endpoint.own))
                loads.append(Load(f"http://127.0.0.1:{port}{endpoint.path}", script, connections))
            servers.append((endpoint, procs, loads, times))
        for endpoint, _, loads, _ in servers:
            drive_all(loads, 2, is_pinned(endpoint))  # warm up
        for _ in range(args.rounds):
            for endpoint, procs, loads, _ in servers:
                pids = [pid for proc in procs for pid in process_tree(proc.pid)]
                db_pids = backends(endpoint.env.get("BUURTMUNT_DATABASE_URL"))
                cpu, db_cpu = cpu_seconds(pids), cpu_seconds(db_pids)
                started = time.time()
                endpoint.rounds.append(drive_all(loads, args.seconds, is_pinned(endpoint)))
                endpoint.windows.append((started, time.time()))
                endpoint.cpu_seconds += cpu_seconds(pids) - cpu
                endpoint.db_cpu_seconds += cpu_seconds(db_pids) - db_cpu
    finally:
        for _, procs, _, _ in servers:
            for proc in procs:
                proc.terminate()
                proc.wait(timeout=30)
    for endpoint, _, _, times in servers:
        endpoint.refused = refusals(times.with_suffix(".log"))
        ended = [
            pair
            for path in times.parent.glob(times.name + ".*.json")
            for pair in json.loads(path.read_text())
        ]
        in_app = sorted(d for end, d in ended if any(a <= end <= b for a, b in endpoint.windows))
        endpoint.in_app = {
            "app_p50_ms": round(in_app[len(in_app) // 2] * 1000, 2),
            "app_p99_ms": round(in_app[int(len(in_app) * 0.99)] * 1000, 2),
        }


def summary(endpoint: Endpoint) -> dict[str, Any]:
    """All rounds together: requests over seconds, the median round's latencies."""
    rounds = endpoint.rounds
    requests = sum(r["requests"] for r in rounds) or 1.0
    return {
        "rps": sum(r["requests"] for r in rounds) / sum(r["seconds"] for r in rounds),
        "cpu_us_per_request": round(endpoint.cpu_seconds / requests * 1e6),
        "db_cpu_us_per_request": round(endpoint.db_cpu_seconds / requests * 1e6),
        "p50_ms": statistics.median(r["p50_ms"] for r in rounds),
        "p99_ms": statistics.median(r["p99_ms"] for r in rounds),
        "p99_ms_rounds": [r["p99_ms"] for r in rounds],
        "non_2xx": sum(r["non_2xx"] for r in rounds),
        "refused": endpoint.refused,
        **endpoint.in_app,
    }


def engine_of(database: str) -> str:
    return "sqlite" if database == "sqlite" else "postgresql"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5, help="per round and endpoint")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--members", type=int, default=256)
    parser.add_argument(
        "--workers", default="1", help="uvicorn worker processes, comma-separated (1,2)"
    )
    parser.add_argument(
        "--database", default="sqlite",
        help="comma-separated: sqlite (a temp file) and/or a PostgreSQL URL (postgresql://...)",
    )  # fmt: skip
    parser.add_argument("--communities", type=int, default=1, help="members spread over N")
    parser.add_argument(
        "--without-leases", action="store_true",
        help="also serve each several-worker configuration with every worker writing everywhere",
    )  # fmt: skip
    parser.add_argument(
        "--ceiling", action="store_true",
        help="also serve each several-worker configuration as that many one-worker servers, "
        "each sent only the transfers of the communities whose lease it holds (no hand-off)",
    )  # fmt: skip
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    from ledger.note import generate_signer

    if args.members % args.communities:
        parser.error("--members must be a multiple of --communities")
    workers = [int(w) for w in args.workers.split(",")]
    databases = args.database.split(",")
    with tempfile.TemporaryDirectory(prefix="bench-http-") as tmp:
        env = {
            "BUURTMUNT_SIGNING_KEY": generate_signer("bench.local").key_string(),
            "BUURTMUNT_PUBLIC_URL": "http://bench.local",
            "BUURTMUNT_RATE_LIMIT_PER_MINUTE": "100000000",
        }
        endpoints: list[Endpoint] = []
        for database in databases:
            for count in workers:
                variants = [("", str(count))]
                if count > 1 and args.without_leases:
                    variants.append((" no leases", "1"))
                if count > 1 and args.ceiling:
                    variants.append((" own", str(count)))
                for label, lease_workers in variants:
                    number = len(endpoints)
                    shares = count if label == " own" else 0
                    url, script, own = seeded(database, number, tmp, env, args, shares)
                    endpoints.append(Endpoint(
                        f"transfers {engine_of(database)} {count}w{label}",
                        "http_transfers:transfers_app", "/api/v1/transfers", script, count,
                        {
                            "BUURTMUNT_DATABASE_URL": url,
                            # As ``buurtmunt serve --workers`` sets it (1: no leases).
                            "BUURTMUNT_WORKERS": lease_workers,
                            "BUURTMUNT_LEASE_DIRECTORY": f"{tmp}/l{number}",
                            # Every server stays up through all rounds: keep their
                            # pools within PostgreSQL's max_connections (100).
                            "BUURTMUNT_DATABASE_POOL_SIZE": str(POOL_SIZE),
                        },
                        own,
                    ))  # fmt: skip
        bare_script = Path(tmp) / "bare.lua"
        bare_script.write_text(BARE_LUA)
        for count in workers:
            endpoints.append(
                Endpoint(f"bare {count}w", "http_transfers:bare_app", "/echo", bare_script, count)
            )
        measure(endpoints, env, args)
        rows = {endpoint.name: summary(endpoint) for endpoint in endpoints}
    return report(rows, args, workers, databases)


def seeded(
    database: str,
    number: int,
    tmp: str,
    env: dict[str, str],
    args: argparse.Namespace,
    shares: int = 0,
) -> tuple[str, Path, list[tuple[Path, list[str]]]]:
    """A database of endpoint ``number``'s own, seeded, and the wrk script that drives it;
    with ``shares``, also a script per share of the communities (for ``--ceiling``).

    Each endpoint has its own: servers that shared one would take turns moving
    each other's journal (and, on PostgreSQL, vacuuming it) while idle."""
    url = (
        f"sqlite:///{tmp}/bench-{number}.db"
        if database == "sqlite"
        else asyncio.run(fresh_postgres(database, f"bm_bench_http_{number}"))
    )
    started = time.perf_counter()
    accounts, tokens = asyncio.run(
        seed({**env, "BUURTMUNT_DATABASE_URL": url}, args.members, args.communities)
    )
    print(
        f"seeded {len(accounts)} members in {args.communities} communities on "
        f"{engine_of(database)} in {time.perf_counter() - started:.1f} s",
        file=sys.stderr,
    )
    script = Path(tmp) / f"transfers-{number}.lua"
    write_script(script, accounts, tokens, args.communities)
    from api.leases import preferred_slots

    own = []
    slugs = community_slugs(args.communities)
    slots = preferred_slots(slugs, shares) if shares else {}
    for share in range(shares):
        # The communities lease slot ``share`` prefers, and their members (member i
        # belongs to the community i % communities).
        mine = [slug for slug in slugs if slots[slug] == share]
        members = [i for i in range(len(accounts)) if slugs[i % args.communities] in mine]
        own_script = Path(tmp) / f"transfers-{number}-{share}.lua"
        write_script(
            own_script, [accounts[i] for i in members], [tokens[i] for i in members], len(mine)
        )
        own.append((own_script, mine))
    return url, script, own


def write_script(script: Path, accounts: list[str], tokens: list[str], communities: int) -> None:
    """wrk's script for transfers among ``accounts``, dealt round ``communities`` in turn."""
    script.write_text(
        LUA % {
            "accounts": ",".join(f'"{a}"' for a in accounts),
            "payees": ",".join(map(str, payees(len(accounts), communities))),
            "tokens": ",".join(f'"{t}"' for t in tokens),
        }
    )  # fmt: skip


def report(
    rows: dict[str, dict[str, Any]],
    args: argparse.Namespace,
    workers: list[int],
    databases: list[str],
) -> int:
    print(f"communities: {args.communities}; connections: {args.connections}; "
          f"load average: {os.getloadavg()[0]:.2f}")  # fmt: skip
    print(
        f"{'endpoint':<34}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'in-app p50':>12}{'in-app p99':>12}{'non-2xx':>9}{'/bare':>7}{'cpu µs':>8}{'db µs':>7}"
    )
    ok = True
    for name, row in rows.items():
        bare = rows[f"bare {name.split()[2] if name.startswith('transfers') else name.split()[1]}"]
        ratio = row["rps"] / bare["rps"] if bare["rps"] else 0.0
        row["ratio_to_bare"] = round(ratio, 3)
        print(
            f"{name:<34}{row['rps']:>8.0f}{row['p50_ms']:>9.2f}{row['p99_ms']:>9.2f}"
            f"{row['app_p50_ms']:>12.2f}{row['app_p99_ms']:>12.2f}{row['non_2xx']:>9.0f}"
            f"{ratio:>7.2f}{row['cpu_us_per_request']:>8}{row['db_cpu_us_per_request']:>7}"
        )
        if name.startswith("transfers"):
            ok = ok and row["p99_ms"] <= TARGET_P99_MS and row["non_2xx"] == 0
            ok = ok and ratio >= TARGET_RATIO
    engines = [engine_of(d) for d in databases]
    comparisons = {}
    if "sqlite" in engines and "postgresql" in engines and 1 in workers:
        pg, lite = rows["transfers postgresql 1w"]["rps"], rows["transfers sqlite 1w"]["rps"]
        comparisons["postgresql_1w_over_sqlite_1w"] = round(pg / lite, 3)
    for engine in engines:
        for count in workers:
            if count > 1 and 1 in workers:
                more = rows[f"transfers {engine} {count}w"]["rps"]
                one = rows[f"transfers {engine} 1w"]["rps"]
                comparisons[f"{engine}_{count}w_over_1w"] = round(more / one, 3)
                own = rows.get(f"transfers {engine} {count}w own")
                if own is not None:
                    comparisons[f"{engine}_{count}w_own_over_1w"] = round(own["rps"] / one, 3)
                    comparisons[f"{engine}_{count}w_over_{count}w_own"] = round(
                        more / own["rps"], 3
                    )
                before = rows.get(f"transfers {engine} {count}w no leases")
                if before is not None:
                    comparisons[f"{engine}_{count}w_leases_over_no_leases"] = round(
                        more / before["rps"], 3
                    )
    for name, value in comparisons.items():
        print(f"{name}: {value:.2f}")
    for name, row in rows.items():
        for what, count in sorted(row["refused"].items(), key=lambda item: -item[1])[:5]:
            print(f"{name}: {count} x {what}")
    print(f"targets (p99 <= {TARGET_P99_MS} ms, >= {TARGET_RATIO} of bare, no errors): "
          f"{'met' if ok else 'NOT met'}")  # fmt: skip
    print(json.dumps({
        "benchmark": "http_transfers", "connections": args.connections,
        "seconds_per_round": args.seconds, "rounds": args.rounds,
        "members": args.members, "communities": args.communities,
        "machine": machine.describe(), "load_average": os.getloadavg(),
        "rows": {name: {k: v for k, v in row.items() if k != "p99_ms_rounds"} | {
            "rps": round(row["rps"], 1)} for name, row in rows.items()},
        "comparisons": comparisons, "target_ratio": TARGET_RATIO,
        "target_p99_ms": TARGET_P99_MS, "met": ok,
    }))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
