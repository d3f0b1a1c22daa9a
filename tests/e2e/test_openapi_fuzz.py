"""Schemathesis against a running server's live OpenAPI: as every role, one by one and along links.

The server is ``buurtmunt serve`` in a child process (``tests/support/server.py``)
over a community seeded with a person of each role, each holding an API token.
Every operation gets a fixed, derandomized budget of generated requests from
each role (more from the roles allowed to call it, so they reach the handler
rather than the guard) and from an anonymous caller. Then a state machine
chains operations along the links Schemathesis infers from the schema (an id
in one answer feeds the path of the next call), each step sent by a role that
may make it.

Checks: no 5xx; every status, content type and body is one the document
declares; one by one, a request the document forbids is refused. Failures are
collected over all operations and reported together. It runs on SQLite and
PostgreSQL (which refuses a NUL byte in text, so a value that reaches it
unchecked shows as a 500 there). The budget is CI's, a minute or two;
``BUURTMUNT_FUZZ_SCALE=10`` multiplies it for a deeper run.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from api.access import MATRIX, Action, Role
from api.app import create_app
from api.settings import Settings
from tests.support.api import Actor, open_world
from tests.support.api_checks import problem
from tests.support.server import free_port, serving

pytestmark = pytest.mark.slow

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# One request at a time, also: a request the schema forbids is refused (4xx). Not along
# links, where a scenario's negative step may drop the token the machine then adds back.
CHECKS_ONE_BY_ONE = [*CHECKS, negative_data_rejection]
# A deeper run than CI's: BUURTMUNT_FUZZ_SCALE=10 multiplies the budgets below.
SCALE = int(os.environ.get("BUURTMUNT_FUZZ_SCALE", "1"))
# Requests per operation from a role allowed to call it, and from one that is not.
EXAMPLES_ALLOWED = 8 * SCALE
EXAMPLES_REFUSED = 1 * SCALE
# The stateful phase: scenarios, and steps in each.
SCENARIOS = 30 * SCALE
STEPS_PER_SCENARIO = 8
CALL_TIMEOUT_SECONDS = 10
# Every role, as the world's actors are named (the operator runs the deployment).
ROLES = {
    Role.ADMIN: "admin", Role.COORDINATOR: "coordinator", Role.MEMBER: "member",
    Role.SHOP: "shop_staff", Role.AUDITOR: "auditor", Role.OPERATOR: "operator",
}  # fmt: skip
ANONYMOUS = "anonymous"
# An event stream stays open until its payment request ends: not a request/response operation.
STREAMS = re.compile(r"/events$")
# Calls that would take a fuzzing actor out of the run (erase, revoke, demote) are
# pointed at an id nobody has when they name one of the actors.
DESTRUCTIVE = re.compile(r"/(erase|revoke)$|/roles/\{role\}$")


def _settings(examples: int) -> Any:
    return settings(
        max_examples=examples,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )


def _actions(app: Any) -> dict[tuple[str, str], Action]:
    """(method, path) -> the action its guard checks, read off the app's handlers."""
    found = {}
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if "action" in handler.opt:
                for method in handler.http_methods:
                    found[(method, route.path_format)] = Action(handler.opt["action"])
    return found


def _allowed(operation: Any, actions: dict[tuple[str, str], Action]) -> list[str]:
    """The fuzzing callers allowed to call ``operation`` (every one where no action guards it)."""
    action = actions.get((operation.method.upper(), operation.path))
    if action is None:
        return [*ROLES.values(), ANONYMOUS]
    return [name for role, name in ROLES.items() if role in MATRIX[action]]


def _shield(case: Any, protected: set[str]) -> None:
    """Point a destructive call that names a fuzzing actor at an id nobody has."""
    if not DESTRUCTIVE.search(case.operation.path):
        return
    for name, value in list((case.path_parameters or {}).items()):
        if value in protected:
            case.path_parameters[name] = f"{value.split('_')[0]}_{'a' * 16}"


def _exercise(
    operation: Any, headers: dict[str, str], examples: int, protected: set[str], seen: Counter[int]
) -> None:
    @given(case=operation.as_strategy())
    @_settings(examples)
    def run(case: Any) -> None:
        _shield(case, protected)
        response = case.call(headers=headers, timeout=CALL_TIMEOUT_SECONDS)
        seen[response.status_code] += 1
        case.validate_response(response, checks=CHECKS_ONE_BY_ONE)

    run()


@pytest.fixture
async def live(database_url: str) -> AsyncIterator[tuple[str, dict[str, Actor], dict[Any, Action]]]:
    """A served community with an actor per role, its base URL, and each route's action."""
    async with open_world(database_url) as world:
        rt_settings: Settings = world.rt.settings
        actors = dict(world.actors)
    env = {
        "BUURTMUNT_DATABASE_URL": database_url,
        "BUURTMUNT_SIGNING_KEY": rt_settings.signing_key,
        "BUURTMUNT_PUBLIC_URL": rt_settings.public_url,
        "BUURTMUNT_RATE_LIMIT_PER_MINUTE": "1000000",
        "BUURTMUNT_EVENT_HEARTBEAT_SECONDS": "5",
    }
    actions = _actions(create_app(rt_settings))
    with serving(env, free_port()) as base:
        yield base, actors, actions


