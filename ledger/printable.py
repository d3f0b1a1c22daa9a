"""Which text an entry may hold, the same on every runtime.

Text (a memo, a reference, a meta value) is a string whose every character is
printable in Unicode 15.0.0: its general category is not Cc, Cf, Cs, Co, Cn,
Zl, Zp or Zs, or it is U+0020 SPACE. The table of those characters ships with
the code (``ledger.printable_table``), so the verdict depends neither on the
Python that runs (``str.isprintable`` follows the runtime's Unicode version)
nor on the language of a verifier. Lone surrogates are category Cs: text is
always encodable as UTF-8.
"""

from __future__ import annotations

import re
from bisect import bisect_right

from ledger.printable_table import PRINTABLE_RANGES, UNICODE_VERSION

__all__ = ["UNICODE_VERSION", "is_text"]


def _gaps() -> list[tuple[int, int]]:
    """The code point ranges outside ``PRINTABLE_RANGES``: what text may not hold."""
    gaps: list[tuple[int, int]] = []
    after = 0
    for index in range(0, len(PRINTABLE_RANGES), 2):
        first, last = PRINTABLE_RANGES[index], PRINTABLE_RANGES[index + 1]
        if first > after:
            gaps.append((after, first - 1))
        after = last + 1
    if after <= _LAST:
        gaps.append((after, _LAST))
    return gaps


_LAST = 0x10FFFF
_ASTRAL = 0x10000
# One class that finds, in one pass in C, the first character that is either
# not printable in the Basic Multilingual Plane or beyond it. A class of BMP
# characters only is a bitmap to the regular expression engine (constant time
# a character); one with astral ranges would be a list searched one by one.
# Astral characters (emoji among them) are then looked up in the table.
_SUSPECT = re.compile(
    "["
    + "".join(f"\\u{a:04x}-\\u{min(b, _ASTRAL - 1):04x}" for a, b in _gaps() if a < _ASTRAL)
    + f"\\U{_ASTRAL:08x}-\\U{_LAST:08x}]"
).search
_STARTS = PRINTABLE_RANGES[0::2]
_ENDS = PRINTABLE_RANGES[1::2]


def is_text(text: str) -> bool:
    """Whether every character of ``text`` is printable in Unicode 15.0.0."""
    # In ASCII every Unicode version agrees (U+0020 to U+007E), and isprintable
    # costs next to nothing there: the table is read only beyond ASCII.
    if text.isascii():
        return text.isprintable()
    at = 0
    while (found := _SUSPECT(text, at)) is not None:
        code = ord(found.group())
        if code < _ASTRAL:
            return False
        index = bisect_right(_STARTS, code) - 1
        if index < 0 or code > _ENDS[index]:
            return False
        at = found.end()
    return True
