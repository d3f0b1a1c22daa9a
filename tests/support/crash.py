"""The crash drill: transfers over HTTP while the server is SIGKILLed, then the books are checked.

``ServerProcess`` runs ``buurtmunt serve`` in a session of its own, so a kill
takes the whole process group (with ``--workers 2``, the supervisor and its
workers together, as a power cut would). ``crash_drill`` keeps ``clients``
members paying each other one minute at a time, each request with a fresh
Idempotency-Key, and kills the server at random moments ``kills`` times (and
calls ``interrupt_database`` once, on PostgreSQL: stop it with ``-m immediate``
and start it again). A 2xx answer is an acknowledgement; anything else (no
answer, a reset, a 5xx) leaves the key unanswered. ``check_books`` then
retries every unanswered key and reads the journal back.

Used by ``tests/e2e/test_crash.py`` (small, in CI) and ``bench/crash.py`` (as large as asked).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import weakref
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from api.audit_commands import audit_store
from ledger import limits
from ledger.audit.export import export_bundle
from ledger.audit.verify import build_parser
from ledger.audit.verify import run as run_verify
from ledger.checkpoint import note_origin
from ledger.model import EntryKind
from ledger.note import NoteSigner
from ledger.sql.store import SqlStore
from tests.support.clusters import Cluster
from tests.support.server import COMMUNITY, ROOT, Seeded, free_port, seed, server_env

REQUEST_SECONDS = 10.0
# A client that got no answer, or a 5xx, waits this long before its next transfer.
ERROR_PAUSE_SECONDS = 0.1
STOP_SECONDS = 15
# A server with two workers on a busy two-core machine may take this long to start.
START_SECONDS = 90


class ServerProcess:
    """``buurtmunt serve`` that can be started again and again, and killed outright."""

    def __init__(self, env: dict[str, str], port: int, workers: int = 1) -> None:
        self.env = env
        self.port = port
        self.workers = workers
        self.base = f"http://127.0.0.1:{port}"
        self._process: subprocess.Popen[bytes] | None = None
        # What the server printed, every run of it: copied to stderr as each run ends
        # (for pytest to show), and searched by ``errors``.
        descriptor, name = tempfile.mkstemp(prefix="bm-server-", suffix=".log")
        os.close(descriptor)
        self._log = Path(name)
        self._shown = 0
        weakref.finalize(self, self._log.unlink, missing_ok=True)

    def start(self) -> float:
        """Start and wait for ``/ready``; the seconds that took."""
        assert self._process is None, "the server is already running"
        began = time.monotonic()
        command = [
            sys.executable, "-m", "api.cli", "serve", "--host", "127.0.0.1",
            "--port", str(self.port), "--workers", str(self.workers), "--no-access-log",
        ]  # fmt: skip
        with self._log.open("ab") as log:  # appended to by every process of the server
            self._process = subprocess.Popen(
                command, env={**os.environ, **self.env}, cwd=ROOT, start_new_session=True,
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        while True:
            try:
                with urllib.request.urlopen(f"{self.base}/ready", timeout=1):
                    return time.monotonic() - began
            except OSError:
                if self._process.poll() is not None or time.monotonic() - began > START_SECONDS:
                    self.kill()
                    raise RuntimeError(f"the server on port {self.port} did not start") from None
                time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL to the server's whole process group: no shutdown code runs."""
        if self._process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, signal.SIGKILL)
        self._process.wait()
        self._process = None
        self._show()

    def errors(self) -> list[str]:
        """What the server logged at level ERROR so far (tracebacks included), and any
        line it printed outside its JSON log: for a failed assertion to say what broke."""
        lines = self._log.read_text(errors="replace").splitlines()
        return [line for line in lines if '"level":"ERROR"' in line or not line.startswith("{")]

    def _show(self) -> None:
        printed = self._log.read_bytes()[self._shown :]
        self._shown += len(printed)
        sys.stderr.write(printed.decode(errors="replace"))

    def stop(self) -> None:
        """A clean shutdown (SIGTERM), SIGKILL if it takes too long."""
        if self._process is None:
            return
        os.killpg(self._process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(timeout=STOP_SECONDS)
        self.kill()


@dataclass(frozen=True, slots=True)
class CrashPlan:
    kills: int = 3
    clients: int = 8
    # Traffic runs a random time in [min, max] seconds before each interruption.
    phase_seconds: tuple[float, float] = (0.4, 1.5)
    seed: int = 0


@dataclass(slots=True)
class CrashOutcome:
    acked: dict[str, str] = field(default_factory=dict)  # Idempotency-Key -> entry id
    unanswered: set[str] = field(default_factory=set)
    statuses: Counter[str] = field(default_factory=Counter)  # status code or error class
    kills: int = 0
    database_interruptions: int = 0
    restart_seconds: list[float] = field(default_factory=list)


@dataclass(slots=True)
class _Traffic:
    outcome: CrashOutcome
    up: asyncio.Event
    stop: asyncio.Event
    sent: int = 0


async def _client(
    server: ServerProcess, seeded: Seeded, index: int, traffic: _Traffic, prefix: str
) -> None:
    token = seeded.member_tokens[index]
    payee = seeded.member_accounts[(index + 1) % len(seeded.member_accounts)]
    outcome = traffic.outcome
    async with httpx.AsyncClient(base_url=server.base, timeout=REQUEST_SECONDS) as client:
        number = 0
        while not traffic.stop.is_set():
            await traffic.up.wait()
            key = f"{prefix}-{index}-{number}"
            number += 1
            traffic.sent += 1
            try:
                response = await client.post(
                    "/api/v1/transfers",
                    json={"payee": payee, "amount_minutes": 1},
                    headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key},
                )
            except httpx.HTTPError as error:
                outcome.statuses[type(error).__name__] += 1
                outcome.unanswered.add(key)
                await asyncio.sleep(ERROR_PAUSE_SECONDS)
                continue
            outcome.statuses[str(response.status_code)] += 1
            if response.is_success:
                outcome.acked[key] = response.json()["id"]
            else:
                outcome.unanswered.add(key)
                await asyncio.sleep(ERROR_PAUSE_SECONDS)


