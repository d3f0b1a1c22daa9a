"""The verifier reads entries.jsonl in blocks, line for line as ``Bundle.entries`` does."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger import limits
from ledger.audit import verify
from ledger.audit.bundle import CHECKPOINT, ENTRIES, Bundle, BundleWriter, Manifest
from ledger.audit.scan import Run, correction_targets, scan_lines
from ledger.checkpoint import open_checkpoint
from ledger.merkle import leaf_hash
from tests.support.builders import COMMUNITY, earn, redeem, settle, transfer
from tests.unit.test_audit import NOVEMBER, ORIGIN, History, a_busy_history, a_history

BOUND = limits.ENTRY_BYTES_MAX + 1
LONG = b"x" * (BOUND + 5)


# Files whose lines end, run long or sit across block and range boundaries awkwardly.
AWKWARD_FILES = [
    b"",
    b"a\nbb\n",
    b"a\nbb",
    b"\n\n\n",
    b"a\n" + LONG + b"\nb\n",
    b"a\n" + LONG,
    b"a\n" + b"y" * BOUND,
    b"y" * BOUND + b"\n" + b"z" * (BOUND + 1) + b"\n",
    b"".join(b"line %d\n" % n for n in range(1000)),
]


def a_bundle(directory: Path, entries: bytes) -> Bundle:
    (directory / ENTRIES).write_bytes(entries)
    (directory / CHECKPOINT).write_text("unused")
    return Bundle(directory)


@pytest.mark.parametrize("entries", AWKWARD_FILES)
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


MARKED = b'{"corrects":%d,"kind":"correct"}'


@pytest.mark.parametrize(
    "entries",
    [
        b"",
        MARKED % 1,
        b"a\n" + MARKED % 2 + b"\n" + MARKED % 3,
        b"a\n" + (MARKED % 4) * 3 + b"\n" + MARKED % 5 + b"\n",
        b"a\n" + MARKED % 6 + b" " * BOUND + b"\n" + MARKED % 7 + b"\n",
        b"".join(MARKED % n + b"\n" if n % 7 else b"line\n" for n in range(1000)),
    ],
)
@pytest.mark.parametrize("block_bytes", [1, 7, 4096, 1 << 20])
def test_the_pre_pass_finds_the_corrections_of_the_lines_bundle_entries_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, entries: bytes, block_bytes: int
) -> None:
    monkeypatch.setattr(verify, "_BLOCK_BYTES", block_bytes)
    by_line = a_bundle(tmp_path, entries)
    expected = correction_targets(line for line in by_line.entries() if len(line) < BOUND)
    by_block = Bundle(tmp_path)

    assert verify._pre_pass(by_block) == expected
    assert by_block.unterminated_last_line == by_line.unterminated_last_line


@pytest.mark.parametrize("entries", AWKWARD_FILES)
@pytest.mark.parametrize("range_bytes", [1, 7, 4096, 1 << 20])
def test_scanned_ranges_hold_one_result_per_line(
    tmp_path: Path, entries: bytes, range_bytes: int
) -> None:
    bundle = a_bundle(tmp_path, entries)
    path = str(tmp_path / ENTRIES)
    size = len(entries)

    scanned = [
        item
        for start in range(0, size, range_bytes)
        for item in verify._scan_range(path, start, min(start + range_bytes, size))
    ]

    assert scanned == list(bundle.entries())  # no entries: every line as it is


def per_line(items: list[Run | bytes], file: bytes) -> list[object]:
    """What scanning found, line by line; a run's lines read back from the file by its ends."""
    found: list[object] = []
    for item in items:
        if isinstance(item, bytes):
            found.append(item)
            continue
        for i in range(len(item.kinds)):
            begin = item.offset + (item.ends[i - 1] + 1 if i else 0)
            line = file[begin : item.offset + item.ends[i]]
            assert item.leaf(i) == leaf_hash(line)
            values = (item.ids.split("\n")[i], item.kinds[i], item.payers[i], item.payees[i])
            found.append((line, item.seq + i, item.time(i), *values, item.amounts[i]))
    return found


async def test_scanned_ranges_find_what_scan_lines_finds(tmp_path: Path) -> None:
    history = await a_busy_history()
    lines = [*history.lines, b"not json", b"", *history.lines[:3]]
    entries = b"".join(line + b"\n" for line in lines)
    a_bundle(tmp_path, entries)
    path = str(tmp_path / ENTRIES)

    expected = per_line(scan_lines(lines, 0), entries)
    for range_bytes in (1, 100, 333, 1 << 20):
        scanned = [
            item
            for start in range(0, len(entries), range_bytes)
            for item in verify._scan_range(path, start, min(start + range_bytes, len(entries)))
        ]
        assert per_line(scanned, entries) == expected
    common = len(history.lines)
    assert all(isinstance(found, tuple) for found in expected[common - 3 : common])
    assert [found if isinstance(found, bytes) else found[0] for found in expected] == lines


def a_written_bundle(directory: Path, history: History, lines: list[bytes]) -> Path:
    with BundleWriter(directory) as writer:
        writer.add_entries(lines)
        sizes = []
        for note in history.notes:
            size = open_checkpoint(note, history.signer.verifier()).size
            if size not in sizes:
                sizes.append(size)
                writer.add_checkpoint(size, note)
        manifest = Manifest(COMMUNITY, ORIGIN, len(lines), "root?", "2026-11-28T00:00:00Z")
        writer.commit(
            manifest=manifest,
            head_note=history.notes[-1],
            verifier_key=history.signer.verifier().key_string(),
            balances=history.balances,
        )
    return directory


async def test_scanning_ahead_in_any_number_of_processes_finds_what_the_long_way_finds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    history = await a_history(
        *(earn("org-1", f"member-{1 + n % 2}", 15) for n in range(30)),
        transfer("member-1", "member-2", 30),
        redeem("member-2", "shop-1", 60),
        settle("shop-1", "community", 40),
        NOVEMBER,
        *(earn("org-1", "member-1", 15) for n in range(10)),
    )
    clean = history.lines
    faulty = list(clean)
    faulty[12] = faulty[12].replace(b'"minutes":15', b'"minutes":16')  # chain, root
    faulty[20] = faulty[19]  # seq, duplicate id, chain
    faulty[25] = b"not json"
    faulty[30] = faulty[30].replace(b'"minutes":30', b'"minutes":9000')  # a rule
    faulty.insert(33, b"")
    faulty.insert(40, LONG)
    del faulty[45]
    monkeypatch.setattr(verify, "_RANGE_BYTES", 700)  # many ranges, split mid-line

    for name, lines in (("clean", clean), ("faulty", faulty)):
        bundle = a_written_bundle(tmp_path / name, history, lines)
        verifier = history.signer.verifier()
        # An observer makes the audit take every line the long way: the reference.
        one = verify.verify_bundle(Bundle(bundle), verifier, observer=lambda entry, state: None)
        assert one.findings
        for jobs in (1, 2, 3):
            assert verify.verify_bundle(Bundle(bundle), verifier, jobs=jobs) == one
    assert {f.check for f in one.findings} >= {
        "hash_chain_broken",
        "seq_out_of_order",
        "duplicate_id",
        "not_canonical",
        "checkpoint_root_mismatch",
    }
