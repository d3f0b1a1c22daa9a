"""Explicit parameter markers for paths and queries, and what every API route declares.

Each alias says where a value comes from and bounds it, so that bad input is a
422 problem before a handler runs and the OpenAPI document says the same.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import PathParameter, QueryParameter

from api import limits as api_limits
from api.access import Action, Principal
from api.auth import authorization
from api.problems import problem_responses
from api.replica import ReadView
from api.runtime import Runtime
from api.schemas.common import ROW_ID_PATTERN
from ledger import limits
from ledger.amounts import LANGUAGES
from ledger.shape import ACCOUNT_ID_PATTERN, ID_PATTERN

RuntimeDep = NamedDependency[Runtime]
PrincipalDep = NamedDependency[Principal]
# Reads that may come from the read replica (see api.replica).
ReadsDep = NamedDependency[ReadView]

SECURITY: list[dict[str, list[str]]] = [{"BearerAuth": []}]
MIDDLEWARE = [authorization]

AccountIdPath = Annotated[
    str,
    PathParameter(
        title="Account id",
        pattern=f"^{ACCOUNT_ID_PATTERN.pattern}$",
        max_length=limits.ACCOUNT_ID_LENGTH_MAX,
    ),
]
EntryIdPath = Annotated[
    str,
    PathParameter(
        title="Entry id", pattern=f"^{ID_PATTERN.pattern}$", max_length=limits.ENTRY_ID_LENGTH_MAX
    ),
]
IdPath = Annotated[str, PathParameter(title="Id", pattern=ROW_ID_PATTERN, max_length=40)]
SlugPath = Annotated[
    str, PathParameter(title="Community slug", pattern="^[a-z][a-z0-9-]{1,39}$", max_length=40)
]
CursorQuery = Annotated[
    str | None,
    QueryParameter(
        name="cursor",
        required=False,
        max_length=40,
        description="Where the previous page ended (its next_cursor).",
    ),
]
# Pages of people end at a person's id: only an id's characters reach the database.
PersonCursorQuery = Annotated[
    str | None,
    QueryParameter(
        name="cursor",
        required=False,
        pattern=ROW_ID_PATTERN,
        max_length=40,
        description="Where the previous page ended (its next_cursor).",
    ),
]
LimitQuery = Annotated[
    int,
    QueryParameter(name="limit", ge=1, le=limits.PAGE_SIZE_MAX, description="Items per page."),
]
ListLimitQuery = Annotated[int, QueryParameter(name="limit", ge=1, le=api_limits.LIST_SIZE_MAX)]


def route(
    action: Action, *statuses: int, extra: dict[int, ResponseSpec] | None = None
) -> dict[str, Any]:
    """Keyword arguments every authorized API handler takes: its action, security and problems."""
    return {
        "middleware": MIDDLEWARE,
        "opt": {"action": action},
        "security": SECURITY,
        "responses": problem_responses(403, *statuses) | (extra or {}),
    }


# The languages a download's words come in (amounts in words, a printable page's text).
Language = Literal["nl", "en", "tr", "ar"]
assert set(get_args(Language)) == set(LANGUAGES), "the languages format_hours has words for"
LanguageQuery = Annotated[
    Language,
    QueryParameter(
        name="language",
        required=False,
        description="The language of the words (Dutch by default); the figures are the same.",
    ),
]