async def crash_drill(
    server: ServerProcess,
    seeded: Seeded,
    plan: CrashPlan,
    interrupt_database: Callable[[], None] | None = None,
    prefix: str = "crash",
) -> CrashOutcome:
    """Start ``server``, send transfers through ``plan.kills`` kills (and one database
    interruption, if given), and leave the server running; what was acknowledged."""
    chooser = random.Random(plan.seed)
    traffic = _Traffic(CrashOutcome(), asyncio.Event(), asyncio.Event())
    outcome = traffic.outcome
    outcome.restart_seconds.append(await asyncio.to_thread(server.start))
    traffic.up.set()
    clients = [
        asyncio.create_task(_client(server, seeded, index, traffic, prefix))
        for index in range(plan.clients)
    ]
    interruptions = ["kill"] * plan.kills + (["database"] if interrupt_database else [])
    chooser.shuffle(interruptions)
    try:
        for interruption in interruptions:
            await asyncio.sleep(chooser.uniform(*plan.phase_seconds))
            if interruption == "database":
                assert interrupt_database is not None
                await asyncio.to_thread(interrupt_database)
                outcome.database_interruptions += 1
                continue
            traffic.up.clear()
            server.kill()
            outcome.kills += 1
            outcome.restart_seconds.append(await asyncio.to_thread(server.start))
            traffic.up.set()
        await asyncio.sleep(chooser.uniform(*plan.phase_seconds))
    finally:
        traffic.stop.set()
        traffic.up.set()
        await asyncio.gather(*clients)
    return outcome


@dataclass(frozen=True, slots=True)
class Books:
    entries: int
    ids: dict[str, int]  # entry id -> seq
    transfers: frozenset[str]  # the ids of the transfers (the drill's only ones)


async def retry_unanswered(
    server: ServerProcess, seeded: Seeded, outcome: CrashOutcome
) -> dict[str, int]:
    """Send every unanswered key again with its original request; status code -> count."""
    statuses: Counter[int] = Counter()
    sem = asyncio.Semaphore(16)

    async def retry(client: httpx.AsyncClient, key: str) -> None:
        index = int(key.rsplit("-", 2)[1])
        payee = seeded.member_accounts[(index + 1) % len(seeded.member_accounts)]
        async with sem:
            response = await client.post(
                "/api/v1/transfers",
                json={"payee": payee, "amount_minutes": 1},
                headers={
                    "Authorization": f"Bearer {seeded.member_tokens[index]}",
                    "Idempotency-Key": key,
                },
            )
        statuses[response.status_code] += 1
        if response.is_success:
            outcome.acked[key] = response.json()["id"]

    async with httpx.AsyncClient(base_url=server.base, timeout=REQUEST_SECONDS) as client:
        await asyncio.gather(*(retry(client, key) for key in sorted(outcome.unanswered)))
    return dict(statuses)


async def read_books(database_url: str) -> Books:
    """Every entry of the community, and which are transfers."""
    store = SqlStore.from_url(database_url)
    try:
        size = (await store.head(COMMUNITY)).size
        ids: dict[str, int] = {}
        transfers: set[str] = set()
        for start in range(0, size, limits.ENTRY_RANGE_MAX):
            for entry in await store.entries(COMMUNITY, start, start + limits.ENTRY_RANGE_MAX):
                assert entry.id not in ids, f"entry id {entry.id} twice in the journal"
                ids[entry.id] = entry.seq
                if entry.kind is EntryKind.TRANSFER:
                    transfers.add(entry.id)
    finally:
        await store.close()
    return Books(size, ids, frozenset(transfers))


