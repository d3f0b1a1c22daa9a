"""The statement as one printable HTML page with inline SVG charts.

Rendered for ``GET /api/v1/statements.html`` (``api.statements``) and for
``buurtmunt audit --period ... --format html`` (``api.audit_commands``).

For a municipal officer: plain tables with captions, two charts (credits
issued and redeemed per month; credits outstanding over time), each with a
``<title>`` and a ``<desc>`` that reads out the figures, and the checkpoint the
figures were computed from, so the page is tied to a verifiable state. No
scripts, no external files; the standard library only. Amounts are shown in
credits (hours), two decimals, from integer minutes.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from ledger.amounts import format_hours
from ledger.audit.statement import Circulation, MonthPoint, Statement

CHART_MONTHS = 24  # months shown in the charts, ending with the period
_WIDTH, _HEIGHT = 640, 240
_LEFT, _RIGHT, _TOP, _BOTTOM = 56, 12, 16, 40
_ISSUED, _REDEEMED, _OUTSTANDING = "#1f6f43", "#b8561b", "#1d4e89"

_STYLE = """
body { font: 16px/1.45 system-ui, sans-serif; color: #111; max-width: 60rem; margin: 1.5rem auto;
       padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: .25rem; } h2 { font-size: 1.25rem; margin-top: 2rem; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0 1rem; }
