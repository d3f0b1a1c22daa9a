"""``python -m ledger.audit.verify`` as a real process, and the ``buurtmunt`` subcommands.

The verifier must run with the standard library and ``cryptography`` alone: a
subprocess runs it and lists every module it imported.
"""

from __future__ import annotations

import argparse
import json
import os
import pty
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from api.audit_commands import register
from ledger.audit.export import export_bundle
from ledger.canonical import decode_entry
from ledger.memory import MemoryStore
from ledger.model import Draft, Entry, EntryKind, Posting
from ledger.note import NoteSigner, generate_signer
from ledger.service import Ledger
from ledger.sql.migrate import upgrade
from ledger.sql.store import SqlStore
from ledger.store import Store
from tests.support.builders import (
    COMMUNITY,
    HOST,
    a_clock,
    a_neighbourhood,
    accepted,
    earn,
    redeem,
    transfer,
)
from tests.unit.test_audit import rechain, signed_head

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Exported:
    bundle: Path
    key: str
    signer: NoteSigner


async def a_history(store: Store, signer: NoteSigner) -> Ledger:
    ledger = Ledger(store, signer, HOST, a_clock())
    await accepted(ledger, *a_neighbourhood(members=2))
    await accepted(
        ledger,
        earn("org-1", "member-1", 120),
        transfer("member-1", "member-2", 30),
        redeem("member-2", "shop-1", 20),
    )
    await ledger.sign_unsigned()  # what the cadence's timer does within an interval
    return ledger


@pytest.fixture
async def exported(tmp_path: Path) -> AsyncIterator[Exported]:
    store = MemoryStore()
    signer = generate_signer(f"{HOST}/{COMMUNITY}")
    ledger = await a_history(store, signer)
    await export_bundle(store, COMMUNITY, tmp_path / "bundle", ledger.verifier)
    yield Exported(tmp_path / "bundle", ledger.verifier.key_string(), signer)
    await ledger.close()


def run_verify(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ledger.audit.verify", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=60,
    )


def test_a_clean_bundle_exits_0_with_a_short_summary(exported: Exported) -> None:
    done = run_verify(str(exported.bundle), "--key", exported.key)

    assert done.returncode == 0, done.stdout + done.stderr
    summary = dict(line.split(None, 1) for line in done.stdout.splitlines())
    assert summary["entries"] == "8"
    assert summary["accounts"] == "5"
    assert summary["checkpoint"].startswith("size 8, root ")
    assert summary["outstanding"].startswith("2 hours (120 minutes)")
    assert summary["result"].startswith("OK")
    assert done.stderr == ""  # no progress bar when stderr is not a terminal


def test_a_tampered_bundle_exits_1_naming_the_entry_and_the_check(exported: Exported) -> None:
    entries = exported.bundle / "entries.jsonl"
    lines = entries.read_bytes().split(b"\n")
    lines[6] = lines[6].replace(b'"minutes":30', b'"minutes":300')
    entries.write_bytes(b"\n".join(lines))

    done = run_verify(str(exported.bundle), "--key", exported.key)

    assert done.returncode == 1
    assert "seq 7: hash_chain_broken:" in done.stdout
    assert "seq 6: exceeds_balance:" in done.stdout
    assert "FAILED" in done.stdout


def test_the_key_may_be_given_as_a_file(exported: Exported, tmp_path: Path) -> None:
    key_file = tmp_path / "oost.vkey"
    key_file.write_text(exported.key + "\n")

    done = run_verify(str(exported.bundle), "--key", str(key_file))

    assert done.returncode == 0, done.stdout + done.stderr
    assert "warning" not in done.stderr


def test_a_key_taken_from_the_bundle_itself_is_warned_about(exported: Exported) -> None:
    done = run_verify(str(exported.bundle), "--key", str(exported.bundle / "verifier.key"))

    assert done.returncode == 0, done.stdout + done.stderr  # it is the right key here
    assert "a bundle cannot vouch for itself" in done.stderr


def test_a_key_that_is_neither_a_key_nor_a_file_is_named_as_such(exported: Exported) -> None:
    done = run_verify(str(exported.bundle), "--key", "garbage")

    assert done.returncode == 2
    assert "malformed_key: a --key is neither a verifier key" in done.stderr


def test_another_key_exits_1_because_no_checkpoint_verifies(exported: Exported) -> None:
    stranger = generate_signer(f"{HOST}/{COMMUNITY}").verifier().key_string()

    done = run_verify(str(exported.bundle), "--key", stranger)

    assert done.returncode == 1
    assert "checkpoint_invalid" in done.stdout
    assert "verifier.key differs from --key" in done.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["{bundle}", "--key", "not a key"],
        ["{bundle}/nowhere", "--key", "{key}"],
        ["{bundle}"],
        ["{bundle}", "--key", "{key}", "--trusted", "{bundle}/no-such-checkpoint"],
    ],
)
def test_unusable_input_exits_2(exported: Exported, args: list[str]) -> None:
    filled = [a.format(bundle=exported.bundle, key=exported.key) for a in args]

    done = run_verify(*filled)

    assert done.returncode == 2
    assert done.stdout == ""


