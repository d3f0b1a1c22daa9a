"""The municipality's downloads: statements, entry and balance CSVs, the export bundle.

Each reads the journal in chunks of ENTRY_RANGE_MAX, so memory stays flat
whatever the journal's length. Names of organisations and shops come from the
directory (the journal holds pseudonymous ids only); an erased or unnamed
account is shown by its id alone.

- A statement is built by the same audit ``buurtmunt audit --period`` runs
  (``api.audit_commands.audit_store``); a journal whose audit finds anything
  gives no statement but a problem.
- The entries CSV has one row per posting (an entry without postings has one
  row with empty posting columns), for a seq range or the entries of a period.
- The balances CSV is the cache at exactly the head checkpoint.
- In every CSV, text that would start a spreadsheet formula (a memo, a name) gets a
  leading apostrophe (``ledger.audit.csv_cells``); numbers are written as they are.
- The bundle is the directory ``buurtmunt export`` writes, exported to a
  temporary directory on disk and sent as an uncompressed tar, file by file.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import json
import re
import shutil
import tarfile
import tempfile
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

from api import limits as api_limits
from api.audit_commands import audit_store
from api.directory import named_accounts
from api.headers import CONTENT_SECURITY_POLICY
from api.problems import ProblemError, conflict, not_found
from api.replica import ReadView
from api.statement_report import render_html
from api.witnesses import cosignature_lines, cosigned_sizes
from ledger import limits
from ledger.amounts import DEFAULT_LANGUAGE
from ledger.audit.bundle import BundleError
from ledger.audit.csv_cells import CellWriter
from ledger.audit.export import ExportError, balances_at_head, export_bundle
from ledger.audit.statement import Period, Statement, to_csv, to_json
from ledger.model import AccountType, Entry

StatementFormat = Literal["json", "csv", "html"]
ENTRY_COLUMNS = (
    "seq", "id", "time", "kind", "actor", "payer", "payee", "amount_minutes",
    "corrects", "reference", "memo",
)  # fmt: skip
BALANCE_COLUMNS = ("account", "type", "name", "balance_minutes", "checkpoint_size")
_STYLE_ELEMENT = re.compile(r"<style>(.*?)</style>", re.DOTALL)
# Bytes gathered before a piece of the tar stream is sent.
TAR_PIECE_BYTES = 1 << 16
# Clean statements by (community, checkpoint size and root, period), the oldest dropped first.
_statements: dict[tuple[str, int, str, str], Statement] = {}


async def account_names(reads: ReadView, community: str) -> dict[str, str]:
    """Organisation and shop names by account id; erased names are left out."""
    names: dict[str, str] = {}
    async with reads.db.read() as session:
        for type in (AccountType.ORGANISATION, AccountType.SHOP, AccountType.COMMUNITY):
            for row in await named_accounts(session, community, type):
                if row.name:
                    names[row.account_id] = row.name
    return names


async def statement(reads: ReadView, community: str, period: Period) -> Statement:
    """The audited statement for ``period`` at the head checkpoint (once one covers
    what the journal held when asked: ``Ledger.signed_head``), or a problem.

    The audit reads the whole journal (about 100,000 entries a second), so a clean
    statement is kept for its checkpoint (the newest STATEMENT_CACHE_ENTRIES_MAX):
    it is audited again only when the journal has grown.
    """
    head = await reads.ledger.signed_head(community)
    if head is not None:
        root = base64.b64encode(head.root).decode()
        kept = _statements.get((community, head.size, root, period.label))
        if kept is not None:
            return kept
    verifier = await reads.ledger.log_keys(community)
    try:
        report, found = await audit_store(reads.store, community, verifier, period=period)
    except ExportError:
        raise not_found("checkpoint_not_found", "The journal has no signed checkpoint.") from None
    if not report.clean or found is None:
        raise conflict(
            "audit_not_clean",
            "The journal's audit has findings; run buurtmunt audit for them.",
            findings=len(report.findings),
        )
    if len(_statements) >= api_limits.STATEMENT_CACHE_ENTRIES_MAX:
        del _statements[next(iter(_statements))]
    _statements[(community, found.checkpoint_size, found.checkpoint_root, period.label)] = found
    return found


def render_statement(
    found: Statement,
    names: Mapping[str, str],
    fmt: StatementFormat,
    language: str = DEFAULT_LANGUAGE,
) -> str:
    """The statement in ``fmt``, each organisation and shop with its name; the printable
    page in ``language`` (one of ``ledger.amounts.LANGUAGES``; JSON and CSV have no words)."""
    if fmt == "json":
        document = to_json(found)
        for line in (*document["organisations"], *document["shops"]):
            line["name"] = names.get(line["account"], "")
        return json.dumps(document, indent=1, ensure_ascii=False) + "\n"
    if fmt == "csv":
        return to_csv(found, names)
    return render_html(_labelled(found, names), language)


def printable_policy(page: str) -> str:
    """The Content-Security-Policy for the printable page: the API's, with the page's own
    inline style sheets allowed by their SHA-256 hashes (and no other inline style)."""
    hashes = [
        "'sha256-" + base64.b64encode(hashlib.sha256(style.encode()).digest()).decode() + "'"
        for style in _STYLE_ELEMENT.findall(page)
    ]
    return CONTENT_SECURITY_POLICY.replace("style-src 'self'", " ".join(["style-src", *hashes]))


def _labelled(found: Statement, names: Mapping[str, str]) -> Statement:
    """The statement with each account shown as "name (id)" for the printable page."""

    def label(account: str) -> str:
        name = names.get(account)
        return f"{name} ({account})" if name else account

    return dataclasses.replace(
        found,
        organisations=tuple(
            dataclasses.replace(o, account=label(o.account)) for o in found.organisations
        ),
        shops=tuple(dataclasses.replace(s, account=label(s.account)) for s in found.shops),
    )


# -- entries and balances


async def entries_csv(
    reads: ReadView, community: str, start: int, end: int | None, period: Period | None
) -> AsyncIterator[bytes]:
    """CSV rows of entries start <= seq < end (end: the head), only those in ``period`` if
    given; read and sent ENTRY_RANGE_MAX entries at a time."""
    yield _csv_line(ENTRY_COLUMNS)
    size = (await reads.store.head(community)).size
    stop = size if end is None else min(end, size)
    for first in range(start, stop, limits.ENTRY_RANGE_MAX):
        chunk = await reads.store.entries(
            community, first, min(stop, first + limits.ENTRY_RANGE_MAX)
        )
        buffer = io.StringIO()
        rows = CellWriter(buffer)
        for entry in chunk:
            if period is None or entry.time[:7] in period:
                rows.writerows(entry_rows(entry))
        yield buffer.getvalue().encode("utf-8")


def entry_rows(entry: Entry) -> Iterator[tuple[Any, ...]]:
    """One row per posting of ``entry`` (one row with no posting if it has none), its text
    as the journal holds it (``entries_csv`` guards it for spreadsheets)."""
    draft = entry.draft
    fixed = (entry.seq, draft.id, entry.time, draft.kind.value, draft.actor)
    tail = ("" if draft.corrects is None else draft.corrects, draft.reference, draft.memo)
    if not draft.postings:
        yield (*fixed, "", "", "", *tail)
    for posting in draft.postings:
        yield (*fixed, posting.payer, posting.payee, posting.amount_minutes, *tail)


def _csv_line(row: tuple[Any, ...]) -> bytes:
    buffer = io.StringIO()
    CellWriter(buffer).writerow(row)
    return buffer.getvalue().encode("utf-8")


async def balances_csv(reads: ReadView, community: str) -> bytes:
    """Every account's balance at exactly the head checkpoint, sorted by account."""
    try:
        checkpoint, balances = await balances_at_head(reads.store, community)
    except ExportError:
        raise not_found("checkpoint_not_found", "The journal has no signed checkpoint.") from None
    types = {row.spec.id: row.spec.type for row in await reads.store.accounts(community)}
    names = await account_names(reads, community)
    lines = [_csv_line(BALANCE_COLUMNS)]
    for account, minutes in sorted(balances.items()):
        cells = (account, types[account].value, names.get(account, ""), minutes, checkpoint.size)
        lines.append(_csv_line(cells))
    return b"".join(lines)


