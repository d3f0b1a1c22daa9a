"""The statement as one printable HTML page with inline SVG charts, in the reader's language.

Rendered for ``GET /api/v1/statements.html`` (``api.statements``) and for
``buurtmunt audit --period ... --format html`` (``api.audit_commands``).

For a municipal officer: plain tables with captions, two charts (credits
issued and redeemed per month; credits outstanding over time), each with a
``<title>`` and a ``<desc>`` that reads out the figures, and the checkpoint the
figures were computed from, so the page is tied to a verifiable state. No
scripts, no external files. Amounts are shown in credits (hours) in words
(``ledger.amounts.format_hours``), from integer minutes.

The page speaks Dutch (the default), English, Turkish or Arabic (right to
left): its words come from ``api.statement_words``, month names, dates and digit
grouping from Babel in the language's locale. The figures are the same in
every language; only the words around them change. The charts keep time
running left to right in every language.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from html import escape

from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal

from api.statement_words import DUTCH_TERMS, WORDS
from ledger.amounts import DEFAULT_LANGUAGE, LANGUAGES, LOCALES, RIGHT_TO_LEFT, format_hours
from ledger.audit.statement import Circulation, MonthPoint, Statement

CHART_MONTHS = 24  # months shown in the charts, ending with the period
_WIDTH, _HEIGHT = 640, 240
_LEFT, _RIGHT, _TOP, _BOTTOM = 56, 12, 16, 40
_ISSUED, _REDEEMED, _OUTSTANDING = "#1f6f43", "#b8561b", "#1d4e89"
# About how wide one character of an axis label is (11px type), to keep labels apart.
_LABEL_CHARACTER_WIDTH = 7

# Logical sides (start, end) so that a right-to-left page mirrors its tables.
_STYLE = """
body { font: 16px/1.45 system-ui, sans-serif; color: #111; max-width: 60rem; margin: 1.5rem auto;
       padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: .25rem; } h2 { font-size: 1.25rem; margin-top: 2rem; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0 1rem; }
caption { text-align: start; font-weight: 600; padding-bottom: .25rem; }
th, td { border-bottom: 1px solid #bbb; padding: .3rem .5rem; text-align: end; }
th:first-child, td:first-child { text-align: start; }
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


@dataclass(frozen=True, slots=True)
class Reader:
    """The words, amounts, numbers and dates of the page in ``language`` (one of LANGUAGES)."""

    language: str

    def __post_init__(self) -> None:
        assert self.language in LANGUAGES, self.language

    def text(self, key: str, **values: str) -> str:
        """The plain text of ``key`` with ``values`` put in (escape it before use in HTML)."""
        return WORDS[self.language][key].format(**values)

    def html(self, key: str, **fragments: str) -> str:
        """The text of ``key``, escaped, with ``fragments`` (already HTML) put in."""
        return escape(WORDS[self.language][key], quote=False).format(**fragments)

    def heading(self, key: str) -> str:
        """A heading's text; in a language other than Dutch, with the scheme's Dutch term."""
        text = escape(self.text(key))
        if self.language == "nl" or key not in DUTCH_TERMS:
            return text
        return f'{text} <span lang="nl" dir="ltr">({escape(DUTCH_TERMS[key])})</span>'

    def hours(self, minutes: int) -> str:
        """Minutes in words of hours, as everywhere else: 90 -> ``1½ uur`` (ledger.amounts)."""
        return format_hours(minutes, self.language)

    def count(self, number: int) -> str:
        """A whole number grouped the local way (1.234 in Dutch), in Western digits."""
        return format_decimal(number, locale=self._locale, numbering_system="latn")

    def month(self, month: str, *, short: bool = False) -> str:
        """A month ``YYYY-MM`` by name: ``november 2026`` (``nov 2026`` if ``short``); a
        month of the year 0000, which a period may name but a date cannot hold, as is."""
        year = int(month[:4])
        if year < date.min.year:
            return month
        first = date(year, int(month[5:7]), 1)
        return format_date(first, "MMM y" if short else "MMMM y", locale=self._locale)

    def moment(self, time: str) -> str:
        """An RFC 3339 UTC time as a ``<time>`` element read in the language."""
        shown = format_datetime(
            datetime.fromisoformat(time), "long", tzinfo=UTC, locale=self._locale
        )
        return f'<time datetime="{escape(time)}">{escape(shown)}</time>'

    @property
    def direction(self) -> str:
        return "rtl" if self.language in RIGHT_TO_LEFT else "ltr"

    @property
    def _locale(self) -> str:
        return LOCALES[self.language]


def render_html(statement: Statement, language: str = DEFAULT_LANGUAGE) -> str:
    """The whole page, in ``language`` (one of ``ledger.amounts.LANGUAGES``)."""
    say = Reader(language)
    title = say.text("page_title", community=statement.community, period=statement.period.label)
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="{language}" dir="{say.direction}">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title>",
        f"<style>{_STYLE}</style>",
        "</head>",
        "<body>",
        _header(statement, say),
        "<main>",
        _circulation(statement.circulation, say),
        _charts(statement, say),
        _organisations(statement, say),
        _shops(statement, say),
        _members(statement, say),
        "</main>",
        _footer(statement, say),
        "</body>",
        "</html>",
    ]
    return "\n".join(parts) + "\n"