async def test_a_trusted_checkpoint_from_later_catches_a_rolled_back_bundle(
    tmp_path: Path,
) -> None:
    store = MemoryStore()
    signer = generate_signer(f"{HOST}/{COMMUNITY}")
    ledger = await a_history(store, signer)
    await export_bundle(store, COMMUNITY, tmp_path / "early", ledger.verifier)
    await accepted(ledger, earn("org-1", "member-2", 60))
    await ledger.sign_unsigned()
    later = (await store.head(COMMUNITY)).checkpoint
    assert later is not None
    trusted = tmp_path / "trusted.checkpoint"
    trusted.write_text(later.note)

    done = run_verify(
        str(tmp_path / "early"), "--key", signer.verifier().key_string(), "--trusted", str(trusted)
    )

    assert done.returncode == 1
    assert "seq 8: trusted_checkpoint_beyond_end:" in done.stdout
    await ledger.close()


_LIST_MODULES = """
import runpy, sys
before = set(sys.modules)  # what the interpreter and site-packages hooks loaded
sys.argv = ["ledger.audit.verify", *sys.argv[1:]]
try:
    runpy.run_module("ledger.audit.verify", run_name="__main__")
except SystemExit as exit:
    status = exit.code
top = sorted({name.split(".")[0] for name in set(sys.modules) - before})
print(status, " ".join(n for n in top if n not in sys.stdlib_module_names))
"""


def test_the_verifier_imports_only_the_standard_library_cryptography_and_ledger(
    exported: Exported,
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _LIST_MODULES, str(exported.bundle), "--key", exported.key],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
        timeout=60,
    )

    status, _, outside = done.stdout.splitlines()[-1].partition(" ")
    assert status == "0"
    # _openssl and _rust are cryptography's own compiled bindings.
    allowed = {"ledger", "cryptography", "_cffi_backend", "_openssl", "_rust"}
    assert set(outside.split()) <= allowed
    assert "ledger" in outside.split() and "cryptography" in outside.split()


def test_importing_the_verifier_loads_no_database_or_web_framework() -> None:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import ledger.audit.verify"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
        timeout=60,
    )

    imported = {line.split("|")[-1].strip().split(".")[0] for line in done.stderr.splitlines()}
    assert "cryptography" in imported
    forbidden = {"sqlalchemy", "sqlmodel", "litestar", "alembic", "asyncpg", "aiosqlite", "api"}
    assert not imported & forbidden


def test_a_terminal_gets_a_progress_bar_on_stderr(exported: Exported) -> None:
    controller, terminal = pty.openpty()
    try:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "ledger.audit.verify",
                str(exported.bundle),
                "--key",
                exported.key,
            ],
            stdout=subprocess.PIPE,
            stderr=terminal,
            cwd=ROOT,
            check=False,
            timeout=60,
        )
        os.close(terminal)
        shown = b""
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(controller)

    assert done.returncode == 0
    assert b"\rverifying [" in shown and b"entries" in shown


def re_signed(exported: Exported, change: Callable[[list[Entry]], list[Entry]]) -> None:
    """Rewrite the bundle's journal by ``change``, re-chained and signed with the log's key:
    what an operator holding the key can do. The old kept checkpoints go."""
    entries = exported.bundle / "entries.jsonl"
    lines = rechain(change([decode_entry(line) for line in entries.read_bytes().splitlines()]))
    entries.write_bytes(b"".join(line + b"\n" for line in lines))
    head = signed_head(lines, exported.signer)
    (exported.bundle / "checkpoints.txt").write_text(head + "\n")
    (exported.bundle / "checkpoint").write_text(head)


def test_a_re_signed_journal_with_months_that_do_not_exist_exits_1(exported: Exported) -> None:
    def fake_months(entries: list[Entry]) -> list[Entry]:
        return [
            replace(e, time="2026-13-01T09:00:00.000000Z") if e.seq >= 5 else e for e in entries
        ]

    re_signed(exported, fake_months)

    done = run_verify(str(exported.bundle), "--key", exported.key)

    assert done.returncode == 1, done.stdout + done.stderr
    assert "seq 5: not_canonical:" in done.stdout
    assert "reason=time_invalid" in done.stdout


