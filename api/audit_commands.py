"""The ``export``, ``verify`` and ``audit`` subcommands of the ``buurtmunt`` CLI.

``register(subparsers)`` adds them; each sets ``func`` to a handler that takes
the parsed arguments and returns the exit status (0 clean, 1 findings, 2 usage
or unreadable input). ``audit`` runs the one audit of ``ledger.audit.audit`` against
the live database, streaming entries and checkpoints from the store, and also
compares the database's cached balances with the replayed ones; with
``--period`` it then prints the statement instead of the summary (``--format html``:
the printable page, in ``--language``, Dutch by default).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

import asyncpg
from sqlalchemy.exc import SQLAlchemyError

from api.database import Database
from api.replica import replayed_size
from api.services import retired_verifiers, signer_from, store_from
from api.settings import Settings
from api.statement_report import render_html
from api.witnesses import cosignature_lines, cosigned_sizes
from ledger import limits
from ledger.amounts import DEFAULT_LANGUAGE, LANGUAGES
from ledger.audit.audit import Audit
from ledger.audit.bundle import BundleError
from ledger.audit.export import ExportError, balances_at_head, export_bundle
from ledger.audit.findings import AuditReport, b64
from ledger.audit.scan import correction_targets
from ledger.audit.statement import Period, PeriodError, Statement, StatementBuilder, to_csv, to_json
from ledger.audit.verify import (
    EXIT_CLEAN,
    EXIT_FINDINGS,
    EXIT_UNUSABLE,
    build_parser,
    print_report,
    read_verifier,
)
from ledger.audit.verify import run as run_verify
from ledger.checkpoint import CheckpointError, LogKeys, note_origin
from ledger.keys import SigningKeyError
from ledger.note import NoteError, NoteVerifier
from ledger.sql.store import SqlStore
from ledger.store import Store, StoredCheckpoint

FORMATS = ("json", "csv", "html")


KEY_HELP = (
    "a verifier key of the log (the string, or a file holding it); repeat it for every key"
    " the log was signed with, the current one first (default: the signing key's, then"
    " BUURTMUNT_RETIRED_VERIFIER_KEYS)"
)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``export``, ``verify`` and ``audit`` to the ``buurtmunt`` command."""
    export = subparsers.add_parser(
        "export", help="write a community's journal as a bundle that verifies offline"
    )
    export.add_argument("--community", required=True, help="the community's slug")
    export.add_argument("--out", required=True, help="the new bundle directory")
    export.add_argument("--key", action="append", help=KEY_HELP)
    export.set_defaults(func=_run_export)

    verify = subparsers.add_parser("verify", help="verify an export bundle offline")
    build_parser(verify)
    verify.set_defaults(func=lambda args: run_verify(args, sys.stdout, sys.stderr))

    audit = subparsers.add_parser(
        "audit", help="audit a community's journal in the live database, or print a statement"
    )
    audit.add_argument("--community", required=True, help="the community's slug")
    audit.add_argument("--key", action="append", help=KEY_HELP)
    audit.add_argument("--trusted", metavar="CHECKPOINT", help="a checkpoint trusted earlier")
    audit.add_argument("--period", help="print the statement for YYYY, YYYY-Qn or YYYY-MM")
    audit.add_argument("--format", choices=FORMATS, default="json", help="statement format")
    audit.add_argument(
        "--language",
        choices=LANGUAGES,
        default=DEFAULT_LANGUAGE,
        help="the language of the html statement (default nl)",
    )
    audit.set_defaults(func=_run_audit)


def _verifiers(args: argparse.Namespace, settings: Settings) -> tuple[NoteVerifier, ...]:
    if args.key:
        return tuple(read_verifier(key) for key in args.key)
    return (signer_from(settings).verifier(), *retired_verifiers(settings))


async def _for_log(
    args: argparse.Namespace, verifiers: tuple[NoteVerifier, ...], store: Store
) -> tuple[NoteVerifier, ...]:
    """Without ``--key``, the operator's own key under the name its log signs with (the
    community's origin, as its newest checkpoint gives it), then the retired keys.
    ``--key``s are taken as given."""
    if args.key:
        return verifiers
    checkpoint = (await store.head(args.community)).checkpoint
    if checkpoint is None:
        return verifiers
    return (verifiers[0].named(note_origin(checkpoint.note)), *verifiers[1:])


