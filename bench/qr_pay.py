"""HTTP benchmark: shops' payment requests paid by QR while each request's event stream is open.

Seeds a community (one shop with a staff token, funded members with tokens)
through the services, serves the app with uvicorn (1 worker, uvloop/httptools,
no access log) on a free loopback port, and drives it from this process with a
small raw HTTP/1.1 client on asyncio (uvloop), light enough to hold thousands
of streams on one core:

1. **Pay latency and rate.** In each of three rounds (``--pay-rounds``), the
   shop asks for 500 payments (POST /api/v1/payment-requests), the bench opens
   each request's event stream (500 server-sent event streams held open at
   once), then 64 members pay them (64 tasks, each taking the next request and
   paying it). Per request: from the start of the pay call to the arrival of
   its ``paid`` event on its stream (p50, p95, p99); pays per second over the
   rounds, each from its first pay sent to its last answered. A warm-up set of
   64 requests is paid first, not counted.
2. **Baseline, same server.** POST /api/v1/transfers in a closed loop from the
   same 64 members, in a window before the first round and after each, so that
   a slower stretch of the machine does not fall on one side only.
3. **Memory per event stream.** A second server of the same kind on the same
   database, with a short heartbeat: 2,000 open requests, each stream opened
   and held until its response head and one heartbeat arrived; the server's
   RSS (VmRSS) before and after, over 2,000. Before measuring, 100 streams are
   opened and closed, so that code paths and pools are warm.
4. **A stream's end alone.** As many requests again, each with its stream
   open; the server hands each stream a ``paid`` event with no pay behind it
   (a bench route, as a pay's batch does), a group as large as the payers at a
   time. The server's CPU over those streams is what a stream's end costs, so
   the run shows what pays could reach if a pay cost a transfer and a
   stream's end: CPU per transfer over (CPU per transfer + per stream's end).

The server records, per pay, when its app started and answered, and when it
handed each ``paid`` event to uvicorn (wall clock, like the client), so the
latency splits into: before the app, in the app until the event is sent, and
from there to the client.

With two cores or more, the server runs on core 0 and this client on core 1.
Beside the figures: the server's CPU time per pay and per transfer
(/proc/<pid>/stat), and this client's, so a client-bound run shows; and how
long the server's garbage collector ran in each window (a collection of the
older generations stops the event loop for tens of milliseconds, a tenth of
the short pay window).

Each window pays for the garbage it makes, not for what came before it: just
before a window starts, the server collects every generation (a bench route),
and the bench prints how long that took. Before the pays, that collection is
the one the open streams bring about sooner or later (each holds about 140
objects that the collector walks once on their way to the oldest generation);
left to chance, it fell into the quarter-second pay window in nearly every run.
The bench prints the pays' rate with it charged to them as well.

    .venv/bin/python bench/qr_pay.py [--requests 500] [--payers 64] [--streams 2000]
        [--transfer-seconds 2] [--postgres [URL]]
        [--diagnose] [--py-spy PATH] [--what-if-connections N]

To find out why: ``--diagnose`` counts the server's SQL statements, transactions
and opened sqlite3 connections per pay and per transfer; ``--py-spy`` samples
the server's GIL holder during each window; ``--what-if-connections N``
measures both servers with the store's sqlite3 connections capped at N, all
kept open (an experiment patched into the bench's server processes only; the
code keeps ``SQLITE_IDLE_CONNECTIONS_MAX`` idle and opens more on demand). Each run prints the
commit and a hash of the files on the measured path, as the tree changes.

Targets: paid event p99 at most 100 ms; pays at least 0.8x transfers per
second; at most 50 KB of server memory per open event stream. Prints a table
and, as the last line, one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import machine

ROOT = machine.ROOT

TARGET_P99_MS = 100.0
TARGET_RATIO = 0.8
TARGET_STREAM_KB = 50.0
COMMUNITY = "bench"
FUNDING_MINUTES = 300_000
PRICE_MINUTES = 30
WARM_STREAMS = 100
OPENING_AT_ONCE = 100
EVENT_TIMEOUT_SECONDS = 30.0
POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
FINAL_EVENTS = (b"paid", b"cancelled", b"expired", b"error", b"unavailable")


# -- the server ------------------------------------------------------------------------


def timed_app() -> Any:
    """The real app, recording pay and transfer times and when ``paid`` events leave.

    A uvicorn factory. Records (kind, request id, start, end) in wall-clock
    seconds, written to $BENCH_TIMES at shutdown: ``pay`` and ``transfer`` from
    the ASGI call to the answer's last byte; ``paid`` when the stream's event
    was handed to uvicorn.
    """
    from api.app import app_from_environment

    # Patched before the app (and its store) is made.
    counts = _counting_statements() if os.environ.get("BENCH_DIAGNOSE") else None
    if os.environ.get("BENCH_SQLITE_CONNECTIONS"):
        _cap_sqlite_connections(int(os.environ["BENCH_SQLITE_CONNECTIONS"]))
    app = app_from_environment()
    times: list[tuple[str, str, float, float]] = []
    clock = time.time
    collecting = _collector_seconds()

    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return await app(scope, receive, _writing_at_shutdown(send, times))
        path: str = scope["path"]
        if path == "/__bench/counts":
            return await _send_json(send, counts or {})
        if path == "/__bench/gc":
            return await _send_json(send, collecting)
        if path == "/__bench/collect":
            return await _send_json(send, _collect())
        if path.startswith("/__bench/end/"):
            _end_streams(app, path.rsplit("/", 1)[1].split(","))
            return await _send_json(send, {})
        kind = (
            "pay" if path.endswith("/pay")
            else "paid" if path.endswith("/events")
            else "transfer" if path == "/api/v1/transfers"
            else ""
        )  # fmt: skip
        if not kind:
            return await app(scope, receive, send)
        request_id = path.rsplit("/", 2)[-2]
        started = clock()

        async def timed_send(message: Any) -> None:
            await send(message)
            if message["type"] != "http.response.body":
                return
            if kind == "paid":
                if b"event: paid" in message.get("body", b""):
                    times.append((kind, request_id, started, clock()))
            elif not message.get("more_body"):
                times.append((kind, request_id, started, clock()))

        await app(scope, receive, timed_send)

    return wrapped


def _collector_seconds() -> dict[str, float]:
    """Seconds the cyclic garbage collector has run in this process, by generation
    (``"0"``, ``"1"``, ``"2"``), counted from now: a collection stops the event loop."""
    import gc

    spent = {"0": 0.0, "1": 0.0, "2": 0.0}
    started = [0.0]

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            spent[str(info["generation"])] += time.perf_counter() - started[0]

    gc.callbacks.append(callback)
    return spent


def _collect() -> dict[str, float]:
    """Collect every generation now: how long it took, and how many objects it walked."""
    import gc

    objects = sum(len(gc.get_objects(generation)) for generation in range(3))
    started = time.perf_counter()
    gc.collect()
    return {"seconds": time.perf_counter() - started, "objects": objects}


def _end_streams(app: Any, request_ids: list[str]) -> None:
    """Hand each request's open streams a ``paid`` event, as a pay's batch does, with no
    pay behind it: what follows is a stream's end and nothing else."""
    from api.payment_requests import paid_event

    signals = app.state.runtime.signals
    for request_id in request_ids:
        event = paid_event(request_id, "ent_bench", "Bench", 1, "2026-01-01T00:00:00Z")
        signals.wake(request_id, event)