def test_a_correction_of_an_entry_from_an_account_never_opened_exits_1_with_findings(
    exported: Exported,
) -> None:
    def ghost(entries: list[Entry]) -> list[Entry]:
        last = entries[-1]
        earn = Draft("ghost-earn", EntryKind.EARN, "c", (Posting("org-ghost", "member-1", 60),))
        undo = Draft(
            "ghost-undo",
            EntryKind.CORRECT,
            "a",
            (Posting("member-1", "org-ghost", 60),),
            corrects=last.seq + 1,
        )
        return [
            *entries,
            replace(last, seq=last.seq + 1, draft=earn),
            replace(last, seq=last.seq + 2, draft=undo),
        ]

    re_signed(exported, ghost)

    done = run_verify(str(exported.bundle), "--key", exported.key)

    assert done.returncode == 1, done.stdout + done.stderr
    assert "seq 8: payer_not_found:" in done.stdout
    assert "seq 9: payee_not_found:" in done.stdout
    assert done.stderr == ""


# The buurtmunt subcommands.


def a_cli() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="buurtmunt")
    register(parser.add_subparsers(dest="command", required=True))
    return parser


def test_buurtmunt_verify_runs_the_same_verifier(
    exported: Exported, capsys: pytest.CaptureFixture[str]
) -> None:
    args = a_cli().parse_args(["verify", str(exported.bundle), "--key", exported.key])

    status = args.func(args)

    assert status == 0
    assert "result       OK" in capsys.readouterr().out


@pytest.fixture
async def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[NoteSigner]:
    url = f"sqlite:///{tmp_path}/buurtmunt.db"
    signer = generate_signer(HOST)
    store = SqlStore.from_url(url)
    await upgrade(store.engine)
    ledger = await a_history(store, signer)
    await ledger.close()
    await store.close()
    monkeypatch.setenv("BUURTMUNT_DATABASE_URL", url)
    monkeypatch.setenv("BUURTMUNT_SIGNING_KEY", signer.key_string())
    monkeypatch.setenv("BUURTMUNT_PUBLIC_URL", f"https://{HOST}")
    yield signer


async def test_buurtmunt_export_then_verify_and_audit_agree(
    database: NoteSigner, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli = a_cli()
    bundle = tmp_path / "export"

    exported = await _in_thread(cli, ["export", "--community", COMMUNITY, "--out", str(bundle)])
    audited = await _in_thread(cli, ["audit", "--community", COMMUNITY])
    out = capsys.readouterr().out
    verified = run_verify(str(bundle), "--key", database.verifier().key_string())

    assert (exported, audited, verified.returncode) == (0, 0, 0)
    assert "exported 8 entries" in out
    assert "result       OK" in out


async def test_buurtmunt_audit_prints_the_statement_after_a_clean_audit(
    database: NoteSigner, capsys: pytest.CaptureFixture[str]
) -> None:
    cli = a_cli()
    base = ["audit", "--community", COMMUNITY, "--period", "2026-11"]

    as_json = await _in_thread(cli, [*base, "--format", "json"])
    document = json.loads(capsys.readouterr().out)
    as_html = await _in_thread(cli, [*base, "--format", "html"])
    page = capsys.readouterr().out
    in_turkish = await _in_thread(cli, [*base, "--format", "html", "--language", "tr"])
    turkish = capsys.readouterr().out

    assert as_json == as_html == in_turkish == 0
    assert document["circulation"]["earned_minutes"] == 120
    assert document["circulation"]["reconciles"] is True
    assert document["checkpoint_size"] == 8
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page
    assert '<html lang="nl" dir="ltr">' in page and "<td>2 uur</td>" in page
    assert '<html lang="tr" dir="ltr">' in turkish and "<td>2 saat</td>" in turkish


async def _in_thread(cli: argparse.ArgumentParser, argv: list[str]) -> int:
    """Run a subcommand (which starts its own event loop) off this test's loop."""
    import asyncio

    args = cli.parse_args(argv)
    status: int = await asyncio.to_thread(args.func, args)
    return status


def test_worker_processes_report_what_one_process_reports(exported: Exported) -> None:
    entries = exported.bundle / "entries.jsonl"
    lines = entries.read_bytes().split(b"\n")
    lines[6] = lines[6].replace(b'"minutes":30', b'"minutes":300')
    lines[3] = b"not json"
    entries.write_bytes(b"\n".join(lines))

    one = run_verify(str(exported.bundle), "--key", exported.key, "--jobs", "1")
    two = run_verify(str(exported.bundle), "--key", exported.key, "--jobs", "2")

    assert one.returncode == two.returncode == 1
    assert "seq 3: not_canonical:" in one.stdout
    assert two.stdout == one.stdout
    assert two.stderr == one.stderr == ""
