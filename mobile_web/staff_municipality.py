"""The municipality's screens (the auditor role): a dashboard of the statement for a
period, the statement as CSV and HTML downloads, the verifiable export, and the
current signed checkpoint with the commands that verify it.

The dashboard runs the same audit as ``buurtmunt audit`` (``api.audit_commands``)
over the journal and shows its statement: credits outstanding month by month
(an SVG drawn here), issued per organisation and redeemed per shop, by name,
with ``<meter>`` bars (no style attributes: the policy allows none).
"""

from __future__ import annotations

import asyncio
import shutil
import tarfile
import tempfile
from collections import OrderedDict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from litestar import Request, Response, get
from litestar.response import Stream

from api import limits
from api.access import Role
from api.audit_commands import audit_store, format_statement
from api.directory import named_accounts
from api.routes.markers import RuntimeDep
from api.runtime import Runtime
from ledger.export import export_bundle
from ledger.model import AccountType
from ledger.statement import Period, PeriodError, Statement
from mobile_web.render import N_
from mobile_web.resident import message_page
from mobile_web.staff import Staff, screen, staff_for

HOME = "/s/municipality"
CHART_WIDTH, CHART_HEIGHT, CHART_TOP, CHART_BOTTOM = 640, 220, 10, 30
CHART_BAR_WIDTH_MAX = 48
EXPORT_CHUNK_BYTES = 64 * 1024
# Clean statements by (community, checkpoint size, period), oldest dropped first.
_statements: OrderedDict[tuple[str, int, str], Statement] = OrderedDict()
FORMATS = {"csv": "text/csv; charset=utf-8", "html": "text/html; charset=utf-8"}


def _period(request: Request[Any, Any, Any], rt: Runtime) -> Period | None:
    text = request.query_params.get("period", "")[:10] or rt.month()[:4]
    try:
        return Period.parse(text)
    except PeriodError:
        return None


async def _statement(rt: Runtime, staff: Staff, period: Period) -> Statement | None:
    """The statement for ``period``, or None when the audit finds problems.

    The audit reads the whole journal (about 100,000 entries a second), so a
    clean statement is kept for its checkpoint: the dashboard audits again
    only when the journal has grown.
    """
    head = await rt.ledger.checkpoint(staff.community)
    key = (staff.community, 0 if head is None else head.size, period.label)
    kept = _statements.get(key)
    if kept is not None:
        _statements.move_to_end(key)
        return kept
    verifier = await rt.ledger.log_verifier(staff.community)
    report, statement = await audit_store(rt.store, staff.community, verifier, period=period)
    if not report.clean or statement is None:
        return None
    if len(_statements) >= limits.STATEMENT_CACHE_ENTRIES_MAX:
        _statements.popitem(last=False)
    _statements[(staff.community, statement.checkpoint_size, period.label)] = statement
    return statement


async def _names(rt: Runtime, community: str) -> dict[str, str]:
    async with rt.db.read() as session:
        found: dict[str, str] = {}
        for type in (AccountType.ORGANISATION, AccountType.SHOP):
            found |= {
                row.account_id: row.name for row in await named_accounts(session, community, type)
            }
    return found


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
        return message_page(
            staff.page, N_("Sorry"), N_("Give the period as 2026, 2026-Q4 or 2026-11."), 422,
            link=HOME,
        )  # fmt: skip
    statement = await _statement(rt, staff, period)
    names = await _names(rt, staff.community)
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


async def _statement_file(request: Request[Any, Any, Any], rt: Runtime, fmt: str) -> Response[str]:
    staff = await staff_for(request, rt, Role.AUDITOR)
    if not isinstance(staff, Staff):
        return staff
    period = _period(request, rt)
    if period is None:
        return message_page(staff.page, N_("Sorry"), N_("We cannot find this page."), 404)
    statement = await _statement(rt, staff, period)
    if statement is None:
        return message_page(staff.page, N_("Sorry"), N_("The audit found problems."), 409)
    name = f"statement-{staff.community}-{period.label}.{fmt}"
    return Response(
        format_statement(statement, fmt),
        media_type=FORMATS[fmt],
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )


@get(f"{HOME}/statement.csv", include_in_schema=False)
async def statement_csv(request: Request[Any, Any, Any], rt: RuntimeDep) -> Response[str]:
    return await _statement_file(request, rt, "csv")


@get(f"{HOME}/statement.html", include_in_schema=False)
async def statement_html(request: Request[Any, Any, Any], rt: RuntimeDep) -> Response[str]:
    """The printable statement (``ledger.report``), as a file to keep."""
    return await _statement_file(request, rt, "html")


def _pack(bundle: Path, archive: Path) -> None:
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(bundle, arcname=bundle.name)


async def _chunks(archive: Path, workspace: Path) -> AsyncIterator[bytes]:
    try:
        with archive.open("rb") as file:
            while chunk := file.read(EXPORT_CHUNK_BYTES):
                yield chunk
    finally:
        shutil.rmtree(workspace, ignore_errors=True)


@get(f"{HOME}/export.tar.gz", include_in_schema=False)
async def export_download(request: Request[Any, Any, Any], rt: RuntimeDep) -> Response[Any]:
    """The export bundle (``buurtmunt export``) as a gzipped tar, streamed from a temporary file."""
    staff = await staff_for(request, rt, Role.AUDITOR)
    if not isinstance(staff, Staff):
        return staff
    workspace = Path(tempfile.mkdtemp(prefix="buurtmunt-export-"))
    try:
        verifier = await rt.ledger.log_verifier(staff.community)
        bundle = workspace / f"{staff.community}-bundle"
        exported = await export_bundle(rt.store, staff.community, bundle, verifier)
        archive = workspace / "bundle.tar.gz"
        await asyncio.to_thread(_pack, bundle, archive)
    except BaseException:
        shutil.rmtree(workspace, ignore_errors=True)
        raise
    name = f"{staff.community}-bundle-{exported.size}.tar.gz"
    return Stream(
        _chunks(archive, workspace),
        media_type="application/gzip",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Content-Length": str(archive.stat().st_size),
            "Cache-Control": "no-store",
        },
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


ROUTES = [dashboard, statement_csv, statement_html, export_download, checkpoint]
