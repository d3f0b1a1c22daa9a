"""Text is judged by a fixed Unicode version's table, whatever Python runs."""

from __future__ import annotations

import itertools
import unicodedata

import pytest

from ledger.model import Rejection
from ledger.printable import UNICODE_VERSION, is_text
from ledger.printable_table import PRINTABLE_RANGES
from ledger.shape import check_shape
from tests.support.builders import transfer

# (character, verdict, why): test vectors across Unicode versions.
VECTORS = [
    ("\U0001fa77", True, "PINK HEART, new in Unicode 15.0"),
    ("\U0001f6dc", True, "WIRELESS, new in Unicode 15.0"),
    ("\U00011f00", True, "KAWI SIGN CANDRABINDU, new in Unicode 15.0"),
    ("\U0001e4d0", True, "NAG MUNDARI LETTER O, new in Unicode 15.0"),
    ("\u0cf3", True, "KANNADA SIGN COMBINING ANUSVARA ABOVE RIGHT, new in Unicode 15.0"),
    ("\U00013439", False, "EGYPTIAN HIEROGLYPH INSERT AT MIDDLE: new in 15.0, but Cf"),
    ("\u2ffc", False, "IDEOGRAPHIC DESCRIPTION CHARACTER, new in Unicode 15.1: Cn in 15.0"),
    ("\u31ef", False, "CJK STROKE HXG, new in Unicode 15.1"),
    ("\U0002ebf0", False, "CJK UNIFIED IDEOGRAPH-2EBF0, new in Unicode 15.1"),
    ("\U0001fae8", True, "SHAKING FACE, new in Unicode 15.0"),
    (" ", True, "SPACE"),
    ("~", True, "TILDE"),
    ("é", True, "LATIN SMALL LETTER E WITH ACUTE"),
    ("ش", True, "ARABIC LETTER SHEEN"),
    ("\u00a0", False, "NO-BREAK SPACE: Zs"),
    ("\u200b", False, "ZERO WIDTH SPACE: Cf"),
    ("\u200f", False, "RIGHT-TO-LEFT MARK: Cf"),
    ("\u2028", False, "LINE SEPARATOR: Zl"),
    ("\u2029", False, "PARAGRAPH SEPARATOR: Zp"),
    ("\ue000", False, "private use: Co"),
    ("\ud800", False, "a lone surrogate: Cs"),
    ("\u0378", False, "unassigned: Cn"),
    ("\x7f", False, "DELETE: Cc"),
    ("\x85", False, "NEXT LINE: Cc"),
    ("\t", False, "TAB: Cc"),
    ("\U0010ffff", False, "a noncharacter: Cn"),
]


@pytest.mark.parametrize(("character", "verdict", "why"), VECTORS)
def test_a_character_gets_the_verdict_of_unicode_15_0(
    character: str, verdict: bool, why: str
) -> None:
    assert is_text(character) is verdict, why
    assert is_text(f"a{character}b") is verdict, why


def test_the_table_is_unicode_15_0_in_sorted_disjoint_ranges() -> None:
    assert UNICODE_VERSION == "15.0.0"
    pairs = list(zip(PRINTABLE_RANGES[::2], PRINTABLE_RANGES[1::2], strict=True))
    assert all(first <= last for first, last in pairs)
    assert all(a_last + 1 < b_first for (_, a_last), (b_first, _) in itertools.pairwise(pairs))
    assert pairs[0] == (0x20, 0x7E)
    assert pairs[-1][1] <= 0x10FFFF


def test_the_runtime_differs_from_the_table_only_where_its_unicode_version_does() -> None:
    # The runtime's own database says which characters it does not know yet
    # (Cn): only those may get another verdict from str.isprintable().
    differ = [c for c in range(0x110000) if is_text(chr(c)) != chr(c).isprintable()]
    if unicodedata.unidata_version == UNICODE_VERSION:
        assert differ == []
    else:
        # An older runtime does not know some of the table's characters; a newer
        # one knows characters the table does not.
        older = [c for c in differ if unicodedata.category(chr(c)) == "Cn"]
        newer = [c for c in differ if not is_text(chr(c)) and chr(c).isprintable()]
        assert sorted(older + newer) == differ, unicodedata.unidata_version


def test_an_entry_memo_with_a_unicode_15_character_passes_the_shape_check() -> None:
    assert check_shape(transfer(memo="bedankt \U0001fa77")) is None


def test_an_entry_memo_with_a_unicode_15_1_character_is_not_text() -> None:
    rejected = check_shape(transfer(memo="\u2ffc"))

    assert rejected is not None and rejected.code is Rejection.TEXT_INVALID