caption { text-align: left; font-weight: 600; padding-bottom: .25rem; }
th, td { border-bottom: 1px solid #bbb; padding: .3rem .5rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
tr.total td, tr.total th { font-weight: 700; border-top: 2px solid #111; }
code { font-size: .85rem; word-break: break-all; }
.status-ok { color: #1f6f43; font-weight: 700; } .status-bad { color: #a40000; font-weight: 700; }
figure { margin: 1rem 0; } figcaption { font-size: .9rem; color: #333; }
svg text { font: 11px system-ui, sans-serif; fill: #111; }
@media print {
  body { margin: 0; max-width: none; font-size: 11pt; }
  section, figure, table { break-inside: avoid; }
  a { color: inherit; text-decoration: none; }
}
"""


def hours(minutes: int) -> str:
    """Minutes in words of hours, as everywhere else: 90 -> ``1½ hours`` (ledger.amounts)."""
    return format_hours(minutes, "en")


def render_html(statement: Statement) -> str:
    """The whole page."""
    title = f"Buurtmunt statement: {statement.community}, {statement.period.label}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title>",
        f"<style>{_STYLE}</style>",
        "</head>",
        "<body>",
        _header(statement),
        "<main>",
        _circulation(statement.circulation),
        _charts(statement),
        _organisations(statement),
        _shops(statement),
        _members(statement),
        "</main>",
        _footer(statement),
        "</body>",
        "</html>",
    ]
    return "\n".join(parts) + "\n"


def _header(statement: Statement) -> str:
    period = statement.period
    span = (
        period.first_month
        if period.first_month == period.last_month
        else f"{period.first_month} to {period.last_month}"
    )
    status = (
        '<p class="status-ok">The statement reconciles: the figures add up to the sum of '
        "member and shop balances.</p>"
        if statement.circulation.reconciles
        else '<p class="status-bad">The statement does NOT reconcile. Do not rely on it.</p>'
    )
    return (
        "<header>"
        f'<h1>Circulation and liability statement <span lang="nl">(verantwoording)</span></h1>'
        f"<p>Community <strong>{escape(statement.community)}</strong>, period "
        f"<strong>{escape(period.label)}</strong> ({escape(span)}, months in UTC). "
        f"Amounts are credits: 1 credit = 1 hour.</p>"
        f"<p>Computed from the signed checkpoint of <code>{escape(statement.origin)}</code> "
        f"at size <strong>{statement.checkpoint_size:,}</strong> with root "
        f"<code>{escape(statement.checkpoint_root)}</code>"
        f"{', last entry at ' + escape(statement.as_of) if statement.as_of else ''}.</p>"
        f"{status}"
        "</header>"
    )


def _row(label: str, *cells: str, total: bool = False) -> str:
    css = ' class="total"' if total else ""
    data = "".join(f"<td>{cell}</td>" for cell in cells)
    return f'<tr{css}><th scope="row">{label}</th>{data}</tr>'


def _circulation(c: Circulation) -> str:
    dash = "&#8212;"
    rows = [
        _row(
            "Outstanding at the start",
            hours(c.members_start_minutes),
            hours(c.shops_start_minutes),
            hours(c.start_minutes),
        ),
        _row(
            "+ Earned (issued by organisations)",
            hours(c.earned_minutes),
            dash,
            hours(c.earned_minutes),
        ),
        _row(
            "&#8722; Earnings corrected",
            hours(-c.earn_corrected_minutes),
            dash,
            hours(-c.earn_corrected_minutes),
        ),
        _row(
            "Transferred between members", hours(c.transferred_minutes) + " (net 0)", dash, hours(0)
        ),
        _row("Redeemed at shops", hours(-c.redeemed_minutes), hours(c.redeemed_minutes), hours(0)),
        _row("Refunded by shops", hours(c.refunded_minutes), hours(-c.refunded_minutes), hours(0)),
        _row(
            "&#8722; Settled (retired by the community)",
            dash,
            hours(-c.settled_minutes),
            hours(-c.settled_minutes),
        ),
        _row(
            "+ Settlements corrected",
            dash,
            hours(c.settle_corrected_minutes),
            hours(c.settle_corrected_minutes),
        ),
        _row(
            "= Outstanding at the end",
            hours(c.members_end_minutes),
            hours(c.shops_end_minutes),
            hours(c.end_minutes),
            total=True,
        ),
        _row(
            "Sum of balances, replayed from the journal", dash, dash, hours(c.balances_end_minutes)
        ),
    ]
    return (
        '<section aria-labelledby="circulation"><h2 id="circulation">Circulation</h2>'
        "<table><caption>Credits held by members and shops: the scheme's liability</caption>"
        '<thead><tr><th scope="col">Movement</th><th scope="col">Members</th>'
        '<th scope="col">Shops</th><th scope="col">Total</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></section>"
    )


def _charts(statement: Statement) -> str:
    points = [p for p in statement.series][-CHART_MONTHS:]
    if not points:
        return ""
    return (
        '<section aria-labelledby="charts"><h2 id="charts">Month by month</h2>'
        f"<figure>{bar_chart(points)}<figcaption>Credits issued (earned) and redeemed "
        "at shops per month.</figcaption></figure>"
        f"<figure>{line_chart(points)}<figcaption>Credits outstanding (held by members "
        "and shops) at the end of each month.</figcaption></figure></section>"
    )


def _scale(top: int) -> tuple[int, list[int]]:
    """A round maximum (in minutes) at or above ``top``, and its five gridlines."""
    top_hours = max(1, -(-top // 60))
    steps = (m * 10**e for e in range(16) for m in (1, 2, 5))
    step = next((s for s in steps if 4 * s >= top_hours), 10**16)
    return step * 4 * 60, [step * i * 60 for i in range(5)]


def _axes(maximum: int, ticks: Sequence[int], labels: Sequence[str]) -> list[str]:
    inner_h = _HEIGHT - _TOP - _BOTTOM
    parts = []
    for tick in ticks:
        y = _TOP + inner_h - inner_h * tick / maximum
        parts.append(
            f'<line x1="{_LEFT}" x2="{_WIDTH - _RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#ccc"/><text x="{_LEFT - 6}" y="{y + 4:.1f}" '
            f'text-anchor="end">{tick // 60:,}</text>'
        )
    slot = (_WIDTH - _LEFT - _RIGHT) / max(len(labels), 1)
    every = max(1, len(labels) // 8)
    for i, label in enumerate(labels):
        if i % every == 0 or i == len(labels) - 1:
            x = _LEFT + slot * (i + 0.5)
            parts.append(
                f'<text x="{x:.1f}" y="{_HEIGHT - _BOTTOM + 16}" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    return parts


def _svg(title: str, desc: str, ident: str, body: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="100%" '
        f'viewBox="0 0 {_WIDTH} {_HEIGHT}" aria-labelledby="{ident}-title {ident}-desc">'
        f'<title id="{ident}-title">{escape(title)}</title>'
        f'<desc id="{ident}-desc">{escape(desc)}</desc>' + "".join(body) + "</svg>"
    )


def bar_chart(points: Sequence[MonthPoint]) -> str:
    """Issued and redeemed credits per month, side by side."""
    top = max([max(p.earned_minutes, p.redeemed_minutes) for p in points] + [60])
    maximum, ticks = _scale(top)
    inner_h = _HEIGHT - _TOP - _BOTTOM
    slot = (_WIDTH - _LEFT - _RIGHT) / len(points)
    bar = slot * 0.38
    body = _axes(maximum, ticks, [p.month for p in points])
    for i, point in enumerate(points):
        x = _LEFT + slot * i + slot * 0.12
        for offset, value, colour in (
            (0, point.earned_minutes, _ISSUED),
            (bar, point.redeemed_minutes, _REDEEMED),
        ):
            height = inner_h * value / maximum
            body.append(
                f'<rect x="{x + offset:.1f}" y="{_TOP + inner_h - height:.1f}" '
                f'width="{bar:.1f}" height="{height:.1f}" fill="{colour}"/>'
            )
    body.append(_legend([("Issued", _ISSUED), ("Redeemed", _REDEEMED)]))
    desc = "; ".join(
        f"{p.month}: issued {hours(p.earned_minutes)}, redeemed {hours(p.redeemed_minutes)}"
        for p in points
    )
    return _svg("Credits issued and redeemed per month", desc, "bars", body)


def line_chart(points: Sequence[MonthPoint]) -> str:
    """Credits outstanding at each month's end."""
    top = max([p.outstanding_end_minutes for p in points] + [60])
    maximum, ticks = _scale(top)
    inner_h = _HEIGHT - _TOP - _BOTTOM
    slot = (_WIDTH - _LEFT - _RIGHT) / len(points)
    body = _axes(maximum, ticks, [p.month for p in points])
    coordinates = [
        (
            _LEFT + slot * (i + 0.5),
            _TOP + inner_h - inner_h * max(p.outstanding_end_minutes, 0) / maximum,
        )
        for i, p in enumerate(points)
    ]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coordinates)
    body.append(f'<polyline points="{path}" fill="none" stroke="{_OUTSTANDING}" stroke-width="2"/>')
    body += [
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{_OUTSTANDING}"/>' for x, y in coordinates
    ]
    body.append(_legend([("Outstanding", _OUTSTANDING)]))
    desc = "; ".join(f"{p.month}: {hours(p.outstanding_end_minutes)}" for p in points)
    return _svg("Credits outstanding at the end of each month", desc, "line", body)


def _legend(items: Sequence[tuple[str, str]]) -> str:
    parts = []
    for i, (label, colour) in enumerate(items):
        x = _LEFT + 110 * i
        y = _HEIGHT - 10
        parts.append(
            f'<rect x="{x}" y="{y - 9}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{x + 14}" y="{y}">{escape(label)}</text>'
        )
    return "".join(parts)


def _organisations(statement: Statement) -> str:
    rows = []
    for org in statement.organisations:
        used = (
            f"{100 * org.net_issued_minutes / org.budget_minutes:.0f}%"
            if org.budget_minutes
            else "&#8212;"
        )
        rows.append(
            _row(
                escape(org.account),
                hours(org.issued_minutes),
                hours(org.corrected_minutes),
                hours(org.net_issued_minutes),
                hours(org.budget_minutes),
                used,
            )
        )
    return (
        '<section aria-labelledby="organisations"><h2 id="organisations">Organisations '
        '<span lang="nl">(uitgevende organisaties)</span></h2>'
        "<table><caption>Credits issued against each organisation's budget in the period"
        "</caption><thead><tr>"
        '<th scope="col">Organisation</th><th scope="col">Issued</th>'
        '<th scope="col">Corrected</th><th scope="col">Net issued</th>'
        '<th scope="col">Budget</th><th scope="col">Budget used</th></tr></thead>'
        f"<tbody>{''.join(rows) or _empty(6)}</tbody></table></section>"
    )


def _shops(statement: Statement) -> str:
    rows = [
        _row(
            escape(shop.account),
            hours(shop.redeemed_minutes),
            hours(shop.refunded_minutes),
            hours(shop.settled_minutes),
            hours(shop.balance_end_minutes),
        )
        for shop in statement.shops
    ]
    return (
        '<section aria-labelledby="shops"><h2 id="shops">Shops and partners '
        '<span lang="nl">(winkels en partners)</span></h2>'
        "<table><caption>Credits redeemed, refunded and settled per shop in the period"
        "</caption><thead><tr>"
        '<th scope="col">Shop</th><th scope="col">Redeemed</th><th scope="col">Refunded</th>'
        '<th scope="col">Settled</th><th scope="col">Held at the end</th></tr></thead>'
        f"<tbody>{''.join(rows) or _empty(5)}</tbody></table></section>"
    )


def _members(statement: Statement) -> str:
    m = statement.members
    rows = [
        _row("Members at the end of the period", f"{m.members_end:,}"),
        _row("Active (paid or were paid)", f"{m.active:,}"),
        _row("New (joined in the period)", f"{m.new:,}"),
        _row("Dormant (joined earlier, not active)", f"{m.dormant:,}"),
    ]
    return (
        '<section aria-labelledby="members"><h2 id="members">Members '
        '<span lang="nl">(deelnemers)</span></h2>'
        "<table><caption>Member activity in the period</caption><thead><tr>"
        '<th scope="col">Members</th><th scope="col">Number</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></section>"
    )


def _empty(columns: int) -> str:
    return f'<tr><td colspan="{columns}">None in this period.</td></tr>'


def _footer(statement: Statement) -> str:
    return (
        "<footer><p>Anyone can check the journal behind these figures offline: export it "
        "with <code>buurtmunt export</code> and run <code>python -m ledger.audit.verify</code> "
        "with the community's public key; the checkpoint above must be among those it "
        f"verifies (size {statement.checkpoint_size:,}).</p></footer>"
    )
