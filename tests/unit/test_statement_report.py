"""The printable statement in the reader's language: every word in every language, Dutch by
default, Arabic right to left, and the same figures whatever the language."""

from __future__ import annotations

import dataclasses
import re
import string
from html.parser import HTMLParser

import pytest

from api.statement_report import render_html
from api.statement_words import DUTCH_TERMS, WORDS
from ledger.amounts import LANGUAGES, LOCALES, format_hours
from ledger.audit.statement import Statement
from tests.unit.test_statement import statement_for

# Numbers in chart geometry: coordinates, widths, heights, points.
_GEOMETRY = re.compile(r'\b(?:x|y|x1|x2|y1|y2|cx|cy|r|width|height|points)="([^"]*)"')


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


class _Cells(HTMLParser):
    """The text of each table cell (<td>), in order."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: list[str] = []
        self._inside = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "td":
            self._inside = True
            self.cells.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._inside = False

    def handle_data(self, data: str) -> None:
        if self._inside:
            self.cells[-1] += data


def figures(page: str) -> tuple[list[list[str]], list[str]]:
    """The digits of every table cell, and the charts' geometry."""
    parser = _Cells()
    parser.feed(page)
    return [re.findall(r"\d+|½", cell) for cell in parser.cells], _GEOMETRY.findall(page)


async def q4() -> Statement:
    return await statement_for("2026-Q4")


def test_every_language_has_every_word_with_the_same_values_put_in() -> None:
    english = WORDS["en"]

    assert set(WORDS) == set(LANGUAGES) == set(LOCALES)
    for language, words in WORDS.items():
        assert set(words) == set(english), language
        for key, text in words.items():
            assert text.strip(), (language, key)
            assert _placeholders(text) == _placeholders(english[key]), (language, key)
    assert set(DUTCH_TERMS) <= set(english)


async def test_the_page_is_dutch_unless_another_language_is_asked_for() -> None:
    statement = await q4()

    page = render_html(statement)

    assert page == render_html(statement, "nl")
    assert '<html lang="nl" dir="ltr">' in page
    assert "<h1>Verantwoording van omloop en verplichtingen</h1>" in page
    assert "(oktober 2026 tot en met december 2026, maanden in UTC)" in page
    assert "3 december 2026" in page
    # No Dutch glosses on a page that is Dutch already, and no English left.
    assert 'lang="nl"' not in page.split("<body>")[1]
    for english in ("Circulation", "Outstanding", "hours", "minutes", "None in this period"):
        assert english not in page


@pytest.mark.parametrize("language", LANGUAGES)
async def test_every_amount_is_in_words_of_hours_in_the_language(language: str) -> None:
    statement = await q4()
    c = statement.circulation

    page = render_html(statement, language)

    assert f"<td>{format_hours(c.end_minutes, language)}</td>" in page
    assert f"<td>{format_hours(c.earned_minutes, language)}</td>" in page
    assert format_hours(statement.series[-1].outstanding_end_minutes, language) in page


@pytest.mark.parametrize("language", ["en", "tr", "ar"])
async def test_other_languages_keep_the_schemes_dutch_terms_beside_the_headings(
    language: str,
) -> None:
    page = render_html(await q4(), language)

    for term in DUTCH_TERMS.values():
        assert f'<span lang="nl" dir="ltr">({term})</span>' in page


async def test_arabic_reads_right_to_left_with_the_charts_still_left_to_right() -> None:
    page = render_html(await q4(), "ar")

    assert '<html lang="ar" dir="rtl">' in page
    assert f"<h1>{WORDS['ar']['statement']} " in page
    assert "نوفمبر 2026" in page
    assert page.count('direction="ltr"') == 2
    # The tables align to the reading direction, not to a fixed side.
    assert "text-align: start" in page and "text-align: left" not in page


@pytest.mark.parametrize("language", ["nl", "tr"])
async def test_the_figures_are_the_same_in_every_language(language: str) -> None:
    statement = await q4()

    english = figures(render_html(statement, "en"))
    other = figures(render_html(statement, language))

    assert other == english
    assert len(english[0]) > 30 and len(english[1]) > 50  # the comparison compares something


async def test_the_arabic_charts_draw_the_same_figures() -> None:
    # Arabic says one and two hours, and a half, in words ("ساعتان"), so its cells have
    # fewer digits; the amounts themselves are checked above, the drawing here.
    statement = await q4()

    _, english = figures(render_html(statement, "en"))
    _, arabic = figures(render_html(statement, "ar"))

    assert arabic == english


async def test_large_counts_are_grouped_the_local_way() -> None:
    statement = await q4()
    big = dataclasses.replace(statement, checkpoint_size=1_234_567)

    dutch, english = render_html(big, "nl"), render_html(big, "en")

    assert "<strong>1.234.567</strong>" in dutch and "(omvang 1.234.567)" in dutch
    assert "<strong>1,234,567</strong>" in english and "(size 1,234,567)" in english


async def test_a_period_in_the_year_0000_is_shown_by_its_months_numbers() -> None:
    # The period pattern admits the year 0000, which no date can hold.
    statement = await statement_for("0000-Q1")

    page = render_html(statement, "nl")

    assert "(0000-01 tot en met 0000-03, maanden in UTC)" in page