async def audit_and_verify(database_url: str, env: dict[str, str]) -> list[str]:
    """What ``buurtmunt audit`` and ``buurtmunt verify`` of a fresh export find wrong
    (empty when both pass), run in this process: the same functions as the commands."""
    key = NoteSigner.from_key_string(env["BUURTMUNT_SIGNING_KEY"]).verifier()
    store = SqlStore.from_url(database_url)
    failures: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        bundle = Path(tmp) / "bundle"
        try:
            # The log signs under its origin's name (docs/ledger-format.md).
            head = (await store.head(COMMUNITY)).checkpoint
            assert head is not None, "the drill wrote no checkpoint"
            verifier = key.named(note_origin(head.note))
            report, _ = await audit_store(store, COMMUNITY, verifier)
            if not report.clean:
                failures.append(f"audit: {report}")
            await export_bundle(store, COMMUNITY, bundle, verifier)
        finally:
            await store.close()
        args = build_parser().parse_args([str(bundle), "--key", verifier.key_string()])
        out, err = io.StringIO(), io.StringIO()
        if await asyncio.to_thread(run_verify, args, out, err) != 0:
            failures.append(f"verify: {out.getvalue()}{err.getvalue()}")
    return failures


def stop_and_start(cluster: Cluster, down_seconds: float = 0.5) -> Callable[[], None]:
    """An interruption of ``cluster``: ``pg_ctl stop -m immediate``, a pause, start again."""

    def interrupt() -> None:
        cluster.stop("immediate")
        time.sleep(down_seconds)
        cluster.start()

    return interrupt


@dataclass(frozen=True, slots=True)
class DrillReport:
    """What a drill did and what the books said afterwards. ``lost``, ``doubled``,
    ``stray``, ``retry_failures`` and ``audit_failures`` must all be empty."""

    sent: int
    acknowledged: int
    unanswered: int
    booked_before_retry: int  # unanswered, yet committed before the crash
    kills: int
    database_interruptions: int
    statuses: dict[str, int]
    restart_seconds: list[float]
    entries: int
    lost: list[str]  # acknowledged keys whose entry is not in the journal, or is another's
    unbooked: list[str]  # unanswered keys still without an entry after the retry
    doubled: list[str]  # transfers no key was answered with (a request booked twice)
    stray: list[str]  # keys answered with an entry that is no transfer of the drill
    retry_failures: dict[int, int]  # status of retries that did not succeed -> count
    audit_failures: list[str]
    server_errors: list[str]  # what the server logged at level ERROR: why a 5xx came
    seconds: float

    @property
    def sound(self) -> bool:
        return not (
            self.lost
            or self.unbooked
            or self.doubled
            or self.stray
            or self.retry_failures
            or self.audit_failures
        )


async def run_drill(
    database_url: str,
    plan: CrashPlan,
    workers: int = 1,
    interrupt_database: Callable[[], None] | None = None,
    funds_minutes: int = 5_000,
) -> DrillReport:
    """Seed a community on ``database_url``, run the drill against a server on it,
    retry what went unanswered, and check the books."""
    began = time.monotonic()
    port = free_port()
    env = server_env(database_url, f"http://127.0.0.1:{port}")
    seeded = await seed(env, members=plan.clients, funds_minutes=funds_minutes)
    server = ServerProcess(env, port, workers)
    prefix = "crash"
    try:
        outcome = await crash_drill(server, seeded, plan, interrupt_database, prefix)
        acked = dict(outcome.acked)
        before_retry = await read_books(database_url)
        retried = await retry_unanswered(server, seeded, outcome)
    finally:
        server.stop()
    books = await read_books(database_url)
    # Every key the server answered (first or on the retry) with the entry it booked.
    answered = dict(outcome.acked)
    keys_of: Counter[str] = Counter(answered.values())
    sent = set(acked) | outcome.unanswered
    return DrillReport(
        sent=len(sent),
        acknowledged=len(acked),
        unanswered=len(outcome.unanswered),
        booked_before_retry=sum(answered.get(k) in before_retry.ids for k in outcome.unanswered),
        kills=outcome.kills,
        database_interruptions=outcome.database_interruptions,
        statuses=dict(outcome.statuses),
        restart_seconds=[round(s, 1) for s in outcome.restart_seconds],
        entries=books.entries,
        lost=sorted(k for k, i in acked.items() if i not in books.ids or keys_of[i] > 1),
        unbooked=sorted(k for k in outcome.unanswered if answered.get(k) not in books.ids),
        doubled=sorted(books.transfers - set(answered.values())),
        stray=sorted(k for k, i in answered.items() if i not in books.transfers),
        retry_failures={s: n for s, n in retried.items() if s not in (200, 201)},
        audit_failures=await audit_and_verify(database_url, env),
        server_errors=server.errors(),
        seconds=round(time.monotonic() - began, 1),
    )