# -- the bundle


async def bundle_directory(reads: ReadView, community: str) -> tuple[Path, str]:
    """Export ``community`` into a new temporary directory; (its parent, the bundle's name).

    The caller removes the parent when done (``tar_stream`` does)."""
    verifier = await reads.ledger.log_keys(community)
    parent = Path(tempfile.mkdtemp(prefix="buurtmunt-export-"))
    try:
        done = await export_bundle(
            reads.store,
            community,
            parent / "bundle",
            verifier,
            # Cosigned checkpoints carry the witnesses' cosignatures, as `buurtmunt
            # export` writes them.
            cosignatures=lambda head: cosignature_lines(reads.db, community, head),
            witnessed=await cosigned_sizes(reads.db, community),
        )
        name = f"{community}-{done.size}"
        done.directory.rename(parent / name)
    except (ExportError, BundleError) as error:
        shutil.rmtree(parent, ignore_errors=True)
        raise _no_bundle(error) from None
    except BaseException:
        shutil.rmtree(parent, ignore_errors=True)
        raise
    return parent, name


def _no_bundle(error: Exception) -> ProblemError:
    return not_found("checkpoint_not_found", f"No bundle can be exported: {error}")


def tar_stream(parent: Path, name: str) -> Iterator[bytes]:
    """The directory ``parent/name`` as a POSIX (pax) tar stream, each file read and sent
    in pieces of TAR_PIECE_BYTES; ``parent`` is removed when the stream ends or is
    abandoned. Headers are ``tarfile``'s; the bodies are copied here, so no file is
    ever held whole."""
    try:
        root = parent / name
        for path in [root, *sorted(root.rglob("*"))]:
            info = tarfile.TarInfo(str(path.relative_to(parent)))
            stat = path.stat()
            info.mtime = int(stat.st_mtime)
            if path.is_dir():
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                yield info.tobuf(tarfile.PAX_FORMAT)
                continue
            info.size, info.mode = stat.st_size, 0o644
            yield info.tobuf(tarfile.PAX_FORMAT)
            sent = 0
            with path.open("rb") as source:
                while piece := source.read(TAR_PIECE_BYTES):
                    sent += len(piece)
                    yield piece
            assert sent == info.size, "a bundle file changed while it was sent"
            yield bytes(-sent % tarfile.BLOCKSIZE)
        # The end of the archive: two zero blocks, padded to a whole record.
        yield bytes(tarfile.RECORDSIZE)
    finally:
        shutil.rmtree(parent, ignore_errors=True)