def _header(statement: Statement, say: Reader) -> str:
    period = statement.period
    span = (
        say.month(period.first_month)
        if period.first_month == period.last_month
        else say.text(
            "span", first=say.month(period.first_month), last=say.month(period.last_month)
        )
    )
    status = (
        f'<p class="status-ok">{say.html("reconciles")}</p>'
        if statement.circulation.reconciles
        else f'<p class="status-bad">{say.html("does_not_reconcile")}</p>'
    )
    checkpoint = {
        "origin": f'<code dir="ltr">{escape(statement.origin)}</code>',
        "size": f"<strong>{say.count(statement.checkpoint_size)}</strong>",
        "root": f'<code dir="ltr">{escape(statement.checkpoint_root)}</code>',
    }
    computed = (
        say.html("computed_from_as_of", time=say.moment(statement.as_of), **checkpoint)
        if statement.as_of
        else say.html("computed_from", **checkpoint)
    )
    intro = say.html(
        "intro",
        community=f"<strong><bdi>{escape(statement.community)}</bdi></strong>",
        period=f"<strong><bdi>{escape(period.label)}</bdi></strong>",
        span=escape(span),
    )
    return (
        "<header>"
        f"<h1>{say.heading('statement')}</h1>"
        f"<p>{intro}</p>"
        f"<p>{computed}</p>"
        f"{status}"
        "</header>"
    )


def _row(label: str, *cells: str, total: bool = False) -> str:
    css = ' class="total"' if total else ""
    data = "".join(f"<td>{cell}</td>" for cell in cells)
    return f'<tr{css}><th scope="row">{label}</th>{data}</tr>'


def _circulation(c: Circulation, say: Reader) -> str:
    dash = "&#8212;"
    hours, word = say.hours, say.html
    rows = [
        _row(
            word("outstanding_start"),
            hours(c.members_start_minutes),
            hours(c.shops_start_minutes),
            hours(c.start_minutes),
        ),
        _row("+ " + word("earned"), hours(c.earned_minutes), dash, hours(c.earned_minutes)),
        _row(
            "&#8722; " + word("earn_corrected"),
            hours(-c.earn_corrected_minutes),
            dash,
            hours(-c.earn_corrected_minutes),
        ),
        _row(
            word("transferred"),
            f"{hours(c.transferred_minutes)} {word('net_zero')}",
            dash,
            hours(0),
        ),
        _row(
            word("redeemed_at_shops"),
            hours(-c.redeemed_minutes),
            hours(c.redeemed_minutes),
            hours(0),
        ),
        _row(
            word("refunded_by_shops"),
            hours(c.refunded_minutes),
            hours(-c.refunded_minutes),
            hours(0),
        ),
        _row(
            "&#8722; " + word("settled_by_community"),
            dash,
            hours(-c.settled_minutes),
            hours(-c.settled_minutes),
        ),
        _row(
            "+ " + word("settle_corrected"),
            dash,
            hours(c.settle_corrected_minutes),
            hours(c.settle_corrected_minutes),
        ),
        _row(
            "= " + word("outstanding_end"),
            hours(c.members_end_minutes),
            hours(c.shops_end_minutes),
            hours(c.end_minutes),
            total=True,
        ),
        _row(word("replayed"), dash, dash, hours(c.balances_end_minutes)),
    ]
    return (
        f'<section aria-labelledby="circulation"><h2 id="circulation">{word("circulation")}</h2>'
        f"<table><caption>{word('circulation_caption')}</caption>"
        f'<thead><tr><th scope="col">{word("movement")}</th>'
        f'<th scope="col">{word("members_column")}</th>'
        f'<th scope="col">{word("shops_column")}</th><th scope="col">{word("total")}</th>'
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table></section>"
    )


