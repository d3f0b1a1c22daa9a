"""The municipality's screens (the auditor role): a dashboard of the statement for a
period, links to the downloads, and the current signed checkpoint with the commands
that verify it.

The dashboard shows the statement the API serves (``api.statements``: the same audit
as ``buurtmunt audit``): credits outstanding month by month (an SVG drawn here),
issued per organisation and redeemed per shop, by name, with ``<meter>`` bars (no
style attributes: the policy allows none). The downloads are the API's own routes
(``/api/v1/statements``, ``/api/v1/exports/bundle``), which take the signed-in
browser's cookie for a GET.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get

from api import statements
from api.access import Role
from api.problems import ProblemError
from api.routes.markers import RuntimeDep
from api.runtime import Runtime
from ledger.audit.statement import Period, PeriodError, Statement
from mobile_web.render import N_
from mobile_web.staff import Staff, screen, staff_for, staff_message

HOME = "/s/municipality"
CHART_WIDTH, CHART_HEIGHT, CHART_TOP, CHART_BOTTOM = 640, 220, 10, 30
CHART_BAR_WIDTH_MAX = 48


def _period(request: Request[Any, Any, Any], rt: Runtime) -> Period | None:
    text = request.query_params.get("period", "")[:10] or rt.month()[:4]
    try:
        return Period.parse(text)
    except PeriodError:
        return None


async def _statement(rt: Runtime, staff: Staff, period: Period) -> Statement | None:
    """The statement for ``period``, or None when there is none to show (an empty journal,
    or an audit with findings)."""
    try:
        return await statements.statement(
            await rt.reads.current(staff.community), staff.community, period
        )
    except ProblemError:
        return None


def outstanding_bars(statement: Statement) -> list[tuple[str, int, float, float, float]]:
    """(month, minutes, x, width, height) of each month's bar, in chart units."""
    points = statement.series
    top = max([p.outstanding_end_minutes for p in points] + [60])
    slot = CHART_WIDTH / max(len(points), 1)
    width = min(slot * 0.7, CHART_BAR_WIDTH_MAX)
    inner = CHART_HEIGHT - CHART_TOP - CHART_BOTTOM
    return [
        (p.month, minutes, slot * i + (slot - width) / 2, width, inner * minutes / top)
        for i, p in enumerate(points)
        for minutes in (p.outstanding_end_minutes,)
    ]


@get(HOME, include_in_schema=False)
async def dashboard(request: Request[Any, Any, Any], rt: RuntimeDep) -> Response[str]:
    staff = await staff_for(request, rt, Role.AUDITOR)
    if not isinstance(staff, Staff):
        return staff
    period = _period(request, rt)
    if period is None:
        return staff_message(
            staff, N_("Sorry"), N_("Give the period as 2026, 2026-Q4 or 2026-11."), 422,
            link=HOME,
        )  # fmt: skip
    statement = await _statement(rt, staff, period)
    names = await statements.account_names(await rt.reads.view(staff.community), staff.community)
    bars = outstanding_bars(statement) if statement is not None else []
    return screen(
        "staff_municipality.html",
        staff,
        period=period,
        statement=statement,
        names=names,
        bars=bars,
        chart=(CHART_WIDTH, CHART_HEIGHT, CHART_TOP, CHART_BOTTOM),
    )


@get(f"{HOME}/checkpoint", include_in_schema=False)
async def checkpoint(request: Request[Any, Any, Any], rt: RuntimeDep) -> Response[str]:
    staff = await staff_for(request, rt, Role.AUDITOR)
    if not isinstance(staff, Staff):
        return staff
    head = await rt.ledger.checkpoint(staff.community)
    key = (await rt.ledger.log_verifier(staff.community)).key_string()
    return screen(
        "staff_checkpoint.html",
        staff,
        note=None if head is None else head.note,
        size=None if head is None else head.size,
        key=key,
        community=staff.community,
    )


ROUTES = [dashboard, checkpoint]
