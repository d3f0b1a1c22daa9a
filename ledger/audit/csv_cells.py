"""Cells for the CSV downloads that a spreadsheet shows but never runs.

Every CSV Buurtmunt writes (the community's statement, the entries and balances
exports, a shop's statement) writes its rows through ``CellWriter``. Members,
shops and admins choose memos, references and names, and a spreadsheet that
opens a cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return runs it as a formula (OWASP "CSV injection"). Such text gets a leading
apostrophe, which a spreadsheet hides and which makes it plain text; anything
else is unchanged. Numbers stay numbers: only ``str`` cells are guarded, so an
amount of -30 is written as ``-30``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def text_cell(text: str) -> str:
    """``text`` as a spreadsheet shows it, never runs it."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_row(cells: Iterable[object]) -> list[object]:
    """A row to write: each text cell through ``text_cell``, numbers as they are."""
    return [text_cell(cell) if isinstance(cell, str) else cell for cell in cells]


class CellWriter:
    """A ``csv.writer`` whose rows go through ``csv_row``.

    ``csv`` quotes a field holding a line break only if the break is in the line
    terminator, so with lines ending in ``\\n`` a carriage return inside a cell would
    be left bare, and a spreadsheet would start a new row (and an unguarded cell) at
    it. A row with a carriage return in a cell is written with every field quoted.
    """

    def __init__(self, out: io.StringIO, lineterminator: str = "\n") -> None:
        self._plain = csv.writer(out, lineterminator=lineterminator)
        self._quoted = csv.writer(out, lineterminator=lineterminator, quoting=csv.QUOTE_ALL)

    def writerow(self, cells: Iterable[object]) -> None:
        row = csv_row(cells)
        bare_return = any(isinstance(cell, str) and "\r" in cell for cell in row)
        (self._quoted if bare_return else self._plain).writerow(row)

    def writerows(self, rows: Iterable[Iterable[object]]) -> None:
        for row in rows:
            self.writerow(row)
