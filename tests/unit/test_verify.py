"""The verifier reads entries.jsonl in blocks, line for line as ``Bundle.entries`` does."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger import limits, verify
from ledger.bundle import CHECKPOINT, ENTRIES, Bundle

BOUND = limits.ENTRY_BYTES_MAX + 1
LONG = b"x" * (BOUND + 5)


def a_bundle(directory: Path, entries: bytes) -> Bundle:
    (directory / ENTRIES).write_bytes(entries)
    (directory / CHECKPOINT).write_text("unused")
    return Bundle(directory)


@pytest.mark.parametrize(
    "entries",
    [
        b"",
        b"a\nbb\n",
        b"a\nbb",
        b"\n\n\n",
        b"a\n" + LONG + b"\nb\n",
        b"a\n" + LONG,
        b"a\n" + b"y" * BOUND,
        b"y" * BOUND + b"\n" + b"z" * (BOUND + 1) + b"\n",
        b"".join(b"line %d\n" % n for n in range(1000)),
    ],
)
@pytest.mark.parametrize("block_bytes", [1, 7, 4096, 1 << 20])
def test_blocks_hold_the_lines_bundle_entries_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, entries: bytes, block_bytes: int
) -> None:
    monkeypatch.setattr(verify, "_BLOCK_BYTES", block_bytes)
    by_line = a_bundle(tmp_path, entries)
    expected = list(by_line.entries())
    by_block = Bundle(tmp_path)

    lines = [line for block in verify.entry_blocks(by_block) for line in block]

    assert lines == expected
    assert by_block.unterminated_last_line == by_line.unterminated_last_line
