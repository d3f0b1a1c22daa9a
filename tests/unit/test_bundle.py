"""The bundle's layout: kept checkpoints in one checkpoints.txt, read back as written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from ledger.audit.bundle import (
    CHECKPOINTS,
    CHECKPOINTS_TEXT,
    MANIFEST,
    Bundle,
    BundleWriter,
    Manifest,
    checkpoint_name,
    split_notes,
)
from ledger.audit.findings import b64
from ledger.audit.verify import verify_bundle
from ledger.checkpoint import open_checkpoint
from ledger.merkle import Frontier, leaf_hash
from tests.unit.test_audit import COMMUNITY, ORIGIN, History, a_busy_history


def sizes_of(history: History) -> dict[int, str]:
    verifier = history.signer.verifier()
    return {open_checkpoint(note, verifier).size: note for note in history.notes}


def a_bundle(directory: Path, history: History, kept: list[int]) -> Path:
    """A bundle of the whole history keeping the checkpoints of sizes ``kept``."""
    notes = sizes_of(history)
    frontier = Frontier.empty()
    for line in history.lines:
        frontier.append(leaf_hash(line))
    with BundleWriter(directory) as writer:
        writer.add_entries(history.lines)
        for size in kept:
            writer.add_checkpoint(size, notes[size])
        manifest = Manifest(COMMUNITY, ORIGIN, len(history.lines), b64(frontier.root()), "x")
        writer.commit(
            manifest=manifest,
            head_note=notes[len(history.lines)],
            verifier_key=history.signer.verifier().key_string(),
            balances=history.balances,
        )
    return directory


async def test_kept_checkpoints_are_read_back_as_written_in_order_of_size(tmp_path: Path) -> None:
    history = await a_busy_history()
    notes = sizes_of(history)
    kept = sorted({*sorted(notes)[::3], len(history.lines)})
    bundle = a_bundle(tmp_path / "b", history, kept)

    text = (bundle / CHECKPOINTS_TEXT).read_text()
    files, faults = Bundle(bundle).checkpoint_files()

    assert text == "".join(notes[size] + "\n" for size in kept)
    assert list(split_notes(text)) == [notes[size] for size in kept]
    assert [f.size for f in files] == kept and faults == []
    assert [Bundle(bundle).read_checkpoint(f) for f in files] == [notes[s] for s in kept]
    assert not (bundle / CHECKPOINTS).exists()


async def test_a_journal_with_sparse_checkpoints_verifies_clean(tmp_path: Path) -> None:
    history = await a_busy_history()
    head = len(history.lines)
    bundle = a_bundle(tmp_path / "b", history, [sorted(sizes_of(history))[2], head])

    report = verify_bundle(Bundle(bundle), history.signer.verifier())

    assert report.findings == ()
    assert report.checkpoints_verified == 3  # two kept and the head


async def test_a_version_1_bundle_with_a_file_per_checkpoint_still_verifies(
    tmp_path: Path,
) -> None:
    history = await a_busy_history()
    notes = sizes_of(history)
    bundle = a_bundle(tmp_path / "b", history, [])
    (bundle / CHECKPOINTS_TEXT).unlink()
    (bundle / CHECKPOINTS).mkdir()
    for size, note in notes.items():
        (bundle / CHECKPOINTS / checkpoint_name(size)).write_text(note)
    manifest = json.loads((bundle / MANIFEST).read_text())
    (bundle / MANIFEST).write_text(json.dumps(manifest | {"version": 1}))

    report = verify_bundle(Bundle(bundle), history.signer.verifier())

    assert report.findings == ()
    assert report.checkpoints_verified == len(notes) + 1


async def test_notes_out_of_order_or_cut_short_are_findings(tmp_path: Path) -> None:
    history = await a_busy_history()
    notes = sizes_of(history)
    small, large = sorted(notes)[1], sorted(notes)[4]
    bundle = a_bundle(tmp_path / "b", history, [])
    text = notes[large] + "\n" + notes[small] + "\n" + notes[large][:40]
    (bundle / CHECKPOINTS_TEXT).write_text(text)

    report = verify_bundle(Bundle(bundle), history.signer.verifier())

    messages = [f.message for f in report.findings]
    assert f"{CHECKPOINTS_TEXT} note 2 is not in order of size" in messages
    cut = [f for f in report.findings if f.check == "checkpoint_invalid"]
    assert [f.detail["checkpoint"] for f in cut] == [f"{CHECKPOINTS_TEXT} note 3"]


async def test_a_manifest_naming_the_other_version_is_a_finding(tmp_path: Path) -> None:
    history = await a_busy_history()
    bundle = a_bundle(tmp_path / "b", history, [len(history.lines)])
    manifest = json.loads((bundle / MANIFEST).read_text())
    (bundle / MANIFEST).write_text(json.dumps(manifest | {"version": 1}))
    both = shutil.copytree(bundle, tmp_path / "both")
    (both / CHECKPOINTS).mkdir()

    report = verify_bundle(Bundle(bundle), history.signer.verifier())
    doubled = verify_bundle(Bundle(both), history.signer.verifier())

    assert [f.check for f in report.findings] == ["bundle_format"]
    assert "version" in report.findings[0].message
    assert any(CHECKPOINTS_TEXT in f.message for f in doubled.findings)
