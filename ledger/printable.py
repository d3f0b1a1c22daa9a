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

from ledger.printable_table import PRINTABLE_RANGES, UNICODE_VERSION

__all__ = ["UNICODE_VERSION", "is_text"]


def _not_printable_class() -> str:
    """A regular expression class of every code point outside ``PRINTABLE_RANGES``."""
    gaps: list[str] = []
    after = 0
    for index in range(0, len(PRINTABLE_RANGES), 2):
        first, last = PRINTABLE_RANGES[index], PRINTABLE_RANGES[index + 1]
        if first > after:
            gaps.append(f"\\U{after:08x}-\\U{first - 1:08x}")
        after = last + 1
    if after <= 0x10FFFF:
        gaps.append(f"\\U{after:08x}-\\U0010ffff")
    return "[" + "".join(gaps) + "]"


_NOT_PRINTABLE = re.compile(_not_printable_class()).search


def is_text(text: str) -> bool:
    """Whether every character of ``text`` is printable in Unicode 15.0.0."""
    # In ASCII every Unicode version agrees (U+0020 to U+007E), and isprintable
    # costs next to nothing there: the table is read only beyond ASCII.
    if text.isascii():
        return text.isprintable()
    return _NOT_PRINTABLE(text) is None
