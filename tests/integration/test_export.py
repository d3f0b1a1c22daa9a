"""Export: a bundle of the exact stored bytes, the checkpoints that matter, and balances.

Run against SQLite and PostgreSQL through ``SqlStore``.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from ledger import limits
from ledger.audit.bundle import Bundle, BundleError, split_notes
from ledger.audit.export import ExportError, export_bundle
from ledger.audit.findings import b64
from ledger.audit.verify import verify_bundle
from ledger.cadence import EVERY_BATCH, Cadence
from ledger.checkpoint import open_checkpoint
from ledger.note import NoteError, generate_signer
from ledger.service import Ledger
from ledger.sql.migrate import upgrade
from ledger.sql.store import SqlStore
from ledger.store import StoredCheckpoint
from ledger.writer import Appended
from tests.support.builders import (
    COMMUNITY,
    HOST,
    a_clock,
    a_member,
    a_neighbourhood,
    accepted,
    earn,
    open_account,
    redeem,
    transfer,
)


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[SqlStore]:
    sql = SqlStore.from_url(database_url)
    await upgrade(sql.engine)
    try:
        yield sql
    finally:
        await sql.close()


@pytest.fixture
async def ledger(store: SqlStore) -> AsyncIterator[Ledger]:
    # A long interval: only the first batch and sign_unsigned sign, whatever the load.
    cadence = Cadence(interval_seconds=60)
    service = Ledger(
        store, generate_signer(f"{HOST}/{COMMUNITY}"), HOST, a_clock(), cadence=cadence
    )
    try:
        await accepted(service, *a_neighbourhood(members=3))
        await accepted(
            service,
            earn("org-1", "member-1", 120),
            earn("org-1", "member-2", 60),
            transfer("member-1", "member-3", 15),
            redeem("member-2", "shop-1", 45),
        )
        await service.sign_unsigned()  # the cadence signs at most an interval later
        yield service
    finally:
        await service.close()


async def test_entries_jsonl_holds_the_exact_stored_bytes_one_entry_per_line(
    store: SqlStore, ledger: Ledger, tmp_path: Path
) -> None:
    done = await export_bundle(store, COMMUNITY, tmp_path / "b", ledger.verifier)

    stored = await store.raw_entries(COMMUNITY, 0, done.size)
    assert (tmp_path / "b" / "entries.jsonl").read_bytes() == b"".join(d + b"\n" for d in stored)
    assert done.size == 10


async def test_the_bundle_keeps_its_head_checkpoint_in_checkpoints_txt(
    store: SqlStore, ledger: Ledger, tmp_path: Path
) -> None:
    done = await export_bundle(store, COMMUNITY, tmp_path / "b", ledger.verifier)

    signed = await store.checkpoints(COMMUNITY, 0, limits.PAGE_SIZE_MAX)
    assert len(signed) == 2  # the first batch's, and the head the cadence left to sign later
    # One day: only the last checkpoint of it, the head, is kept.
    assert (tmp_path / "b" / "checkpoints.txt").read_text() == signed[-1].note + "\n"
    assert (tmp_path / "b" / "checkpoint").read_text() == signed[-1].note
    assert not (tmp_path / "b" / "checkpoints").exists()
    assert done.checkpoints == 1


async def test_the_bundle_keeps_the_last_checkpoint_of_each_day_and_each_witnessed_one(
    store: SqlStore, tmp_path: Path
) -> None:
    clock = a_clock()
    ledger = Ledger(store, generate_signer(HOST), HOST, clock, cadence=EVERY_BATCH)
    try:
        await accepted(ledger, *a_neighbourhood(members=2))
        sizes: dict[str, list[int]] = {}
        for day in range(3):
            for n in range(3):
                await accepted(ledger, earn("org-1", "member-1", 1, id=f"d{day}-{n}"))
                size = (await store.head(COMMUNITY)).size
                sizes.setdefault(clock.now().date().isoformat(), []).append(size)
            clock.advance(days=1)
        witnessed = sizes[min(sizes)][0]  # early on the first day
        cosigned = "— witness.example " + "A" * 100 + "\n"

        async def cosignatures(checkpoint: StoredCheckpoint) -> str:
            return cosigned if checkpoint.size == witnessed else ""

        done = await export_bundle(
            store, COMMUNITY, tmp_path / "b", ledger.verifier,
            cosignatures=cosignatures, witnessed={witnessed},
        )  # fmt: skip
    finally:
        await ledger.close()

    kept = list(split_notes((tmp_path / "b" / "checkpoints.txt").read_text()))
    days = sorted(sizes)
    want = [witnessed] + [sizes[day][-1] for day in days]
    assert [int(note.split("\n")[1]) for note in kept] == want
    assert kept[0].endswith(cosigned) and done.checkpoints == 4
    for note in kept[1:]:
        assert note == (await store.checkpoint_at(COMMUNITY, int(note.split("\n")[1]))).note  # type: ignore[union-attr]
    assert verify_bundle(Bundle(tmp_path / "b"), ledger.verifier).findings == ()


async def test_entries_beyond_the_newest_checkpoint_are_left_out_and_their_balances_undone(
    store: SqlStore, ledger: Ledger, tmp_path: Path
) -> None:
    before = {row.spec.id: row.balance_minutes for row in await store.accounts(COMMUNITY)}
    await accepted(ledger, open_account(a_member("member-9")), transfer("member-1", "member-9", 30))
    head = await store.head(COMMUNITY)
    assert head.checkpoint is not None and head.checkpoint.size == 10 < head.size == 12

    done = await export_bundle(store, COMMUNITY, tmp_path / "b", ledger.verifier)

    document = json.loads((tmp_path / "b" / "balances.json").read_text())
    assert done.size == 10 and document == {"size": 10, "balances": before}
    assert verify_bundle(Bundle(tmp_path / "b"), ledger.verifier).findings == ()


async def test_the_bundle_holds_the_balances_the_database_held_at_its_checkpoint(
    store: SqlStore, ledger: Ledger, tmp_path: Path
) -> None:
    await export_bundle(store, COMMUNITY, tmp_path / "b", ledger.verifier)

    document = json.loads((tmp_path / "b" / "balances.json").read_text())
    rows = await store.accounts(COMMUNITY)
    assert document == {
        "size": 10,
        "balances": {row.spec.id: row.balance_minutes for row in rows},
    }


async def test_the_manifest_and_key_name_the_community_origin_size_and_root(
    store: SqlStore, ledger: Ledger, tmp_path: Path
) -> None:
    done = await export_bundle(store, COMMUNITY, tmp_path / "b", ledger.verifier)

    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    head = open_checkpoint((tmp_path / "b" / "checkpoint").read_text(), ledger.verifier)
    assert manifest["format"] == "buurtmunt-bundle" and manifest["version"] == 2
    assert (manifest["community"], manifest["origin"]) == (COMMUNITY, f"{HOST}/{COMMUNITY}")
    assert (manifest["size"], manifest["root"]) == (head.size, b64(head.root))
    assert manifest["root"] == b64(done.root)
    key = (tmp_path / "b" / "verifier.key").read_text().strip()
    assert key == ledger.verifier.named(f"{HOST}/{COMMUNITY}").key_string()


async def test_the_exported_bundle_verifies_clean(
    store: SqlStore, ledger: Ledger, tmp_path: Path
) -> None:
    await export_bundle(store, COMMUNITY, tmp_path / "b", ledger.verifier)

    report = verify_bundle(Bundle(tmp_path / "b"), ledger.verifier)

    assert report.findings == ()


async def test_an_export_never_overwrites_a_bundle(
    store: SqlStore, ledger: Ledger, tmp_path: Path
) -> None:
    target = tmp_path / "b"
    target.mkdir()
    (target / "notes.txt").write_text("mine")

    with pytest.raises(BundleError):
        await export_bundle(store, COMMUNITY, target, ledger.verifier)

    assert [p.name for p in target.iterdir()] == ["notes.txt"]


async def test_an_export_into_an_empty_directory_fills_it(
    store: SqlStore, ledger: Ledger, tmp_path: Path
) -> None:
    (tmp_path / "b").mkdir()

    await export_bundle(store, COMMUNITY, tmp_path / "b", ledger.verifier)

    assert (tmp_path / "b" / "entries.jsonl").is_file()


class _FailingStore:
    """The store, except that the connection drops while entries are read."""

    def __init__(self, store: SqlStore) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def raw_entries(self, community: str, start: int, end: int) -> list[bytes]:
        raise OSError("connection lost")


async def test_a_failed_export_leaves_nothing_behind(
    store: SqlStore, ledger: Ledger, tmp_path: Path
) -> None:
    (tmp_path / "out").mkdir()

    failing: Any = _FailingStore(store)

    with pytest.raises(OSError, match="connection lost"):
        await export_bundle(failing, COMMUNITY, tmp_path / "out" / "b", ledger.verifier)

    assert os.listdir(tmp_path / "out") == []


async def test_exporting_a_community_without_a_checkpoint_is_refused(
    store: SqlStore, ledger: Ledger, tmp_path: Path
) -> None:
    with pytest.raises(ExportError):
        await export_bundle(store, "nobody", tmp_path / "b", ledger.verifier)

    assert not (tmp_path / "b").exists()


async def test_exporting_with_a_key_that_did_not_sign_the_log_is_refused(
    store: SqlStore, ledger: Ledger, tmp_path: Path
) -> None:
    stranger = generate_signer(f"{HOST}/{COMMUNITY}").verifier()

    with pytest.raises(NoteError):
        await export_bundle(store, COMMUNITY, tmp_path / "b", stranger)

    assert not (tmp_path / "b").exists()


async def test_an_export_while_the_ledger_keeps_appending_is_consistent(
    store: SqlStore, ledger: Ledger, tmp_path: Path
) -> None:
    stop = asyncio.Event()

    async def keep_appending() -> int:
        n = 0
        while not stop.is_set():
            result = await ledger.append(COMMUNITY, earn("org-1", "member-3", 1, id=f"busy-{n}"))
            assert isinstance(result, Appended)
            n += 1
        return n

    appender = asyncio.create_task(keep_appending())
    await asyncio.sleep(0.05)
    bundles = []
    for attempt in range(3):
        bundles.append(tmp_path / f"b{attempt}")
        await export_bundle(store, COMMUNITY, bundles[-1], ledger.verifier)
    stop.set()
    appended = await appender

    assert appended > 0
    for bundle in bundles:
        assert verify_bundle(Bundle(bundle), ledger.verifier).findings == ()


async def test_a_journal_longer_than_one_read_is_exported_whole(
    store: SqlStore, ledger: Ledger, tmp_path: Path
) -> None:
    drafts = [earn("org-1", "member-1", 1, id=f"bulk-{n}") for n in range(1_100)]
    results = await asyncio.gather(*(ledger.append(COMMUNITY, d) for d in drafts))
    assert all(isinstance(r, Appended) for r in results)
    await ledger.sign_unsigned()

    done = await export_bundle(store, COMMUNITY, tmp_path / "b", ledger.verifier)

    assert done.size == 1_110 > limits.ENTRY_RANGE_MAX
    assert len((tmp_path / "b" / "entries.jsonl").read_bytes().split(b"\n")) == 1_111
    assert verify_bundle(Bundle(tmp_path / "b"), ledger.verifier).findings == ()


def test_reading_cuts_a_line_longer_than_any_entry_and_goes_on(tmp_path: Path) -> None:
    (tmp_path / "entries.jsonl").write_bytes(b"x" * 20_000 + b"\nnext\nlast")
    (tmp_path / "checkpoint").write_text("not read here\n")
    bundle = Bundle(tmp_path)

    lines = list(bundle.entries())

    assert [len(lines[0]), lines[1], lines[2]] == [limits.ENTRY_BYTES_MAX + 1, b"next", b"last"]
    assert bundle.unterminated_last_line


def test_a_directory_without_entries_is_not_a_bundle(tmp_path: Path) -> None:
    (tmp_path / "checkpoint").write_text("x\n")

    with pytest.raises(BundleError, match="missing_file"):
        Bundle(tmp_path)
