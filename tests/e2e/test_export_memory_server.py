"""A large journal exported over HTTP from a running server: the bundle streams, the
server's memory stays flat, and ``buurtmunt verify`` passes on what was downloaded.

The journal is ``BUURTMUNT_EXPORT_ENTRIES`` entries (200,000 by default): transfers
between two members, appended through the ledger in group commits of
BATCH_SIZE_MAX drafts. The server's peak resident memory (``VmHWM``) is read
before and after the download; the download must not raise it by more than
RSS_GROWTH_MAX_KB, a fraction of the bundle's size.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import httpx
import pytest

from api import bootstrap, drafts
from api.access import Role
from api.runtime import open_runtime
from api.settings import Settings
from ledger import limits
from ledger.ids import new_entry_id
from ledger.model import Rejected
from tests.support.server import COMMUNITY, ROOT, free_port, seed, server_env, serving

pytestmark = pytest.mark.slow
ENTRIES = int(os.environ.get("BUURTMUNT_EXPORT_ENTRIES", "200000"))
FUNDS_MINUTES = 10 * limits.BATCH_SIZE_MAX
RSS_GROWTH_MAX_KB = 40 * 1024
DOWNLOAD_PIECE_BYTES = 1 << 16


async def a_long_journal(env: dict[str, str], entries: int) -> str:
    """Two funded members paying each other ``entries`` times in all; an auditor's token."""
    seeded = await seed(env, members=2, funds_minutes=FUNDS_MINUTES)
    first, second = seeded.member_accounts
    async with open_runtime(Settings.from_env(env)) as rt:
        done = 0
        while done < entries:
            wave = min(limits.BATCH_SIZE_MAX, entries - done)
            results = await asyncio.gather(
                *(
                    drafts.append(
                        rt.ledger,
                        COMMUNITY,
                        drafts.transfer(
                            new_entry_id(),
                            *((first, second) if n % 2 else (second, first)),
                            1,
                            "",
                        ),
                    )
                    for n in range(wave)
                )
            )
            assert not any(isinstance(r, Rejected) for r in results)
            done += wave
        auditor = await bootstrap.person_for_token(
            rt, role=Role.AUDITOR, community=COMMUNITY, name="Controleur"
        )
        _, token = await bootstrap.issue_token(rt, auditor, Role.AUDITOR, "export")
    return token


def server_pid(port: int) -> int:
    """The ``buurtmunt serve`` child of this process listening on ``port``."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            command = (proc / "cmdline").read_bytes().split(b"\0")
            parent = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if parent == os.getpid() and str(port).encode() in command and b"serve" in command:
            return int(proc.name)
    raise AssertionError(f"no server on port {port}")


def memory_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(field)


def download_rows(url: str, headers: dict[str, str]) -> int:
    """Streams ``url`` and counts its lines."""
    lines = 0
    with httpx.stream("GET", url, headers=headers, timeout=600) as answer:
        assert answer.status_code == 200, answer.read()
        for piece in answer.iter_bytes(DOWNLOAD_PIECE_BYTES):
            lines += piece.count(b"\n")
    return lines


def test_a_large_bundle_streams_with_flat_server_memory_and_verifies(tmp_path: Path) -> None:
    port = free_port()
    env = server_env(f"sqlite:///{tmp_path / 'buurtmunt.db'}", f"http://127.0.0.1:{port}")
    started = time.monotonic()
    token = asyncio.run(a_long_journal(env, ENTRIES))
    appended_s = time.monotonic() - started
    headers = {"Authorization": f"Bearer {token}"}
    with serving(env, port) as base:
        pid = server_pid(port)
        checkpoint = httpx.get(f"{base}/api/v1/ledger/checkpoint", headers=headers).json()
        before_kb = memory_kb(pid, "VmHWM")
        archive = tmp_path / "bundle.tar"
        started = time.monotonic()
        with (
            httpx.stream(
                "GET", f"{base}/api/v1/exports/bundle", headers=headers, timeout=600
            ) as answer,
            archive.open("wb") as out,
        ):
            assert answer.status_code == 200, answer.read()
            for piece in answer.iter_bytes(DOWNLOAD_PIECE_BYTES):
                out.write(piece)
        download_s = time.monotonic() - started
        after_kb = memory_kb(pid, "VmHWM")
        started = time.monotonic()
        rows = download_rows(f"{base}/api/v1/exports/entries.csv", headers)
        csv_s = time.monotonic() - started
        after_csv_kb = memory_kb(pid, "VmHWM")
        started = time.monotonic()
        month = time.strftime("%Y-%m", time.gmtime())
        statement = httpx.get(
            f"{base}/api/v1/statements", headers=headers, params={"period": month}, timeout=600
        )
        statement_s = time.monotonic() - started
        after_statement_kb = memory_kb(pid, "VmHWM")
    with tarfile.open(archive) as tar:
        (directory,) = {n.split("/")[0] for n in tar.getnames()}
        tar.extractall(tmp_path / "unpacked", filter="data")
    started = time.monotonic()
    verified = subprocess.run(
        [sys.executable, "-m", "api.cli", "verify", str(tmp_path / "unpacked" / directory),
         "--key", checkpoint["verifier_key"]],
        capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=600,
    )  # fmt: skip
    verify_s = time.monotonic() - started
    size_mb = archive.stat().st_size / 2**20
    print(
        f"\nexport of {checkpoint['size']:,} entries: appended in {appended_s:.1f} s, bundle "
        f"{size_mb:.1f} MiB streamed in {download_s:.1f} s, server peak RSS {before_kb / 1024:.1f}"
        f" -> {after_kb / 1024:.1f} MiB, verified in {verify_s:.1f} s; entries CSV {rows:,} rows"
        f" in {csv_s:.1f} s, peak RSS then {after_csv_kb / 1024:.1f} MiB; statement (a whole"
        f" audit) in {statement_s:.1f} s, peak RSS then {after_statement_kb / 1024:.1f} MiB"
    )
    assert statement.status_code == 200, statement.text
    assert statement.json()["circulation"]["reconciles"] is True
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert checkpoint["size"] >= ENTRIES
    assert after_kb - before_kb < RSS_GROWTH_MAX_KB, (before_kb, after_kb)
    assert rows == ENTRIES + 1 + (checkpoint["size"] - ENTRIES)  # a header, a row per posting
    assert after_csv_kb - before_kb < RSS_GROWTH_MAX_KB, (before_kb, after_csv_kb)
