"""Liveness and readiness, for load balancers and orchestrators (no authentication).

``/ready`` says whether this process can take payments: the database answers
within ``READY_DATABASE_SECONDS``, and every community writer this process has
started is alive and not stalled (drafts waiting, no commit for
``READY_WRITER_STALL_SECONDS``). It lists each writer with the age of its last
commit. A writer is started at a community's first append in this process.
"""

from __future__ import annotations

import asyncio
import time

import msgspec
from litestar import HttpMethod, route
from litestar.datastructures import State

from api import limits
from api.leases import HostLeases
from api.problems import ProblemError, problem_responses
from api.runtime import Runtime


class HealthOut(msgspec.Struct):
    status: str


class WriterOut(msgspec.Struct):
    community: str
    alive: bool
    waiting_drafts: int
    # Seconds since this process's writer last committed; None before its first commit.
    last_commit_age_seconds: float | None


class ReadyOut(msgspec.Struct):
    status: str
    database: str
    writers: list[WriterOut]
    # With several workers: the communities whose lease this process holds, and so
    # writes for every worker (see docs/operations.md, "Several workers").
    leases: list[str] = []


# GET and HEAD: load balancers probe with either (a HEAD answer carries no body).
_PROBE = [HttpMethod.GET, HttpMethod.HEAD]


@route("/health", http_method=_PROBE, tags=["health"], summary="The process is up")
async def health() -> HealthOut:
    return HealthOut(status="ok")


def writer_states(runtime: Runtime) -> list[WriterOut]:
    now = time.monotonic()
    states = []
    for community, writer in sorted(runtime.ledger.writers().items()):
        activity = runtime.commits.activity.get(community)
        last = None if activity is None else activity.last_commit_monotonic
        states.append(
            WriterOut(
                community=community,
                alive=writer.alive,
                waiting_drafts=writer.waiting,
                last_commit_age_seconds=None if last is None else round(now - last, 3),
            )
        )
    return states


def stalled(writer: WriterOut) -> bool:
    age = writer.last_commit_age_seconds
    return writer.waiting_drafts > 0 and age is not None and age > limits.READY_WRITER_STALL_SECONDS


@route(
    "/ready",
    http_method=_PROBE,
    tags=["health"],
    summary="The database answers and every ledger writer works",
    responses=problem_responses(503),
)
async def ready(state: State) -> ReadyOut:
    runtime = getattr(state, "runtime", None)
    if not isinstance(runtime, Runtime):
        raise ProblemError(503, "not_ready", "Starting up.", headers={"Retry-After": "1"})
    writers = writer_states(runtime)
    numbers = {"writers": [msgspec.to_builtins(w) for w in writers]}
    try:
        await asyncio.wait_for(runtime.db.ping(), limits.READY_DATABASE_SECONDS)
    except Exception as exc:
        problem = ProblemError(503, "database_unavailable", "The database does not answer.")
        problem.numbers = numbers
        raise problem from exc
    broken = [w.community for w in writers if not w.alive or stalled(w)]
    if broken:
        detail = "The ledger writer of " + ", ".join(broken) + " is stopped or stalled."
        problem = ProblemError(503, "ledger_writer_stopped", detail)
        problem.numbers = numbers
        raise problem
    leases = runtime.ledger.leases
    held = leases.held() if isinstance(leases, HostLeases) else []
    return ReadyOut(status="ready", database="ok", writers=writers, leases=held)


ROUTES = [health, ready]
