"""Schemathesis against the OpenAPI document: no 5xx, no response outside the schema.

Each operation gets a fixed, derandomized budget of generated requests, sent by
a caller whose role may use it (so they reach the handlers, not just the guard).
"""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.specs.openapi.checks import response_schema_conformance

from api.access import MATRIX, Action, Role
from api.app import create_app
from tests.support.api import Actor, open_world

EXAMPLES_PER_OPERATION = 15
PREFERRED = [Role.ADMIN, Role.COORDINATOR, Role.MEMBER, Role.AUDITOR, Role.SHOP, Role.OPERATOR]
ACTORS = {
    Role.ADMIN: "admin", Role.COORDINATOR: "coordinator", Role.MEMBER: "member",
    Role.AUDITOR: "auditor", Role.SHOP: "shop_staff", Role.OPERATOR: "operator",
}  # fmt: skip


def _caller(
    operation: Any, actors: dict[str, Actor], actions: dict[tuple[str, str], str]
) -> Actor | None:
    action = actions.get((operation.method.upper(), operation.path))
    if action is None:
        return None
    allowed = MATRIX[Action(action)]
    role = next(r for r in PREFERRED if r in allowed)
    return actors[ACTORS[role]]


def _actions(app: Any) -> dict[tuple[str, str], str]:
    found = {}
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if "action" in handler.opt:
                for method in handler.http_methods:
                    found[(method, route.path_format)] = handler.opt["action"]
    return found


def _exercise(operation: Any, headers: dict[str, str]) -> None:
    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        case.call_and_validate(
            headers=headers, checks=[not_a_server_error, response_schema_conformance]
        )

    run()


async def test_generated_requests_get_no_server_error_and_match_the_schema(
    database_url: str,
) -> None:
    async with open_world(database_url) as world:
        settings_ = world.rt.settings
        actors = dict(world.actors)
    app = create_app(settings_)
    try:
        schema = schemathesis.openapi.from_asgi("/schema/openapi.json", app)
        actions = _actions(app)
        failures = []
        for result in schema.get_all_operations():
            operation = result.ok()  # type: ignore[union-attr]  # Err raises here, as it should
            caller = _caller(operation, actors, actions)
            headers = caller.headers if caller is not None else {}
            try:
                _exercise(operation, headers)
            except Exception as failure:  # noqa: BLE001 - collect every operation's failures
                failures.append(f"{operation.method.upper()} {operation.path}: {failure}")
        assert failures == [], "\n\n".join(failures)
    finally:
        shutdown_lifespans()
