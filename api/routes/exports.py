"""The municipality's downloads: the statement, the entry and balance CSVs, the bundle.

Auditors and administrators only. The format of a statement is in its path
(``/statements``, ``/statements.csv``, ``/statements.html``), as with a shop's
statement, not by content negotiation: a link to a download stays the same
whatever a browser sends, and each path documents the one type it answers.
The printable page is in the ``language`` asked for (Dutch by default).
The statement is the audited one ``buurtmunt audit --period`` prints, with
organisation and shop names from the directory; the bundle is the directory
``buurtmunt export`` writes, as a tar stream that ``tar -x`` unpacks for
``buurtmunt verify``.
"""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, get
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import QueryParameter
from litestar.response import Stream

from api import statements
from api.access import Action
from api.auth import community_of
from api.problems import invalid
from api.routes.markers import Language, LanguageQuery, PrincipalDep, ReadsDep, RuntimeDep, route
from api.runtime import Runtime
from ledger import limits
from ledger.audit.statement import Period, Statement

# Litestar adds "; charset=utf-8" to text types itself.
CSV = "text/csv"
HTML = "text/html"
TAR = "application/x-tar"

PeriodQuery = Annotated[
    str,
    QueryParameter(
        name="period",
        pattern="^[0-9]{4}(-(0[1-9]|1[0-2]|Q[1-4]))?$",
        max_length=7,
        description="A year (YYYY), a quarter (YYYY-Qn) or a month (YYYY-MM), in UTC.",
    ),
]
OptionalPeriodQuery = Annotated[
    str | None,
    QueryParameter(
        name="period",
        required=False,
        pattern="^[0-9]{4}(-(0[1-9]|1[0-2]|Q[1-4]))?$",
        max_length=7,
        description="Only the entries timed in this year, quarter or month (UTC).",
    ),
]
StartQuery = Annotated[
    int,
    QueryParameter(
        name="start",
        required=False,
        ge=0,
        le=limits.TREE_SIZE_MAX,
        description="The seq of the first entry (default 0).",
        schema_extra={"minimum": 0, "maximum": limits.TREE_SIZE_MAX},
    ),
]
EndQuery = Annotated[
    int | None,
    QueryParameter(
        name="end",
        required=False,
        ge=0,
        le=limits.TREE_SIZE_MAX,
        description="One past the seq of the last entry (default: the journal's size).",
        schema_extra={"minimum": 0, "maximum": limits.TREE_SIZE_MAX},
    ),
]


# The JSON form's shape; each organisation and shop line also carries its ``name``, and the
# circulation its derived totals and ``reconciles``.
STATEMENT_RESPONSE = ResponseSpec(
    Statement,
    description="The statement (JSON).",
)


def _attachment(name: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{name}"'}


class StatementController(Controller):
    path = "/api/v1"
    tags = ["audit"]

    @get(
        "/statements",
        summary="The community's audited statement for a month, quarter or year",
        description=(
            "Circulation and liability, credits issued per organisation, redeemed and settled"
            " per shop, member activity and a monthly series, at the newest signed checkpoint,"
            " after an audit of the whole journal (audit_not_clean if it finds anything)."
            " Organisations and shops carry their names. The same as CSV at"
            " /statements.csv and as a printable page at /statements.html. Auditors and"
            " administrators."
        ),
        **route(Action.STATEMENT_READ, 404, 409, extra={200: STATEMENT_RESPONSE}),
    )
    async def read(
        self, rt: RuntimeDep, principal: PrincipalDep, period: PeriodQuery
    ) -> Response[str]:
        body = await _statement(rt, principal, period, "json")
        return Response(body, media_type="application/json")

    @get(
        "/statements.csv",
        summary="The audited statement as CSV, one figure a row",
        media_type=CSV,
        **route(Action.STATEMENT_READ, 404, 409),
    )
    async def read_csv(
        self, rt: RuntimeDep, principal: PrincipalDep, period: PeriodQuery
    ) -> Response[str]:
        body = await _statement(rt, principal, period, "csv")
        return Response(body, media_type=CSV, headers=_attachment(f"statement-{period}.csv"))

    @get(
        "/statements.html",
        summary="The audited statement as a printable page",
        media_type=HTML,
        **route(Action.STATEMENT_READ, 404, 409),
    )
    async def read_html(
        self,
        rt: RuntimeDep,
        principal: PrincipalDep,
        period: PeriodQuery,
        language: LanguageQuery = "nl",
    ) -> Response[str]:
        body = await _statement(rt, principal, period, "html", language)
        # The page's own style sheet, and only it, is allowed in by its hash.
        headers = {"Content-Security-Policy": statements.printable_policy(body)}
        return Response(body, media_type=HTML, headers=headers)


async def _statement(
    rt: Runtime,
    principal: PrincipalDep,
    period: str,
    fmt: statements.StatementFormat,
    language: Language = "nl",
) -> str:
    community = community_of(principal)
    reads = await rt.reads.current(community)  # what was written before the question is in it
    found = await statements.statement(reads, community, Period.parse(period))
    names = await statements.account_names(reads, community)
    return statements.render_statement(found, names, fmt, language)


class ExportController(Controller):
    path = "/api/v1/exports"
    tags = ["audit"]

    @get(
        "/entries.csv",
        summary="The journal's entries as CSV, one row per posting, streamed",
        description=(
            f"Columns {', '.join(statements.ENTRY_COLUMNS)}; account ids as in the journal."
            " Entries start <= seq < end, and of those only the ones timed in period if given."
            " Auditors and administrators."
        ),
        media_type=CSV,
        **route(Action.EXPORT_READ),
    )
    async def entries(
        self,
        reads: ReadsDep,
        principal: PrincipalDep,
        start: StartQuery = 0,
        end: EndQuery = None,
        period: OptionalPeriodQuery = None,
    ) -> Stream:
        community = community_of(principal)
        if end is not None and end < start:
            raise invalid("range_invalid", "Ask for start <= end.")
        rows = statements.entries_csv(
            reads, community, start, end, Period.parse(period) if period else None
        )
        return Stream(rows, media_type=CSV, headers=_attachment(f"{community}-entries.csv"))

    @get(
        "/balances.csv",
        summary="Every account's balance at the newest signed checkpoint, as CSV",
        description=(
            f"Columns {', '.join(statements.BALANCE_COLUMNS)}: the cached balances at exactly"
            " the head checkpoint, as the bundle's balances.json holds them. Auditors and"
            " administrators."
        ),
        media_type=CSV,
        **route(Action.EXPORT_READ, 404),
    )
    async def balances(self, reads: ReadsDep, principal: PrincipalDep) -> Response[bytes]:
        community = community_of(principal)
        body = await statements.balances_csv(reads, community)
        return Response(body, media_type=CSV, headers=_attachment(f"{community}-balances.csv"))

    @get(
        "/bundle",
        summary="The export bundle as a tar stream (what buurtmunt export writes)",
        description=(
            "One directory <community>-<size> holding manifest.json, entries.jsonl, checkpoint,"
            " checkpoints.txt, verifier.key and balances.json, up to the newest signed checkpoint."
            " Unpack it and run buurtmunt verify on the directory. Auditors and administrators."
        ),
        media_type=TAR,
        **route(Action.EXPORT_READ, 404),
    )
    async def bundle(self, reads: ReadsDep, principal: PrincipalDep) -> Stream:
        community = community_of(principal)
        parent, name = await statements.bundle_directory(reads, community)
        return Stream(
            statements.tar_stream(parent, name),
            media_type=TAR,
            headers=_attachment(f"{name}.tar"),
        )