def _callers(actors: dict[str, Actor]) -> dict[str, dict[str, str]]:
    callers = {name: actors[name].headers for name in ROLES.values()}
    callers[ANONYMOUS] = {}
    return callers


def _protected(actors: dict[str, Actor]) -> set[str]:
    ids = set()
    for actor in actors.values():
        ids |= {actor.person_id, actor.credential_id}
        ids |= {i for i in (actor.staff_id, actor.account) if i}
    return ids


def test_generated_requests_from_every_role_get_no_server_error_and_match_the_schema(
    live: tuple[str, dict[str, Actor], dict[Any, Action]],
) -> None:
    base, actors, actions = live
    schema = schemathesis.openapi.from_url(f"{base}/schema/openapi.json")
    callers, protected = _callers(actors), _protected(actors)
    failures, seen = [], {name: Counter[int]() for name in callers}
    for result in schema.get_all_operations():
        operation = result.ok()  # Err raises here, as it should
        allowed = _allowed(operation, actions)
        for name, headers in callers.items():
            examples = EXAMPLES_ALLOWED if name in allowed else EXAMPLES_REFUSED
            try:
                _exercise(operation, headers, examples, protected, seen[name])
            except Exception as failure:  # noqa: BLE001 - collect every operation's failures
                failures.append(f"{operation.method.upper()} {operation.path} as {name}: {failure}")
    assert failures == [], "\n\n".join(failures)
    # Every role's token worked: each reached some handler and was answered 2xx.
    answered = {name for name, statuses in seen.items() if any(s < 300 for s in statuses)}
    assert answered == set(callers), seen


def test_chains_of_calls_along_the_schemas_links_get_no_server_error_and_match_the_schema(
    live: tuple[str, dict[str, Actor], dict[Any, Action]],
) -> None:
    base, actors, actions = live
    schema = schemathesis.openapi.from_url(f"{base}/schema/openapi.json")
    schema = schema.exclude(path_regex=STREAMS.pattern)
    callers, protected = _callers(actors), _protected(actors)
    seen: Counter[str] = Counter()

    class Machine(schema.as_state_machine()):  # type: ignore[misc]
        def before_call(self, case: Any) -> None:
            _shield(case, protected)

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            name = (_allowed(case.operation, actions) or [ANONYMOUS])[0]
            return {"headers": callers[name], "timeout": CALL_TIMEOUT_SECONDS}

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            seen[f"{case.operation.method} {case.operation.path} {response.status_code}"] += 1
            case.validate_response(response, checks=CHECKS)

    Machine.run(
        settings=settings(
            max_examples=SCENARIOS,
            stateful_step_count=STEPS_PER_SCENARIO,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
    )
    # Links were followed: an operation on an id that only an earlier answer could give
    # (random ids are unknown) succeeded.
    linked = [step for step, n in seen.items() if "{" in step and step.endswith((" 200", " 201"))]
    assert linked, sorted(seen)


# What the fuzzing found, kept as plain regressions.


async def test_a_nul_byte_in_a_people_cursor_or_a_role_scope_is_refused_before_the_database(
    database_url: str,
) -> None:
    # PostgreSQL refuses a NUL byte in text: it used to come back as a 500.
    async with open_world(database_url) as world:
        member = world.members[0]
        for path in ("/api/v1/members", "/api/v1/staff"):
            listed = await world.get(path, as_=world.admin, params={"cursor": "prs_\x00"})
            problem(listed, 422, "request_invalid")
        revoked = await world.client.delete(
            f"/api/v1/people/{member.person_id}/roles/shop",
            params={"scope": "shp\x00"},
            headers=world.admin.headers,
        )
        problem(revoked, 422, "request_invalid")


async def test_a_nul_byte_in_a_staff_roles_scope_or_a_token_label_is_refused_as_invalid(
    database_url: str,
) -> None:
    async with open_world(database_url) as world:
        staff = await world.post(
            "/api/v1/staff",
            {"name": "Kim", "roles": [{"role": "coordinator", "scope": "org\x00"}]},
            as_=world.admin,
        )
        token = await world.post(
            "/api/v1/tokens",
            {"person_id": world.member.person_id, "role": "member", "label": "till\x00"},
            as_=world.admin,
        )
        problem(staff, 422, "request_invalid")
        problem(token, 422, "request_invalid")


async def test_a_payment_request_whose_memo_is_not_printable_text_is_refused(
    database_url: str,
) -> None:
    async with open_world(database_url) as world:
        for memo in ("koffie\x00", "koffie\x01"):
            asked = await world.post(
                "/api/v1/payment-requests",
                {"amount_minutes": 30, "memo": memo},
                as_=world.shop_staff,
            )
            problem(asked, 422, "text_invalid")


async def test_a_new_staff_member_with_a_role_named_twice_holds_it_once(
    database_url: str,
) -> None:
    async with open_world(database_url) as world:
        added = await world.post(
            "/api/v1/staff",
            {"name": "Kim", "roles": [{"role": "auditor"}, {"role": "auditor"}]},
            as_=world.admin,
        )

        assert added.status_code == 201, added.text
        assert [r for r in added.json()["roles"] if r["role"] == "auditor"] == [
            {"role": "auditor", "scope": ""}
        ]
