"""Write ``ledger/printable.py``'s table of the characters text may hold.

Text in an entry (memo, reference, meta values) may hold every character whose
general category in Unicode 15.0.0 is not Cc, Cf, Cs, Co, Cn, Zl, Zp or Zs,
and U+0020 SPACE: what Python 3.12's ``str.isprintable()`` says, fixed to one
Unicode version so that every runtime and every language gives one verdict.

The table was made by this command (Debian's package ``unicode-data`` 15.0.0
holds the file; https://www.unicode.org/Public/15.0.0/ucd/extracted/ too):

    python tools/printable_table.py \
        /usr/share/unicode/extracted/DerivedGeneralCategory.txt > ledger/printable_table.py
"""

from __future__ import annotations

import re
import sys

VERSION = "15.0.0"
NOT_PRINTABLE = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs"}
_LINE = re.compile(r"([0-9A-F]{4,6})(?:\.\.([0-9A-F]{4,6}))?\s*;\s*(\w\w)")


def printable_ranges(lines: list[str]) -> list[tuple[int, int]]:
    """The code point ranges (first, last) of printable characters, merged and sorted."""
    assert lines[0].strip() == f"# DerivedGeneralCategory-{VERSION}.txt", lines[0]
    allowed = bytearray(0x110000)
    seen = bytearray(0x110000)
    for line in lines:
        match = _LINE.match(line)
        if match is None:
            continue
        first = int(match.group(1), 16)
        last = int(match.group(2) or match.group(1), 16)
        for code in range(first, last + 1):
            seen[code] = 1
            allowed[code] = match.group(3) not in NOT_PRINTABLE
    # The file leaves unassigned code points out (they default to Cn).
    allowed[0x20] = 1
    ranges: list[tuple[int, int]] = []
    for code in range(0x110000):
        if not (allowed[code] and seen[code]):
            continue
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1] = (ranges[-1][0], code)
        else:
            ranges.append((code, code))
    return ranges


def module_text(ranges: list[tuple[int, int]]) -> str:
    flat = [f"0x{first:X}, 0x{last:X}," for first, last in ranges]
    rows = []
    row = "   "
    for pair in flat:
        if len(row) + len(pair) + 1 > 99:
            rows.append(row)
            row = "   "
        row += " " + pair
    rows.append(row)
    body = "\n".join(rows)
    return f'''"""The characters text may hold: printable in Unicode {VERSION} (generated).

Made by ``tools/printable_table.py`` (its docstring has the command) from the
Unicode Character Database {VERSION}, DerivedGeneralCategory.txt. Pairs of the
first and last code point of each range of characters whose general category
is not Cc, Cf, Cs, Co, Cn, Zl, Zp or Zs, and U+0020 SPACE.
"""

UNICODE_VERSION = "{VERSION}"

# {len(ranges)} ranges: first, last, first, last, ...
# fmt: off
PRINTABLE_RANGES = (
{body}
)
# fmt: on
'''


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as file:
        lines = file.readlines()
    sys.stdout.write(module_text(printable_ranges(lines)))


if __name__ == "__main__":
    main()