def _cap_sqlite_connections(most: int) -> None:
    """An experiment (``--what-if-connections``), not the code as it stands: at most
    ``most`` sqlite3 connections (each with its thread), all kept; callers beyond
    that wait for one instead of opening their own."""
    from contextlib import asynccontextmanager

    from ledger.sql import connections

    if hasattr(connections, "SQLITE_CONNECTIONS_MAX"):  # the code caps them itself
        connections.SQLITE_CONNECTIONS_MAX = most
        return
    connections.SQLITE_IDLE_CONNECTIONS_MAX = most  # type: ignore[attr-defined]
    borrowed = connections.SqliteWorkers._borrowed

    @asynccontextmanager
    async def capped(self: Any) -> Any:
        gate = self.__dict__.setdefault("_bench_gate", asyncio.Semaphore(most))
        async with gate, borrowed(self) as worker:
            yield worker

    connections.SqliteWorkers._borrowed = capped  # type: ignore[method-assign]


def _counting_statements() -> dict[str, float]:
    """Count SQL statements by verb and table, and the time spent in each (wall clock).

    Both kinds: through SQLAlchemy (the ORM, the application's tables) and on the
    store's own sqlite3 connections (the journal's writer, ``SqlStore.run``),
    with the transactions those run, the connections they open, and the time a
    write waits for the process's write lock. A diagnosis, not the measurement:
    it costs a few microseconds per statement.
    """
    import threading

    from sqlalchemy import event
    from sqlalchemy.engine import Engine
    from sqlalchemy.pool import Pool

    counts: dict[str, float] = {}
    guard = threading.Lock()
    started: dict[int, float] = {}

    def add(key: str, seconds: float) -> None:
        with guard:
            counts[key] = counts.get(key, 0) + 1
            counts[key + " ms"] = counts.get(key + " ms", 0.0) + seconds * 1000

    def before(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        started[id(cursor)] = time.perf_counter()

    def after(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        add("orm " + _statement_name(statement), time.perf_counter() - started.pop(id(cursor)))

    def connected(*_: Any) -> None:
        add("orm connection opened", 0.0)

    event.listen(Engine, "before_cursor_execute", before)
    event.listen(Engine, "after_cursor_execute", after)
    event.listen(Pool, "connect", connected)
    _count_fast_path(add)
    return counts


def _statement_name(statement: str) -> str:
    """``SELECT payment_requests``, ``UPDATE journal_heads``, ``BEGIN IMMEDIATE``…"""
    words = statement.replace("(", " ").split()
    verb = " ".join(words[:2]) if words[:2] == ["BEGIN", "IMMEDIATE"] else words[0]
    for marker in ("FROM", "UPDATE", "INTO"):
        if marker in words[:-1]:
            return f"{verb} {words[words.index(marker) + 1].strip(chr(34))}"
    return verb


def _count_fast_path(add: Callable[[str, float], None]) -> None:
    """Wrap the store's sqlite3 connections (``ledger.sql.connections``), when it has them."""
    from contextlib import asynccontextmanager

    from ledger.sql import connections

    clock = time.perf_counter

    def timed_statement(method: Any) -> Any:
        def wrapper(self: Any, sql: str, params: Any) -> Any:
            begun = clock()
            try:
                return method(self, sql, params)
            finally:
                add("fast " + _statement_name(sql), clock() - begun)

        return wrapper

    for name in ("rows", "many", "execute"):
        setattr(connections.SqliteDb, name, timed_statement(getattr(connections.SqliteDb, name)))
    opened = connections._Worker.open

    def open_counted(self: Any) -> None:
        begun = clock()
        opened(self)
        add("fast connection opened", clock() - begun)

    connections._Worker.open = open_counted  # type: ignore[method-assign]
    if hasattr(connections.SqliteWorkers, "_locked"):
        locked = connections.SqliteWorkers._locked

        @asynccontextmanager
        async def locked_counted(self: Any, write: bool) -> Any:
            begun = clock()
            async with locked(self, write):
                add(f"fast transaction {'write (lock wait)' if write else 'read'}", clock() - begun)
                yield

        connections.SqliteWorkers._locked = locked_counted  # type: ignore[method-assign]


async def _send_json(send: Any, value: Any) -> None:
    body = json.dumps(value).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _writing_at_shutdown(send: Any, times: list[tuple[str, str, float, float]]) -> Any:
    async def lifespan_send(message: Any) -> None:
        if message["type"] == "lifespan.shutdown.complete":
            Path(os.environ["BENCH_TIMES"]).write_text(json.dumps(times))
        await send(message)

    return lifespan_send


def pin(core: int) -> list[str]:
    """A command prefix that keeps a process on one core, when there are two to share."""
    if (os.cpu_count() or 1) >= 2 and shutil.which("taskset"):
        return ["taskset", "-c", str(core)]
    return []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int

    def rss_kb(self) -> dict[str, int]:
        """VmRSS and RssAnon of the server process, in KB, and its number of threads."""
        figures = {}
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in ("VmRSS", "RssAnon", "Threads"):
                figures[name] = int(value.split()[0])
        return figures

    def cpu_seconds(self) -> float:
        """User and system time of the server process (all its threads) so far."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def serve(target: str, env: dict[str, str]) -> Server:
    """uvicorn with ``target`` (a factory), 1 worker, on core 0; returns once /ready answers."""
    port = free_port()
    command = [
        sys.executable, "-m", "uvicorn", target, "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        "--no-access-log", "--log-level", "warning", "--app-dir", str(Path(__file__).parent),
    ]  # fmt: skip
    # The server's log (a JSON line per request) goes to a file, as in a deployment.
    log = Path(env["BENCH_TIMES"]).with_suffix(".log").open("ab")
    process = subprocess.Popen([*pin(0), *command], env={**os.environ, **env}, cwd=ROOT, stderr=log)
    log.close()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=1):
                return Server(process, port)
        except OSError:
            if process.poll() is not None:
                break
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"{target} did not start")


# -- seeding ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Seeded:
    shop_token: str
    member_accounts: list[str]
    member_tokens: list[str]


async def seed(env: dict[str, str], members: int) -> Seeded:
    """A community with one shop (a staff token) and ``members`` funded members (tokens)."""
    from api import bootstrap, provisioning
    from api.access import Role
    from api.runtime import open_runtime
    from api.settings import Settings
    from ledger import limits
    from ledger.model import AccountType
    from ledger.model import Settings as LedgerSettings

    accounts, tokens = [], []
    async with open_runtime(Settings.from_env(env)) as rt:
        operator = await bootstrap.cli_operator(rt)
        actor = operator.staff_id or "cli"
        await provisioning.create_community(
            rt, slug=COMMUNITY, name="Bench", currency_name="Buurtmunt",
            settings=LedgerSettings(True, None), actor=actor, plan=provisioning.community_plan(),
        )  # fmt: skip
        org = await provisioning.open_named_account(
            rt, COMMUNITY, AccountType.ORGANISATION, "Bank", actor,
            provisioning.account_plan(AccountType.ORGANISATION),
            budget_minutes_per_month=limits.BUDGET_MINUTES_PER_MONTH_MAX,
        )  # fmt: skip
        shop = await provisioning.open_named_account(
            rt, COMMUNITY, AccountType.SHOP, "Slagerij", actor,
            provisioning.account_plan(AccountType.SHOP),
        )  # fmt: skip
        staff = await bootstrap.person_for_token(
            rt, role=Role.SHOP, community=COMMUNITY, name="Piet", scope=shop.account_id
        )
        _, shop_token = await bootstrap.issue_token(rt, staff, Role.SHOP, "till")
        for index in range(members):
            _, account, token = await bootstrap.funded_member(
                rt, COMMUNITY, f"Member {index}", org.account_id, FUNDING_MINUTES, actor
            )
            accounts.append(account)
            tokens.append(token)
    return Seeded(shop_token, accounts, tokens)


async def create_postgres_database(server_url: str) -> str:
    """A fresh database on the PostgreSQL server at ``server_url``: its URL."""
    import asyncpg

    name = "bm_bench_" + secrets.token_hex(6)
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return server_url.rsplit("/", 1)[0] + "/" + name


async def drop_postgres_database(server_url: str, url: str) -> None:
    import asyncpg

    name = url.rsplit("/", 1)[1]
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


# -- a small HTTP/1.1 client -----------------------------------------------------------


async def _head(reader: asyncio.StreamReader) -> tuple[int, dict[bytes, bytes]]:
    raw = await reader.readuntil(b"\r\n\r\n")
    lines = raw[:-4].split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    return status, headers


async def _chunk(reader: asyncio.StreamReader) -> bytes:
    """The next chunk of a chunked body (b"" at its end)."""
    size = int((await reader.readline()).split(b";")[0], 16)
    data = await reader.readexactly(size + 2)
    return data[:-2]


def _request(method: str, path: str, token: str, key: str | None, body: bytes | None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Authorization: Bearer {token}"]
    if key is not None:
        lines.append(f"Idempotency-Key: {key}")
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


class Connection:
    """One keep-alive connection: a request, then its whole answer."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def call(
        self, method: str, path: str, token: str, key: str | None = None, body: bytes | None = None
    ) -> tuple[int, bytes]:
        self.writer.write(_request(method, path, token, key, body))
        status, headers = await _head(self.reader)
        if headers.get(b"transfer-encoding") == b"chunked":
            parts = []
            while part := await _chunk(self.reader):
                parts.append(part)
            return status, b"".join(parts)
        return status, await self.reader.readexactly(int(headers.get(b"content-length", b"0")))

    def close(self) -> None:
        self.writer.close()


@dataclass
class Stream:
    """A request's event stream as the till follows it: when its head and events came."""

    request_id: str
    status: int = 0
    head_at: float = 0.0
    events: list[tuple[str, float]] = field(default_factory=list)  # (kind, time.time())
    opened: asyncio.Event = field(default_factory=asyncio.Event)
    heard: asyncio.Event = field(default_factory=asyncio.Event)  # the first event
    task: asyncio.Task[None] | None = None
    final_data: bytes = b""  # the final event's data line

    def final(self) -> tuple[str, float] | None:
        return next(((k, t) for k, t in self.events if k != "heartbeat"), None)


async def follow(port: int, token: str, stream: Stream) -> None:
    """Read ``stream``'s server-sent events until its final event (or cancellation)."""
    path = f"/api/v1/payment-requests/{stream.request_id}/events"
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(_request("GET", path, token, None, None))
        stream.status, _ = await _head(reader)
        stream.head_at = time.time()
        stream.opened.set()
        if stream.status != 200:
            return
        pending = b""
        while chunk := await _chunk(reader):
            pending += chunk.replace(b"\r\n", b"\n")
            *messages, pending = pending.split(b"\n\n")
            now = time.time()
            for message in messages:
                kind = next(
                    (line[7:] for line in message.split(b"\n") if line.startswith(b"event: ")), b""
                )
                stream.events.append((kind.decode(), now))
                stream.heard.set()
                if kind in FINAL_EVENTS:
                    lines = message.split(b"\n")
                    stream.final_data = next((x[6:] for x in lines if x.startswith(b"data: ")), b"")
                    return
    finally:
        stream.opened.set()
        writer.close()


async def open_streams(port: int, token: str, request_ids: list[str]) -> list[Stream]:
    """A followed stream per request, ``OPENING_AT_ONCE`` at a time; returns once all have heads."""
    streams = [Stream(rid) for rid in request_ids]
    gate = asyncio.Semaphore(OPENING_AT_ONCE)

    async def opening(stream: Stream) -> None:
        async with gate:
            stream.task = asyncio.create_task(follow(port, token, stream))
            await stream.opened.wait()

    await asyncio.gather(*(opening(s) for s in streams))
    refused = [s.status for s in streams if s.status != 200]
    assert not refused, f"{len(refused)} streams refused: {sorted(set(refused))}"
    return streams


async def close_streams(streams: list[Stream]) -> None:
    tasks = [s.task for s in streams if s.task is not None]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def in_parallel(
    width: int, count: int, work: Callable[[Connection, int], Awaitable[None]], port: int
) -> None:
    """``work(connection, i)`` for i in range(count), on ``width`` connections."""
    numbers = iter(range(count))
    connections = [await Connection.open(port) for _ in range(width)]

    async def worker(connection: Connection) -> None:
        for i in numbers:
            await work(connection, i)

    try:
        await asyncio.gather(*(worker(c) for c in connections))
    finally:
        for connection in connections:
            connection.close()


async def create_requests(port: int, token: str, count: int, tag: str) -> list[str]:
    """``count`` open payment requests of the shop, made 64 at a time over HTTP."""
    ids: list[str] = [""] * count
    body = json.dumps({"amount_minutes": PRICE_MINUTES, "memo": "Gehakt"}).encode()

    async def create(connection: Connection, i: int) -> None:
        status, data = await connection.call(
            "POST", "/api/v1/payment-requests", token, f"{tag}-{i}", body
        )
        assert status == 201, (status, data)
        ids[i] = json.loads(data)["id"]

    await in_parallel(64, count, create, port)
    return ids


# -- the phases ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Call:
    started: float  # time.time()
    ended: float
    status: int
    request_id: str = ""


async def transfers(port: int, seeded: Seeded, seconds: float, tag: str) -> list[Call]:
    """Each member transfers 1 minute to the next, in a closed loop, for ``seconds``."""
    calls: list[Call] = []
    members = len(seeded.member_tokens)
    connections = [await Connection.open(port) for _ in range(members)]
    stop_at = time.time() + seconds

    async def member(index: int) -> None:
        payee = seeded.member_accounts[(index + 1) % members]
        body = json.dumps({"payee": payee, "amount_minutes": 1}).encode()
        token, connection, n = seeded.member_tokens[index], connections[index], 0
        while (started := time.time()) < stop_at:
            n += 1
            status, _ = await connection.call(
                "POST", "/api/v1/transfers", token, f"{tag}-{index}-{n}", body
            )
            calls.append(Call(started, time.time(), status))

    try:
        await asyncio.gather(*(member(i) for i in range(members)))
    finally:
        for connection in connections:
            connection.close()
    return calls


async def pay_all(port: int, seeded: Seeded, request_ids: list[str]) -> list[Call]:
    """Every request paid once: each member takes the next request and pays it."""
    calls: list[Call] = []
    members = len(seeded.member_tokens)
    connections = [await Connection.open(port) for _ in range(members)]
    queue = iter(request_ids)

    async def member(index: int) -> None:
        token, connection = seeded.member_tokens[index], connections[index]
        for rid in queue:
            started = time.time()
            status, data = await connection.call(
                "POST", f"/api/v1/payment-requests/{rid}/pay", token, f"pay-{rid}", b"{}"
            )
            calls.append(Call(started, time.time(), status, rid))
            assert status == 200, (status, data)

    try:
        await asyncio.gather(*(member(i) for i in range(members)))
    finally:
        for connection in connections:
            connection.close()
    return calls


async def finals(streams: list[Stream]) -> None:
    """Wait (bounded) until every stream has had its final event."""
    tasks = [s.task for s in streams if s.task is not None]
    if tasks:
        await asyncio.wait(tasks, timeout=EVENT_TIMEOUT_SECONDS)


@dataclass
class Window:
    """A measured stretch: CPU seconds of server and client, the server's garbage
    collections, (diagnosing) SQL statements."""

    cpu_seconds: float
    client_cpu_seconds: float
    statements: dict[str, float]
    collector_seconds: dict[str, float]  # the server's garbage collector, by generation
    settled: dict[str, float]  # the collection just before the window (Meter.measured)


Reading = tuple[float, float, dict[str, float], dict[str, float]]
T = TypeVar("T")


class Meter:
    """Reads the server's and this process's CPU time and, with ``--diagnose``, the
    server's statement counts; with ``--py-spy``, samples the server meanwhile."""

    def __init__(self, server: Server, diagnose: bool, py_spy: str | None, out: Path) -> None:
        self.server, self.diagnose, self.py_spy, self.out = server, diagnose, py_spy, out
        self.profiles: list[Path] = []

    async def measured(self, name: str, work: Awaitable[T]) -> tuple[T, Window]:
        """``work``'s outcome and its window. The server collects its garbage first, so
        that the window pays only for its own; with ``--py-spy``, sampled as ``name``."""
        settled = await self._bench_json("/__bench/collect")
        async with self.sampled(name):
            before = await self.read()
            done = await work
            return done, self.since(settled, before, await self.read())

    async def end_streams(self, request_ids: list[str]) -> None:
        """The server hands each request's stream a ``paid`` event, with no pay behind it."""
        await self._bench_json("/__bench/end/" + ",".join(request_ids))

    async def read(self) -> Reading:
        counts = await self._bench_json("/__bench/counts") if self.diagnose else {}
        collector = await self._bench_json("/__bench/gc")
        return self.server.cpu_seconds(), time.process_time(), counts, collector

    async def _bench_json(self, path: str) -> dict[str, float]:
        """What the bench's own route ``path`` in the server answers."""
        connection = await Connection.open(self.server.port)
        _, data = await connection.call("GET", path, "-")
        connection.close()
        found: dict[str, float] = json.loads(data)
        return found

    @staticmethod
    def since(settled: dict[str, float], before: Reading, after: Reading) -> Window:
        grown = {k: v - before[2].get(k, 0) for k, v in after[2].items()}
        collector = {k: v - before[3][k] for k, v in after[3].items()}
        return Window(
            after[0] - before[0], after[1] - before[1], {k: v for k, v in grown.items() if v},
            collector, settled,
        )  # fmt: skip

    @asynccontextmanager
    async def sampled(self, name: str) -> AsyncIterator[None]:
        """py-spy samples the server (from the client's core) while the block runs: only the
        thread holding the GIL, so the figures say where its one core's Python time goes."""
        if self.py_spy is None:
            yield
            return
        out = self.out / f"{name}.py-spy.txt"
        command = [
            *pin(1), self.py_spy, "record", "--pid", str(self.server.process.pid),
            "--rate", "500", "--format", "raw", "--output", str(out), "--nonblocking", "--gil",
        ]  # fmt: skip
        sampler = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        await asyncio.sleep(0.5)  # attached
        try:
            yield
        finally:
            sampler.send_signal(signal.SIGINT)
            await asyncio.to_thread(sampler.wait, 30)
            self.profiles.append(out)


@dataclass
class PayRun:
    transfers: list[list[Call]] = field(default_factory=list)  # one list per window
    transfer_windows: list[Window] = field(default_factory=list)
    pay_rounds: list[list[Call]] = field(default_factory=list)  # one list per round
    pay_windows: list[Window] = field(default_factory=list)
    ends_window: Window | None = None  # streams ended with no pay (``stream_ends``)
    ends: int = 0
    streams: list[Stream] = field(default_factory=list)  # every round's
    created: int = 0  # payment requests made for the rounds, and in how long
    created_seconds: float = 0.0

    @property
    def pays(self) -> list[Call]:
        """Every round's pays."""
        return [call for calls in self.pay_rounds for call in calls]


async def pay_phase(meter: Meter, seeded: Seeded, args: argparse.Namespace) -> PayRun:
    """Warm-up, then a transfer window before and after each round of pays."""
    run, token, port = PayRun(), seeded.shop_token, meter.server.port
    await transfers(port, seeded, 1.0, "warm")
    warm_ids = await create_requests(port, token, len(seeded.member_tokens), "warm")
    warm = await open_streams(port, token, warm_ids)
    await pay_all(port, seeded, warm_ids)
    await finals(warm)
    await close_streams(warm)
    await transfer_window(run, meter, seeded, args.transfer_seconds, "t0")
    for n in range(args.pay_rounds):
        await pay_round(run, meter, seeded, args.requests, n)
        await transfer_window(run, meter, seeded, args.transfer_seconds, f"t{n + 1}")
    await stream_ends(run, meter, seeded, args.requests)
    return run


async def watched_requests(
    run: PayRun, meter: Meter, seeded: Seeded, count: int, tag: str
) -> tuple[list[str], list[Stream]]:
    """``count`` open requests of the shop, each watched by its stream, every stream past
    its first read and waiting for a signal."""
    port, token = meter.server.port, seeded.shop_token
    started = time.perf_counter()
    ids = await create_requests(port, token, count, tag)
    run.created += count
    run.created_seconds += time.perf_counter() - started
    streams = await open_streams(port, token, ids)
    await asyncio.sleep(0.5)
    return ids, streams


async def pay_round(run: PayRun, meter: Meter, seeded: Seeded, count: int, n: int) -> None:
    """``count`` open requests, each watched by its stream, paid by the members."""
    ids, streams = await watched_requests(run, meter, seeded, count, f"req{n}")

    async def paying() -> list[Call]:
        pays = await pay_all(meter.server.port, seeded, ids)
        await finals(streams)
        return pays

    pays, window = await meter.measured(f"pays-{n}", paying())
    run.pay_rounds.append(pays)
    run.pay_windows.append(window)
    run.streams += streams
    await close_streams(streams)


async def stream_ends(run: PayRun, meter: Meter, seeded: Seeded, count: int) -> None:
    """What a pay's stream adds: ``count`` more open requests, each watched, whose streams
    the server ends by handing each its ``paid`` event with no pay behind it, in groups
    as many as the payers (about what a batch of pays ends), a group once the one
    before has been heard. The window's server CPU over ``count`` is a stream's end."""
    ids, streams = await watched_requests(run, meter, seeded, count, "end")
    group = len(seeded.member_tokens)

    async def ending() -> None:
        for start in range(0, count, group):
            await meter.end_streams(ids[start : start + group])
            await finals(streams[start : start + group])

    _, run.ends_window = await meter.measured("ends", ending())
    run.ends = sum(1 for s in streams if s.final() is not None)
    assert run.ends == count, f"{count - run.ends} streams not ended"
    await close_streams(streams)


async def transfer_window(
    run: PayRun, meter: Meter, seeded: Seeded, seconds: float, tag: str
) -> None:
    work = transfers(meter.server.port, seeded, seconds, tag)
    calls, window = await meter.measured(f"transfers-{tag}", work)
    run.transfers.append(calls)
    run.transfer_windows.append(window)


@dataclass
class MemoryRun:
    streams: int
    before: dict[str, int]
    after: dict[str, int]
    readings: list[dict[str, int]]
    closed: dict[str, int]
    open_seconds: float
    heartbeats: int


async def memory_phase(server: Server, token: str, count: int, heartbeat: float) -> MemoryRun:
    """Server RSS before and after ``count`` streams are open and live (one heartbeat each).

    After: the largest of five readings over the next heartbeat interval, so a
    reading between two heartbeats does not flatter the figure.
    """
    port = server.port
    ids = await create_requests(port, token, WARM_STREAMS + count, "mem")
    warm_ids, ids = ids[:WARM_STREAMS], ids[WARM_STREAMS:]
    warm = await open_streams(port, token, warm_ids)
    await asyncio.wait_for(asyncio.gather(*(s.heard.wait() for s in warm)), EVENT_TIMEOUT_SECONDS)
    await close_streams(warm)
    await asyncio.sleep(1.0)
    before = server.rss_kb()
    started = time.perf_counter()
    streams = await open_streams(port, token, ids)
    open_seconds = time.perf_counter() - started
    await asyncio.wait_for(
        asyncio.gather(*(s.heard.wait() for s in streams)), EVENT_TIMEOUT_SECONDS
    )
    readings = [server.rss_kb()]
    for _ in range(4):
        await asyncio.sleep(heartbeat / 4)
        readings.append(server.rss_kb())
    after = max(readings, key=lambda r: r["VmRSS"])
    heartbeats = sum(1 for s in streams for kind, _ in s.events if kind == "heartbeat")
    assert all(s.final() is None for s in streams), "a stream ended early"
    await close_streams(streams)
    await asyncio.sleep(1.0)
    closed = server.rss_kb()
    return MemoryRun(count, before, after, readings, closed, open_seconds, heartbeats)


# -- figures ---------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """Nearest rank."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)] if ordered else float("nan")


def span(calls: list[Call]) -> float:
    """Seconds from the first call sent to the last answered."""
    return max(c.ended for c in calls) - min(c.started for c in calls)


def rate(calls: list[Call]) -> float:
    return len(calls) / span(calls) if calls else 0.0


def latencies_ms(values: list[float]) -> dict[str, float]:
    return {f"p{q}": round(percentile(values, q / 100) * 1000, 1) for q in (50, 95, 99)} | {
        "max": round(max(values) * 1000, 1) if values else float("nan")
    }


def pay_figures(run: PayRun, server_times: list[list[Any]]) -> dict[str, Any]:
    """Latency from pay sent to ``paid`` heard; rates; where the time went."""
    pays = run.pays
    paid_at = {s.request_id: s.final() for s in run.streams}
    missing = [rid for rid, final in paid_at.items() if final is None or final[0] != "paid"]
    delays = [paid_at[c.request_id][1] - c.started for c in pays if c.request_id not in missing]  # type: ignore[index]
    answered = [c.ended - c.started for c in pays]
    all_transfers = [c for window in run.transfers for c in window]
    transfer_seconds = sum(span(w) for w in run.transfers)
    pay_seconds = sum(span(r) for r in run.pay_rounds)
    pays_per_second = len(pays) / pay_seconds
    transfers_per_second = len(all_transfers) / transfer_seconds
    figures: dict[str, Any] = {
        "paid_event_ms": latencies_ms(delays),
        "pay_answer_ms": latencies_ms(answered),
        "transfer_answer_ms": latencies_ms([c.ended - c.started for c in all_transfers]),
        "pays_per_second": round(pays_per_second, 1),
        "pays_per_second_rounds": [round(rate(r), 1) for r in run.pay_rounds],
        "transfers_per_second": round(transfers_per_second, 1),
        "transfers_per_second_windows": [round(rate(w), 1) for w in run.transfers],
        "ratio": round(pays_per_second / transfers_per_second, 3),
        "paid_events_missing": len(missing),
        "pays_not_200": sum(1 for c in pays if c.status != 200),
        "transfers_not_201": sum(1 for c in all_transfers if c.status != 201),
        "requests_created_per_second": round(run.created / run.created_seconds, 1),
        "paid_event_keys": _paid_keys(run.streams),
    }
    figures["split_ms"] = _split(pays, paid_at, server_times)
    pay_cpu = sum(w.cpu_seconds for w in run.pay_windows)
    transfer_cpu = sum(w.cpu_seconds for w in run.transfer_windows)
    figures["server_cpu_ms_per_pay"] = round(pay_cpu / len(pays) * 1000, 3)
    figures["server_cpu_ms_per_transfer"] = round(transfer_cpu / len(all_transfers) * 1000, 3)
    figures["server_cpu_busy_pay"] = round(pay_cpu / pay_seconds, 2)
    figures["server_cpu_busy_transfers"] = round(transfer_cpu / transfer_seconds, 2)
    figures["client_cpu_busy_pay"] = round(
        sum(w.client_cpu_seconds for w in run.pay_windows) / pay_seconds, 2
    )
    figures["client_cpu_busy_transfers"] = round(
        sum(w.client_cpu_seconds for w in run.transfer_windows) / transfer_seconds, 2
    )
    # A collection stops the server for its length: one that falls in the pay window
    # (a fifth of a second) moves the pays' rate by its share of it.
    figures["server_gc_ms_pay_window"] = _collector_ms(run.pay_windows)
    figures["server_gc_ms_transfer_windows"] = _collector_ms(run.transfer_windows)
    settled = [w.settled for w in run.pay_windows]
    figures["server_gc_settled_before_pays"] = {
        "ms": [round(x["seconds"] * 1000, 1) for x in settled],
        "objects": [int(x["objects"]) for x in settled],
        "streams_open": len(run.pay_rounds[0]),
    }
    figures["server_gc_settled_before_transfers_ms"] = [
        round(w.settled["seconds"] * 1000, 1) for w in run.transfer_windows
    ]
    assert run.ends_window is not None
    stream_end = run.ends_window.cpu_seconds / run.ends
    figures["server_cpu_ms_per_stream_end"] = round(stream_end * 1000, 3)
    # A pay is a transfer's work and a stream's end: the most pays can give, by CPU.
    per_transfer = transfer_cpu / len(all_transfers)
    figures["ratio_by_cpu"] = round(per_transfer / (per_transfer + stream_end), 3)
    # The same pays with that collection charged to them: the server stops for it.
    charged = len(pays) / (pay_seconds + sum(x["seconds"] for x in settled))
    figures["ratio_with_settling_charged_to_pays"] = round(charged / transfers_per_second, 3)
    if any(w.statements for w in run.pay_windows):
        figures["statements_per_pay"] = _per(_statements(run.pay_windows), len(pays))
        figures["statements_per_transfer"] = _per(
            _statements(run.transfer_windows), len(all_transfers)
        )
    return figures


def _statements(windows: list[Window]) -> dict[str, float]:
    """The server's statement counts (``--diagnose``) over ``windows``."""
    total: dict[str, float] = {}
    for window in windows:
        for k, v in window.statements.items():
            total[k] = total.get(k, 0) + v
    return total


def _collector_ms(windows: list[Window]) -> dict[str, float]:
    """The server's garbage collections over ``windows``, in ms by generation."""
    return {
        gen: round(sum(w.collector_seconds[gen] for w in windows) * 1000, 1)
        for gen in ("0", "1", "2")
    }


def _paid_keys(streams: list[Stream]) -> list[str]:
    """The keys of the ``paid`` events' data (asserted the same for every stream)."""
    keys = {tuple(sorted(json.loads(s.final_data))) for s in streams if s.final_data}
    assert len(keys) <= 1, f"paid events differ in shape: {keys}"
    return list(next(iter(keys), ()))


def _per(counts: dict[str, float], n: int) -> dict[str, float]:
    return {k: round(v / n, 3) for k, v in sorted(counts.items())}


def _split(
    pays: list[Call], paid_at: dict[str, tuple[str, float] | None], server_times: list[list[Any]]
) -> dict[str, dict[str, float]]:
    """Pay sent -> app starts -> app hands ``paid`` to uvicorn -> client reads it; app answers."""
    pay_in_app = {rid: (start, end) for kind, rid, start, end in server_times if kind == "pay"}
    event_sent = {rid: end for kind, rid, _, end in server_times if kind == "paid"}
    parts: dict[str, list[float]] = {
        "to_app": [], "app_to_event_sent": [], "event_sent_to_heard": [], "app_to_answer": [],
        "event_sent_after_answer": [],
    }  # fmt: skip
    for call in pays:
        final = paid_at.get(call.request_id)
        if call.request_id not in pay_in_app or call.request_id not in event_sent or not final:
            continue
        start, end = pay_in_app[call.request_id]
        sent = event_sent[call.request_id]
        parts["to_app"].append(start - call.started)
        parts["app_to_event_sent"].append(sent - start)
        parts["event_sent_to_heard"].append(final[1] - sent)
        parts["app_to_answer"].append(end - start)
        parts["event_sent_after_answer"].append(sent - end)
    return {name: latencies_ms(values) for name, values in parts.items() if values}


def profile_summary(path: Path) -> dict[str, Any]:
    """The functions py-spy saw most, by samples on top (self) and anywhere (inclusive)."""
    own: dict[str, int] = {}
    anywhere: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = [_frame(f) for f in stack.split(";")]
        total += count
        own[frames[-1]] = own.get(frames[-1], 0) + count
        for frame in set(frames):
            anywhere[frame] = anywhere.get(frame, 0) + count

    def top(counts: dict[str, int], n: int) -> dict[str, float]:
        ranked = sorted(counts.items(), key=lambda kv: -kv[1])[:n]
        return {k: round(v / max(total, 1), 3) for k, v in ranked}

    return {"samples": total, "self": top(own, 30), "inclusive": top(anywhere, 60)}


def _frame(frame: str) -> str:
    """``function (path/to/module.py:12)`` as ``module.function``."""
    name, _, where = frame.partition(" (")
    module = where.split(":")[0].rsplit("/", 1)[-1].removesuffix(".py")
    return f"{module}.{name}"


def memory_figures(run: MemoryRun) -> dict[str, Any]:
    grown = run.after["VmRSS"] - run.before["VmRSS"]
    return {
        "streams": run.streams,
        "rss_before_kb": run.before["VmRSS"],
        "rss_after_kb": run.after["VmRSS"],
        "rss_after_readings_kb": [r["VmRSS"] for r in run.readings],
        "rss_after_closing_kb": run.closed["VmRSS"],
        "anon_before_kb": run.before["RssAnon"],
        "anon_after_kb": run.after["RssAnon"],
        "threads_before": run.before["Threads"],
        "threads_after": run.after["Threads"],
        "kb_per_stream": round(grown / run.streams, 1),
        "opened_per_second": round(run.streams / run.open_seconds, 1),
        "heartbeats_heard": run.heartbeats,
    }


def report(args: argparse.Namespace, pay: dict[str, Any], memory: dict[str, Any]) -> None:
    event, answer = pay["paid_event_ms"], pay["pay_answer_ms"]
    met = {
        "p99": event["p99"] <= TARGET_P99_MS and pay["paid_events_missing"] == 0,
        "ratio": pay["ratio"] >= TARGET_RATIO,
        "memory": memory["kb_per_stream"] <= TARGET_STREAM_KB,
    }
    ok = {True: "met", False: "NOT met"}
    print(
        f"code {args.code['commit']} (uncommitted: {args.code['uncommitted'] or 'none'}) + "
        f"files {args.code['files_sha256']}; "
        f"machine {args.machine}; load average at start {args.loadavg}"
    )
    print(f"{'':<36}{'p50':>8}{'p95':>8}{'p99':>8}{'max':>8}  (ms)")
    for name, row in (
        (f"pay sent -> paid heard ({args.pay_rounds} x {args.requests})", event),
        ("pay sent -> pay answered", answer),
        ("transfer sent -> answered", pay["transfer_answer_ms"]),
        *((f"  split: {k}", v) for k, v in pay["split_ms"].items()),
    ):
        print(f"{name:<36}{row['p50']:>8}{row['p95']:>8}{row['p99']:>8}{row['max']:>8}")
    print(
        f"pays {pay['pays_per_second']:.0f}/s (rounds {pay['pays_per_second_rounds']}), "
        f"transfers {pay['transfers_per_second']:.0f}/s "
        f"(windows {pay['transfers_per_second_windows']}), ratio {pay['ratio']:.2f}; "
        f"requests created {pay['requests_created_per_second']:.0f}/s; "
        f"missing paid events {pay['paid_events_missing']}, pays not 200 {pay['pays_not_200']}, "
        f"transfers not 201 {pay['transfers_not_201']}; paid event keys "
        f"{pay['paid_event_keys']}"
    )
    print(
        f"server CPU per pay {pay['server_cpu_ms_per_pay']} ms (core busy "
        f"{pay['server_cpu_busy_pay']:.0%}), per transfer {pay['server_cpu_ms_per_transfer']} ms "
        f"(busy {pay['server_cpu_busy_transfers']:.0%}); client core busy "
        f"{pay['client_cpu_busy_pay']:.0%} paying, {pay['client_cpu_busy_transfers']:.0%} "
        "transferring"
    )
    print(
        "server garbage collections (ms, generations 0/1/2): pay windows "
        + "/".join(str(v) for v in pay["server_gc_ms_pay_window"].values())
        + ", transfer windows "
        + "/".join(str(v) for v in pay["server_gc_ms_transfer_windows"].values())
    )
    print(
        f"a stream's end alone (its paid event, no pay): {pay['server_cpu_ms_per_stream_end']} ms "
        f"of server CPU; a transfer and a stream's end give pays at most "
        f"{pay['ratio_by_cpu']:.2f} of transfers"
    )
    before_pays = pay["server_gc_settled_before_pays"]
    print(
        f"collected just before each window: before the pays {before_pays['ms']} ms "
        f"({before_pays['objects']} objects, {before_pays['streams_open']} streams open each), "
        "before "
        f"the transfer windows {pay['server_gc_settled_before_transfers_ms']} ms; charged to "
        f"the pays, the ratio would be {pay['ratio_with_settling_charged_to_pays']:.2f}"
    )
    for name, profile in pay.get("profiles", {}).items():
        top = ", ".join(f"{k} {v:.0%}" for k, v in list(profile["self"].items())[:12])
        print(f"py-spy {name} ({profile['samples']} samples, {profile['file']}): self: {top}")
        top = ", ".join(f"{k} {v:.0%}" for k, v in list(profile["inclusive"].items())[:25])
        print(f"py-spy {name}: inclusive: {top}")
    for name in ("statements_per_pay", "statements_per_transfer"):
        if name in pay:
            print(f"{name}: " + ", ".join(f"{k} {v}" for k, v in pay[name].items()))
    print(
        f"memory: {memory['streams']} streams, RSS {memory['rss_before_kb']} -> "
        f"{memory['rss_after_kb']} KB (anon {memory['anon_before_kb']} -> "
        f"{memory['anon_after_kb']}), {memory['rss_after_closing_kb']} KB after closing; "
        f"threads {memory['threads_before']} -> {memory['threads_after']}; "
        f"{memory['kb_per_stream']} KB per stream; opened {memory['opened_per_second']:.0f}/s"
    )
    print(
        f"paid p99 {event['p99']} ms (target <= {TARGET_P99_MS:.0f}): {ok[met['p99']]}; "
        f"pays/transfers {pay['ratio']:.2f} (target >= {TARGET_RATIO}): {ok[met['ratio']]}; "
        f"{memory['kb_per_stream']} KB per stream (target <= {TARGET_STREAM_KB:.0f}): "
        f"{ok[met['memory']]}"
    )
    print(json.dumps({
        "benchmark": "qr_pay", "database": "postgresql" if args.postgres else "sqlite",
        "server": "uvicorn 1 worker", "requests": args.requests, "pay_rounds": args.pay_rounds,
        "payers": args.payers,
        "transfer_seconds_per_window": args.transfer_seconds, "machine": args.machine,
        "loadavg_at_start": args.loadavg, "code": args.code,
        "what_if_connections": args.what_if_connections,
        **pay, "memory": memory,
        "target_p99_ms": TARGET_P99_MS, "target_ratio": TARGET_RATIO,
        "target_kb_per_stream": TARGET_STREAM_KB,
        "met_p99": met["p99"], "met_ratio": met["ratio"], "met_memory": met["memory"],
        "met": all(met.values()),
    }))  # fmt: skip


# -- main ------------------------------------------------------------------------------

# The code a run measured: the tree changes between runs, so each names its version.
MEASURED_FILES = (
    "api/payment_requests.py", "api/payment_store.py", "api/events.py", "api/database.py",
    "api/runtime.py", "api/routes/payment_requests.py", "api/routes/payments.py",
    "api/drafts.py", "api/auth.py", "ledger/service.py", "ledger/sql/connections.py",
    "ledger/sql/store.py", "ledger/sql/journal.py", "ledger/writer.py",
)  # fmt: skip


def code_version() -> dict[str, Any]:
    """The commit, and a hash of the measured files as they are in the working tree."""
    import hashlib

    digest = hashlib.sha256()
    for name in MEASURED_FILES:
        path = ROOT / name
        digest.update(name.encode() + b"\0" + (path.read_bytes() if path.exists() else b"-"))
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    changed = subprocess.run(
        ["git", "diff", "--name-only", "HEAD", "--", *MEASURED_FILES],
        cwd=ROOT, capture_output=True, text=True,
    ).stdout.split()  # fmt: skip
    return {"commit": head, "files_sha256": digest.hexdigest()[:12], "uncommitted": changed}


def client_loop() -> asyncio.Runner:
    try:
        import uvloop
    except ImportError:
        return asyncio.Runner()
    return asyncio.Runner(loop_factory=uvloop.new_event_loop)


def raise_file_limit() -> None:
    """Room for thousands of sockets here and in the servers (they inherit it)."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def measure(args: argparse.Namespace, env: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    started = time.perf_counter()
    seeded = asyncio.run(seed(env, args.payers))
    print(f"seeded {args.payers} members in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    if pin(1):
        os.sched_setaffinity(0, {1})
    args.machine = machine.describe()
    args.code = code_version()
    args.loadavg = [round(x, 2) for x in os.getloadavg()]
    times = Path(env["BENCH_TIMES"])
    server = serve(
        "qr_pay:timed_app",
        {
            **env,
            "BENCH_DIAGNOSE": "1" if args.diagnose else "",
            "BENCH_SQLITE_CONNECTIONS": str(args.what_if_connections or ""),
        },
    )
    try:
        with client_loop() as runner:
            meter = Meter(server, args.diagnose, args.py_spy, times.parent)
            run = runner.run(pay_phase(meter, seeded, args))
    finally:
        server.stop()
    pay = pay_figures(run, json.loads(times.read_text()))
    for profile in meter.profiles:
        if profile.exists():
            kept = Path(tempfile.gettempdir()) / f"qr_pay-{profile.name}"
            shutil.copy(profile, kept)
            pay.setdefault("profiles", {})[profile.name.split(".")[0]] = {
                "file": str(kept),
                **profile_summary(profile),
            }
    server = serve(
        "qr_pay:timed_app",
        {
            **env,
            "BUURTMUNT_EVENT_HEARTBEAT_SECONDS": str(args.heartbeat_seconds),
            "BENCH_SQLITE_CONNECTIONS": str(args.what_if_connections or ""),
            "BENCH_TIMES": str(times.with_suffix(".memory.json")),
        },
    )
    try:
        with client_loop() as runner:
            memory = memory_figures(
                runner.run(
                    memory_phase(server, seeded.shop_token, args.streams, args.heartbeat_seconds)
                )
            )
    finally:
        server.stop()
    return pay, memory


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500, help="paid, each watched, a round")
    parser.add_argument("--pay-rounds", type=int, default=3, help="of --requests pays each")
    parser.add_argument("--payers", type=int, default=64, help="members paying at once")
    parser.add_argument("--streams", type=int, default=2000, help="held open for memory")
    parser.add_argument("--transfer-seconds", type=float, default=2.0, help="per window (2)")
    parser.add_argument("--heartbeat-seconds", type=float, default=2.0, help="memory phase")
    parser.add_argument(
        "--diagnose", action="store_true", help="count the server's SQL statements per pay"
    )
    parser.add_argument(
        "--what-if-connections", type=int, metavar="N",
        help="an experiment: at most N sqlite3 connections in the servers, all kept open",
    )  # fmt: skip
    parser.add_argument(
        "--py-spy", metavar="PATH", help="sample the server with this py-spy (pays, transfers)"
    )
    parser.add_argument(
        "--postgres", nargs="?", const=POSTGRES_URL, default=None, metavar="URL",
        help=f"a PostgreSQL server to make a fresh database on (default {POSTGRES_URL})",
    )  # fmt: skip
    args = parser.parse_args()
    raise_file_limit()
    from ledger.note import generate_signer

    with tempfile.TemporaryDirectory(prefix="bench-qr-pay-") as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        if args.postgres:
            url = asyncio.run(create_postgres_database(args.postgres))
        env = {
            "BUURTMUNT_DATABASE_URL": url,
            "BUURTMUNT_SIGNING_KEY": generate_signer("bench").key_string(),
            "BUURTMUNT_PUBLIC_URL": "http://bench.local",
            "BUURTMUNT_RATE_LIMIT_PER_MINUTE": "100000000",
            "BUURTMUNT_EVENT_HEARTBEAT_SECONDS": "15",
            "BENCH_TIMES": f"{tmp}/times.json",
        }
        try:
            pay, memory = measure(args, env)
        finally:
            if args.postgres:
                asyncio.run(drop_postgres_database(args.postgres, url))
    report(args, pay, memory)
    return 0


if __name__ == "__main__":
    sys.exit(main())