def _charts(statement: Statement, say: Reader) -> str:
    points = [p for p in statement.series][-CHART_MONTHS:]
    if not points:
        return ""
    return (
        f'<section aria-labelledby="charts"><h2 id="charts">{say.html("month_by_month")}</h2>'
        f"<figure>{bar_chart(points, say.language)}"
        f"<figcaption>{say.html('bars_caption')}</figcaption></figure>"
        f"<figure>{line_chart(points, say.language)}"
        f"<figcaption>{say.html('line_caption')}</figcaption></figure></section>"
    )


def _scale(top: int) -> tuple[int, list[int]]:
    """A round maximum (in minutes) at or above ``top``, and its five gridlines."""
    top_hours = max(1, -(-top // 60))
    steps = (m * 10**e for e in range(16) for m in (1, 2, 5))
    step = next((s for s in steps if 4 * s >= top_hours), 10**16)
    return step * 4 * 60, [step * i * 60 for i in range(5)]


def _axes(maximum: int, ticks: Sequence[int], months: Sequence[str], say: Reader) -> list[str]:
    inner_h = _HEIGHT - _TOP - _BOTTOM
    parts = []
    for tick in ticks:
        y = _TOP + inner_h - inner_h * tick / maximum
        parts.append(
            f'<line x1="{_LEFT}" x2="{_WIDTH - _RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#ccc"/><text x="{_LEFT - 6}" y="{y + 4:.1f}" '
            f'text-anchor="end">{say.count(tick // 60)}</text>'
        )
    labels = [say.month(month, short=True) for month in months]
    inner_w = _WIDTH - _LEFT - _RIGHT
    slot = inner_w / max(len(labels), 1)
    # At most eight labels, never so many that the widest would run into the next, counted
    # back from the period's own month (always labelled), and none running off the chart.
    widest = _LABEL_CHARACTER_WIDTH * max((len(label) for label in labels), default=0)
    every = max(1, len(labels) // 8, math.ceil(len(labels) * widest / inner_w))
    for i, label in enumerate(labels):
        if (len(labels) - 1 - i) % every == 0:
            x = min(_LEFT + slot * (i + 0.5), _WIDTH - widest / 2)
            parts.append(
                f'<text x="{x:.1f}" y="{_HEIGHT - _BOTTOM + 16}" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    return parts


def _svg(title: str, desc: str, ident: str, body: list[str]) -> str:
    # direction="ltr": the axes and legends are drawn left to right on a right-to-left
    # page too (text-anchor follows the direction).
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="100%" direction="ltr" '
        f'viewBox="0 0 {_WIDTH} {_HEIGHT}" aria-labelledby="{ident}-title {ident}-desc">'
        f'<title id="{ident}-title">{escape(title)}</title>'
        f'<desc id="{ident}-desc">{escape(desc)}</desc>' + "".join(body) + "</svg>"
    )


def bar_chart(points: Sequence[MonthPoint], language: str = DEFAULT_LANGUAGE) -> str:
    """Issued and redeemed credits per month, side by side."""
    say = Reader(language)
    top = max([max(p.earned_minutes, p.redeemed_minutes) for p in points] + [60])
    maximum, ticks = _scale(top)
    inner_h = _HEIGHT - _TOP - _BOTTOM
    slot = (_WIDTH - _LEFT - _RIGHT) / len(points)
    bar = slot * 0.38
    body = _axes(maximum, ticks, [p.month for p in points], say)
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
    body.append(_legend([(say.text("issued"), _ISSUED), (say.text("redeemed"), _REDEEMED)]))
    desc = say.text("separator").join(
        say.text(
            "bars_point",
            month=say.month(p.month),
            issued=say.hours(p.earned_minutes),
            redeemed=say.hours(p.redeemed_minutes),
        )
        for p in points
    )
    return _svg(say.text("bars_title"), desc, "bars", body)


def line_chart(points: Sequence[MonthPoint], language: str = DEFAULT_LANGUAGE) -> str:
    """Credits outstanding at each month's end."""
    say = Reader(language)
    top = max([p.outstanding_end_minutes for p in points] + [60])
    maximum, ticks = _scale(top)
    inner_h = _HEIGHT - _TOP - _BOTTOM
    slot = (_WIDTH - _LEFT - _RIGHT) / len(points)
    body = _axes(maximum, ticks, [p.month for p in points], say)
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
    body.append(_legend([(say.text("outstanding"), _OUTSTANDING)]))
    desc = say.text("separator").join(
        say.text(
            "line_point", month=say.month(p.month), outstanding=say.hours(p.outstanding_end_minutes)
        )
        for p in points
    )
    return _svg(say.text("line_title"), desc, "line", body)


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


def _organisations(statement: Statement, say: Reader) -> str:
    rows = []
    for org in statement.organisations:
        used = (
            escape(
                say.text(
                    "percent", percent=f"{100 * org.net_issued_minutes / org.budget_minutes:.0f}"
                )
            )
            if org.budget_minutes
            else "&#8212;"
        )
        rows.append(
            _row(
                escape(org.account),
                say.hours(org.issued_minutes),
                say.hours(org.corrected_minutes),
                say.hours(org.net_issued_minutes),
                say.hours(org.budget_minutes),
                used,
            )
        )
    word = say.html
    return (
        '<section aria-labelledby="organisations"><h2 id="organisations">'
        f"{say.heading('organisations')}</h2>"
        f"<table><caption>{word('organisations_caption')}</caption><thead><tr>"
        f'<th scope="col">{word("organisation")}</th><th scope="col">{word("issued")}</th>'
        f'<th scope="col">{word("corrected")}</th><th scope="col">{word("net_issued")}</th>'
        f'<th scope="col">{word("budget")}</th><th scope="col">{word("budget_used")}</th>'
        f"</tr></thead><tbody>{''.join(rows) or _empty(6, say)}</tbody></table></section>"
    )


def _shops(statement: Statement, say: Reader) -> str:
    rows = [
        _row(
            escape(shop.account),
            say.hours(shop.redeemed_minutes),
            say.hours(shop.refunded_minutes),
            say.hours(shop.settled_minutes),
            say.hours(shop.balance_end_minutes),
        )
        for shop in statement.shops
    ]
    word = say.html
    return (
        f'<section aria-labelledby="shops"><h2 id="shops">{say.heading("shops")}</h2>'
        f"<table><caption>{word('shops_caption')}</caption><thead><tr>"
        f'<th scope="col">{word("shop")}</th><th scope="col">{word("redeemed")}</th>'
        f'<th scope="col">{word("refunded")}</th><th scope="col">{word("settled")}</th>'
        f'<th scope="col">{word("held_at_end")}</th></tr></thead>'
        f"<tbody>{''.join(rows) or _empty(5, say)}</tbody></table></section>"
    )


def _members(statement: Statement, say: Reader) -> str:
    m = statement.members
    word = say.html
    rows = [
        _row(word("members_end"), say.count(m.members_end)),
        _row(word("active"), say.count(m.active)),
        _row(word("new"), say.count(m.new)),
        _row(word("dormant"), say.count(m.dormant)),
    ]
    return (
        f'<section aria-labelledby="members"><h2 id="members">{say.heading("members")}</h2>'
        f"<table><caption>{word('members_caption')}</caption><thead><tr>"
        f'<th scope="col">{word("members_column")}</th><th scope="col">{word("number")}</th>'
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table></section>"
    )


def _empty(columns: int, say: Reader) -> str:
    return f'<tr><td colspan="{columns}">{say.html("none")}</td></tr>'


def _footer(statement: Statement, say: Reader) -> str:
    footer = say.html(
        "footer",
        export='<code dir="ltr">buurtmunt export</code>',
        verify='<code dir="ltr">python -m ledger.audit.verify</code>',
        size=say.count(statement.checkpoint_size),
    )
    return f"<footer><p>{footer}</p></footer>"
