"""Liveness and readiness, for load balancers and orchestrators (no authentication)."""

from __future__ import annotations

import msgspec
from litestar import HttpMethod, route
from litestar.datastructures import State

from api.problems import ProblemError, problem_responses
from api.runtime import Runtime


class HealthOut(msgspec.Struct):
    status: str


# GET and HEAD: load balancers probe with either (a HEAD answer carries no body).
_PROBE = [HttpMethod.GET, HttpMethod.HEAD]


@route("/health", http_method=_PROBE, tags=["health"], summary="The process is up")
async def health() -> HealthOut:
    return HealthOut(status="ok")


@route(
    "/ready",
    http_method=_PROBE,
    tags=["health"],
    summary="The database answers",
    responses=problem_responses(503),
)
async def ready(state: State) -> HealthOut:
    runtime = getattr(state, "runtime", None)
    if not isinstance(runtime, Runtime):
        raise ProblemError(503, "not_ready", "Starting up.", headers={"Retry-After": "1"})
    try:
        await runtime.db.ping()
    except Exception as exc:
        raise ProblemError(503, "not_ready", "The database does not answer.") from exc
    return HealthOut(status="ready")


ROUTES = [health, ready]