def _run_export(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    try:
        verifiers = _verifiers(args, settings)
    except (NoteError, SigningKeyError, OSError) as error:
        sys.stderr.write(f"cannot export: {error}\n")
        return EXIT_UNUSABLE

    async def export() -> int:
        store = await _export_store(settings, args.community)
        try:
            log_keys = await _for_log(args, verifiers, store)
            db = Database(store.engine)
            done = await export_bundle(
                store, args.community, Path(args.out), log_keys,
                # Witnesses configured: what they cosigned carries their cosignatures.
                cosignatures=(
                    (lambda head: cosignature_lines(db, args.community, head))
                    if settings.witnesses else None
                ),
                witnessed=(
                    await cosigned_sizes(db, args.community) if settings.witnesses else ()
                ),
            )  # fmt: skip
        except (ExportError, BundleError, NoteError, CheckpointError, OSError) as error:
            sys.stderr.write(f"cannot export: {error}\n")
            return EXIT_UNUSABLE
        finally:
            await store.close()
        sys.stdout.write(
            f"exported {done.size:,} entries, {done.checkpoints:,} checkpoints and "
            f"{done.accounts:,} balances of {done.origin} to {done.directory}\n"
            f"root {b64(done.root)}\n"
        )
        return EXIT_CLEAN

    return asyncio.run(export())


async def _export_store(settings: Settings, community: str) -> SqlStore:
    """The read replica if there is one and it has not fallen behind (``api.replica``),
    else the primary."""
    primary = store_from(settings)
    if settings.read_database_url is None:
        return primary
    replica = SqlStore.from_url(settings.read_database_url)
    lag_max = settings.read_replica_lag_max_seconds
    try:
        if await replayed_size(primary, replica, community, lag_max) is not None:
            await primary.close()
            return replica
        why = f"has replayed nothing for over {lag_max:g} s and lacks entries the primary holds"
    except (OSError, SQLAlchemyError, asyncpg.PostgresError) as error:
        why = f"cannot be read ({error})"
    await replica.close()
    sys.stderr.write(f"the read replica {why}: exporting from the primary\n")
    return primary


def _run_audit(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    try:
        verifiers = _verifiers(args, settings)
        period = Period.parse(args.period) if args.period else None
        trusted = Path(args.trusted).read_text(encoding="utf-8") if args.trusted else None
    except (NoteError, SigningKeyError, PeriodError, OSError) as error:
        sys.stderr.write(f"cannot audit: {error}\n")
        return EXIT_UNUSABLE

    async def audit() -> int:
        store = store_from(settings)
        try:
            report, statement = await audit_store(
                store,
                args.community,
                await _for_log(args, verifiers, store),
                trusted_note=trusted,
                period=period,
            )
        except ExportError as error:
            sys.stderr.write(f"cannot audit: {error}\n")
            return EXIT_UNUSABLE
        finally:
            await store.close()
        title = f"community {args.community} (database)"
        # With a statement on stdout, the audit's summary goes to stderr.
        print_report(report, sys.stdout if period is None else sys.stderr, title)
        if not report.clean:
            return EXIT_FINDINGS
        if statement is not None:
            sys.stdout.write(format_statement(statement, args.format, args.language))
        return EXIT_CLEAN

    return asyncio.run(audit())


def format_statement(statement: Statement, fmt: str, language: str = DEFAULT_LANGUAGE) -> str:
    """The statement as JSON, CSV or a printable HTML page (in ``language``)."""
    if fmt == "csv":
        return to_csv(statement)
    if fmt == "html":
        return render_html(statement, language)
    return json.dumps(to_json(statement), indent=1, ensure_ascii=False) + "\n"


async def audit_store(
    store: Store,
    community: str,
    verifier: LogKeys,
    *,
    trusted_note: str | None = None,
    period: Period | None = None,
) -> tuple[AuditReport, Statement | None]:
    """Audit ``community``'s journal in ``store`` up to its latest checkpoint.

    The same checks as the offline verifier, plus the database's cached
    balances, read at exactly the audited checkpoint, against the replay.
    With ``period``, also the statement for it (use it only if the audit is clean).
    """
    head, cached = await balances_at_head(store, community)
    size = head.size
    retain: set[int] = set()
    for start in range(0, size, limits.ENTRY_RANGE_MAX):
        end = min(size, start + limits.ENTRY_RANGE_MAX)
        retain |= correction_targets(await store.raw_entries(community, start, end))
    builder = StatementBuilder(community, period) if period is not None else None
    observer = builder.observe if builder is not None else None
    audit = Audit(verifier, community=community, retain=retain, observer=observer)
    if trusted_note is not None:
        audit.checkpoint(trusted_note, "trusted", trusted=True)
    audit.checkpoint(head.note, f"database head {size}", head=True)
    checkpoints = _Checkpoints(store, community, size)
    for start in range(0, size, limits.ENTRY_RANGE_MAX):
        end = min(size, start + limits.ENTRY_RANGE_MAX)
        await checkpoints.load_through(end)
        for position, line in enumerate(await store.raw_entries(community, start, end), start):
            checkpoints.hand_over(audit, position + 1)
            audit.feed(line)
    await checkpoints.load_through(size)
    checkpoints.hand_over(audit, size)
    suspects = audit.duplicate_id_suspects()
    if suspects:
        lines = {s: (await store.raw_entries(community, s, s + 1))[0] for s in suspects}
        audit.confirm_duplicate_ids(lines)
    report = audit.finish(claimed_balances=cached, claimed_size=size)
    statement = None
    if builder is not None and report.head is not None:
        head_cp = report.head
        statement = builder.finish(audit.state, head_cp.origin, head_cp.size, b64(head_cp.root))
    return report, statement


class _Checkpoints:
    """The store's checkpoints up to ``size``, fetched a page ahead of the entries."""

    def __init__(self, store: Store, community: str, size: int) -> None:
        self._store = store
        self._community = community
        self._size = size
        self._waiting: list[StoredCheckpoint] = []
        self._after = 0
        self._exhausted = False

    async def load_through(self, size: int) -> None:
        while not self._exhausted and (not self._waiting or self._waiting[-1].size < size):
            page = await self._store.checkpoints(self._community, self._after, limits.PAGE_SIZE_MAX)
            self._waiting += [c for c in page if c.size <= self._size]
            self._exhausted = len(page) < limits.PAGE_SIZE_MAX or page[-1].size >= self._size
            if page:
                self._after = page[-1].size

    def hand_over(self, audit: Audit, up_to: int) -> None:
        waiting = self._waiting
        taken = 0
        while taken < len(waiting) and waiting[taken].size <= up_to:
            audit.checkpoint(waiting[taken].note, f"database checkpoint {waiting[taken].size}")
            taken += 1
        if taken:
            del waiting[:taken]
