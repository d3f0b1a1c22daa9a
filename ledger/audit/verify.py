"""Verify an export bundle offline: ``python -m ledger.audit.verify BUNDLE --key VKEY``.

Needs the standard library and ``cryptography`` only: no database, no network,
no web framework. Runs the one audit (``ledger.audit.audit``) over the bundle in two
passes over ``entries.jsonl``: a cheap pre-pass that finds the entries
corrections name, then the streaming audit itself. On a big bundle (or with
``--jobs N``) worker processes read ``entries.jsonl`` too, in byte ranges, and
do the per-line work that needs no order (``scan.scan_lines``: grammar, shape,
leaf hash) ahead of the audit, which takes their results in order and checks
the rest; ``--jobs 1`` keeps everything in one process. Both find the same.

Exit status: 0 when every check passes, 1 when there are findings, 2 for a
usage error or input that cannot be read at all.
"""

from __future__ import annotations

import argparse
import functools
import gc
import os
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, TextIO

from ledger import limits
from ledger.amounts import format_hours
from ledger.audit.audit import Audit, Observer
from ledger.audit.bundle import (
    BUNDLE_FORMAT,
    BUNDLE_VERSION,
    CHECKPOINTS_TEXT,
    ENTRIES,
    Bundle,
    BundleError,
)
from ledger.audit.findings import AuditReport, Check, b64
from ledger.audit.scan import CORRECTION_MARK, Run, correction_targets, scan_lines
from ledger.checkpoint import Checkpoint, CheckpointError, LogKeys
from ledger.cosignature import CosignatureError, CosignatureVerifier
from ledger.note import NoteError, NoteVerifier

if TYPE_CHECKING:
    from multiprocessing.pool import AsyncResult

EXIT_CLEAN = 0
EXIT_FINDINGS = 1
EXIT_UNUSABLE = 2

_BLOCK_BYTES = 1 << 20  # entries.jsonl is read this much at a time
# With --jobs above 1, worker processes scan entries.jsonl in ranges of this
# many bytes, at most _RANGES_AHEAD ranges per worker ahead of the audit.
_RANGE_BYTES = 1 << 20
_RANGES_AHEAD = 8
# Below this size the automatic choice stays in one process: starting workers costs more.
_PARALLEL_BYTES_MIN = 8 << 20
_JOBS_AUTO_MAX = 4  # the automatic choice: this many processes at most


class Progress:
    """A one-line progress bar on a terminal; silent anywhere else."""

    def __init__(self, total_bytes: int, stream: TextIO, label: str) -> None:
        self._total = max(total_bytes, 1)
        self._stream = stream
        self._label = label
        self._start = time.monotonic()
        self.enabled = stream.isatty()

    def update(self, done_bytes: int, entries: int) -> None:
        if not self.enabled:
            return
        fraction = min(done_bytes / self._total, 1.0)
        filled = int(fraction * 30)
        rate = entries / max(time.monotonic() - self._start, 1e-9)
        bar = "#" * filled + "." * (30 - filled)
        self._stream.write(
            f"\r{self._label} [{bar}] {fraction:4.0%} {entries:,} entries {rate:,.0f}/s"
        )
        self._stream.flush()

    def done(self) -> None:
        if self.enabled:
            self._stream.write("\r" + " " * 79 + "\r")
            self._stream.flush()


def verify_bundle(
    bundle: Bundle,
    verifier: LogKeys,
    *,
    trusted_note: str | None = None,
    observer: Observer | None = None,
    progress: Progress | None = None,
    jobs: int | None = None,
) -> AuditReport:
    """Run the audit over ``bundle``; raises ``BundleError`` or ``OSError`` if unreadable.

    ``jobs`` is how many processes to use: 1 audits in this one; more lets
    ``jobs - 1`` worker processes do the per-line work that needs no order
    (``scan.scan_lines``) ahead of the audit, with the same checks and the
    same findings. None chooses by the bundle's size and the machine.
    """
    path = bundle.directory / ENTRIES
    if observer is not None:
        # An observer sees every entry built: the audit takes each line the long way.
        return _verify(bundle, verifier, trusted_note, observer, progress, _lines(bundle))
    workers = _workers(bundle, jobs)
    if not workers:
        items = _scanned_here(path, bundle.entries_bytes)
        return _verify(bundle, verifier, trusted_note, None, progress, items)
    scanner = Scanner(path, bundle.entries_bytes, workers)
    try:
        return _verify(bundle, verifier, trusted_note, None, progress, scanner.items())
    finally:
        scanner.close()


def _verify(
    bundle: Bundle,
    verifier: LogKeys,
    trusted_note: str | None,
    observer: Observer | None,
    progress: Progress | None,
    items: Iterator[Run | bytes],
) -> AuditReport:
    audit = Audit(
        verifier,
        retain=_pre_pass(bundle),
        observer=observer,
        id_filter_bits=id_filter_bits(bundle.entries_bytes),
    )
    if trusted_note is not None:
        audit.checkpoint(trusted_note, "trusted", trusted=True)
    _offer_note(audit, bundle.head_note, "checkpoint", head=True)
    try:
        files, strays = bundle.checkpoint_files()
    except BundleError as error:  # more than BUNDLE_CHECKPOINTS_MAX: none is read
        audit.add(None, Check.BUNDLE_FORMAT, f"the kept checkpoints are unusable ({error})")
        files, strays = [], []
    for stray in strays:
        audit.add(None, Check.BUNDLE_FORMAT, stray)
    due = 0  # index of the next checkpoint file to hand over

    def hand_over(up_to: int) -> int:
        """Hand over the checkpoint files up to size ``up_to``; the next one's size or -1."""
        nonlocal due
        while due < len(files) and files[due].size <= up_to:
            kept = files[due]
            checkpoint = _offer_note(
                audit, functools.partial(bundle.read_checkpoint, kept), kept.label
            )
            if checkpoint is not None and checkpoint.size != kept.size:
                audit.add(
                    None,
                    Check.BUNDLE_FORMAT,
                    f"{kept.label} holds a checkpoint of another size",
                    size=checkpoint.size,
                )
            due += 1
        return files[due].size if due < len(files) else -1

    next_size = files[0].size if files else -1
    done_bytes = position = 0
    with open(bundle.directory / ENTRIES, "rb", buffering=0) as file:
        descriptor = file.fileno()

        def read(offset: int, size: int) -> bytes:
            # One system call: a seek and a buffered read cost several for each line.
            return os.pread(descriptor, size, offset)

        for item in items:
            # Each checkpoint is handed over before the stream passes its size:
            # the one of size s just before line s - 1 is fed, as line by line.
            if isinstance(item, bytes):
                if 0 <= next_size <= position + 1:
                    next_size = hand_over(position + 1)
                audit.feed(item)
                position += 1
                done_bytes += len(item) + 1
            else:
                start, count = 0, len(item.kinds)
                while start < count:
                    if 0 <= next_size <= position + 1:
                        next_size = hand_over(position + 1)
                    stop = count if next_size < 0 else min(count, start + next_size - 1 - position)
                    audit.feed_run(item, read, start, stop)
                    position += stop - start
                    start = stop
                done_bytes += item.ends[-1] + 1
            if progress is not None:
                progress.update(done_bytes, position)
    hand_over(limits.TREE_SIZE_MAX)
    if bundle.unterminated_last_line:  # the pre-pass finds it
        audit.add(
            audit.size - 1, Check.BUNDLE_FORMAT, "the last line of entries.jsonl has no newline"
        )
    _confirm_ids(audit, bundle)
    _check_manifest(audit, bundle)
    try:
        claimed = bundle.balances()
    except BundleError as error:
        audit.add(None, Check.BUNDLE_FORMAT, f"balances.json is unusable ({error})")
        claimed = None
    else:
        if claimed is None:
            audit.add(None, Check.BUNDLE_FORMAT, "balances.json is missing")
    if claimed is None:
        report = audit.finish()
    else:
        report = audit.finish(claimed_balances=claimed[1], claimed_size=claimed[0])
    if progress is not None:
        progress.done()
    return report


def _offer_note(
    audit: Audit, read: Callable[[], str | None], label: str, *, head: bool = False
) -> Checkpoint | None:
    """Give the audit the checkpoint note ``read`` returns; a file that cannot be read as
    a note (too large, not UTF-8) is a checkpoint that does not open. None read: no note."""
    try:
        note = read()
    except BundleError as error:
        audit.checkpoint_unreadable(label, error.reason, head=head)
        return None
    return None if note is None else audit.checkpoint(note, label, head=head)


def id_filter_bits(entries_bytes: int) -> int:
    """The audit's bitmap of ids for a journal file this long: at least 64 bits for
    each line it could hold (a line is 100 bytes or more), a power of two, at most
    AUDIT_ID_FILTER_BITS. A small bundle need not clear a 16 MiB bitmap."""
    wanted = max(entries_bytes // 100, 1) * 64
    return min(1 << (wanted - 1).bit_length(), limits.AUDIT_ID_FILTER_BITS)


def _pre_pass(bundle: Bundle) -> set[int]:
    """``correction_targets`` of the bundle's lines, as ``entry_blocks`` gives them.

    Only the lines holding the mark are split off and looked at, which keeps
    this pass to a fraction of a microsecond a line. A line longer than
    ENTRY_BYTES_MAX is skipped: no check accepts it, so no correction in it
    counts, and the pre-pass needs only the corrections that do. Like
    ``entry_blocks``, sets ``bundle.unterminated_last_line``.
    """
    bound = limits.ENTRY_BYTES_MAX + 1
    targets: set[int] = set()
    tail = b""
    skipping = False  # inside a line too long to matter
    with open(bundle.directory / ENTRIES, "rb", buffering=0) as file:
        while chunk := file.read(_BLOCK_BYTES):
            if skipping:
                newline = chunk.find(b"\n")
                if newline < 0:
                    continue
                chunk, skipping = chunk[newline + 1 :], False
            data = tail + chunk
            cut = data.rfind(b"\n") + 1
            data, tail = data[:cut], data[cut:]
            if len(tail) > bound:
                tail, skipping = b"", True
            targets |= correction_targets(_marked_lines(data))
    if tail and not skipping:
        bundle.unterminated_last_line = True
        targets |= correction_targets([tail])
    return targets


def _marked_lines(data: bytes) -> Iterator[bytes]:
    """The lines of ``data`` that hold the correction mark."""
    at = data.find(CORRECTION_MARK)
    while at >= 0:
        begin = data.rfind(b"\n", 0, at) + 1
        end = data.find(b"\n", at)
        end = len(data) if end < 0 else end
        if end - begin <= limits.ENTRY_BYTES_MAX:
            yield data[begin:end]
        at = data.find(CORRECTION_MARK, end)


def _lines(bundle: Bundle) -> Iterator[bytes]:
    for block in entry_blocks(bundle):
        yield from block


def entry_blocks(bundle: Bundle) -> Iterator[list[bytes]]:
    """The lines of the bundle's entries.jsonl, as ``Bundle.entries`` gives them, in blocks.

    Reading a megabyte at a time and splitting it costs a fraction of reading
    line by line, which matters at a million lines. Same bounds and same
    lines: one longer than ENTRY_BYTES_MAX + 1 bytes is cut to that length and
    the rest skipped; a last line without a newline sets
    ``bundle.unterminated_last_line``.
    """
    bound = limits.ENTRY_BYTES_MAX + 1
    tail = b""
    cut: bytes | None = None  # the head of an over-long line still being skipped
    with open(bundle.directory / ENTRIES, "rb", buffering=0) as file:
        while chunk := file.read(_BLOCK_BYTES):
            if cut is not None:
                newline = chunk.find(b"\n")
                if newline < 0:
                    continue
                lines = [cut]
                chunk, cut = chunk[newline + 1 :], None
            else:
                lines = []
            lines += (tail + chunk).split(b"\n")
            tail = lines.pop()
            if len(tail) > bound:
                cut, tail = tail[:bound], b""
            if max(map(len, lines), default=0) > bound:
                lines = [line[:bound] for line in lines]
            if lines:
                yield lines
    if cut is not None:
        yield [cut]
    elif tail:
        bundle.unterminated_last_line = True
        yield [tail]


def _workers(bundle: Bundle, jobs: int | None) -> int:
    """How many worker processes scan lines for the audit: 0 scans in this process."""
    if jobs is None:
        cores = os.cpu_count() or 1
        if cores < 2 or bundle.entries_bytes < _PARALLEL_BYTES_MIN:
            return 0
        # A worker per core: this process's ordered part of a line costs well
        # under half of a worker's part, so it fits in beside them.
        jobs = min(cores + 1, _JOBS_AUTO_MAX)
    return max(jobs - 1, 0)


def _ranges(size: int) -> list[tuple[int, int]]:
    return [(start, min(start + _RANGE_BYTES, size)) for start in range(0, size, _RANGE_BYTES)]


def _scanned_here(path: Path, size: int) -> Iterator[Run | bytes]:
    """What ``Scanner.items`` gives, done in this process."""
    for start, end in _ranges(size):
        yield from _scan_range(str(path), start, end)


class Scanner:
    """``scan_lines`` of every line of a file, in order, done by ``workers`` processes.

    Each worker reads its own byte range (``_scan_range``), so no line is sent
    to it; at most ``_RANGES_AHEAD`` ranges per worker are in flight, which
    bounds the memory. Work starts at once, so the workers run ahead while
    this process does the audit's pre-pass. ``close`` stops them.
    """

    def __init__(self, path: Path, size: int, workers: int) -> None:
        # Imported here: it aliases __main__ as __mp_main__, which one process does not need.
        import multiprocessing

        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork" if "fork" in methods else None)
        self._path = str(path)
        self._ranges = iter(_ranges(size))
        self._pool = context.Pool(workers)
        self._flight: deque[tuple[tuple[int, int], AsyncResult[list[Run | bytes]]]] = deque()
        for _ in range(workers * _RANGES_AHEAD):
            if not self._submit():
                break

    def _submit(self) -> bool:
        following = next(self._ranges, None)
        if following is None:
            return False
        result = self._pool.apply_async(_scan_range, (self._path, *following))
        self._flight.append((following, result))
        return True

    def items(self) -> Iterator[Run | bytes]:
        """What ``scan_lines`` makes of the file's lines, in order."""
        flight = self._flight
        while flight:
            span, result = flight.popleft()
            try:
                items = result.get()
            except Exception:  # noqa: BLE001
                # Scanning only saves work: should a worker fail, this process does it.
                items = _scan_range(self._path, *span)
            self._submit()
            yield from items

    def close(self) -> None:
        self._pool.terminate()
        self._pool.join()


def _scan_range(path: str, start: int, end: int) -> list[Run | bytes]:
    """``scan_lines`` of the lines that start in bytes ``[start, end)`` of ``path``.

    Split as ``entry_blocks`` splits: every line, a last line without a
    newline included, a line longer than ENTRY_BYTES_MAX cut as it cuts it.
    """
    bound = limits.ENTRY_BYTES_MAX + 1
    with open(path, "rb") as file:
        if start > 0:
            # The first line that starts at or after start: just after a newline at start - 1 or on.
            file.seek(start - 1)
            begin = _after_newline(file, start - 1)
            if begin is None or begin >= end:
                return []
            start = begin
        file.seek(start)
        data = file.read(end - start)
        last = b""
        if data and not data.endswith(b"\n"):
            # Finish the line that runs over the end, unless it is too long to matter.
            newline = data.rfind(b"\n")
            last = data[newline + 1 :]
            data = data[: newline + 1]
            while len(last) <= bound and (piece := file.read(_BLOCK_BYTES_SMALL)):
                cut = piece.find(b"\n")
                last += piece if cut < 0 else piece[:cut]
                if cut >= 0:
                    break
    lines = data.split(b"\n")
    lines.pop()  # data is empty or ends with a newline
    if last:
        lines.append(last)
    return scan_lines(lines, start)


_BLOCK_BYTES_SMALL = 1 << 16


def _after_newline(file: BinaryIO, offset: int) -> int | None:
    """The offset just after the first newline at ``offset`` or later, or None at the end."""
    while piece := file.read(_BLOCK_BYTES_SMALL):
        newline = piece.find(b"\n")
        if newline >= 0:
            return offset + newline + 1
        offset += len(piece)
    return None


def _confirm_ids(audit: Audit, bundle: Bundle) -> None:
    suspects = set(audit.duplicate_id_suspects())
    if not suspects:
        return
    lines = {p: line for p, line in enumerate(bundle.entries()) if p in suspects}
    audit.confirm_duplicate_ids(lines)


def _check_manifest(audit: Audit, bundle: Bundle) -> None:
    """Compare the manifest's claims, which nobody signed, with the verified log."""
    try:
        manifest = bundle.manifest()
    except BundleError as error:
        audit.add(None, Check.BUNDLE_FORMAT, f"manifest.json is unusable ({error})")
        return
    if manifest is None:
        audit.add(None, Check.BUNDLE_FORMAT, "manifest.json is missing")
        return
    version = BUNDLE_VERSION if (bundle.directory / CHECKPOINTS_TEXT).exists() else 1
    claims: dict[str, object] = {
        "format": BUNDLE_FORMAT,
        # Either version is read; the manifest must name the layout the bundle has.
        "version": version,
        "size": audit.size,
        "root": b64(audit.root()),
    }
    if audit.head is not None:
        claims["origin"] = audit.head.origin
    for key, verified in claims.items():
        if manifest.get(key) != verified:
            audit.add(
                None,
                Check.BUNDLE_FORMAT,
                f"manifest.json's {key} differs from the verified log",
                manifest=str(manifest.get(key)),
                verified=str(verified),
            )


def _key_text(key: str) -> str:
    """A key given as the key string itself or as a file holding it."""
    path = Path(key)
    if path.is_file():
        return path.read_text(encoding="utf-8").strip()
    if "+" not in key:
        raise NoteError(
            "malformed_key",
            "a --key is neither a verifier key (<name>+<key id>+<base64>) nor a file holding one",
        )
    return key.strip()


def read_verifier(key: str) -> NoteVerifier:
    """A verifier key given as the key string itself or as a file holding it."""
    return NoteVerifier.from_key_string(_key_text(key))


def _head_note(bundle: Bundle) -> str | None:
    """The head checkpoint's note, or None where the bundle has none that reads (the
    verification names that fault as a finding)."""
    try:
        return bundle.head_note()
    except BundleError:
        return None


def check_witnesses(head_note: str | None, keys: Sequence[str], out: TextIO) -> int:
    """How many of the witness keys have no valid cosignature on ``head_note``; says
    which. A bundle without a head checkpoint (``None``) has no cosignature at all."""
    missing = 0
    for key in keys:
        witness = CosignatureVerifier.from_key_string(_key_text(key))
        try:
            if head_note is None:
                raise CosignatureError("no_cosignature", "the bundle has no head checkpoint")
            cosignature = witness.cosignature_on(head_note)
        except CosignatureError:
            out.write(f"witness {witness.name}: no valid cosignature on the head checkpoint\n")
            missing += 1
            continue
        out.write(f"witness {witness.name}: cosigned the head at {cosignature.timestamp}\n")
    return missing


def print_report(report: AuditReport, out: TextIO, title: str, *, uncosigned: int = 0) -> None:
    """The findings and a summary; ``uncosigned``: witnesses whose cosignature the
    caller required and did not find (``check_witnesses``), which fail the result too."""
    for finding in report.findings:
        out.write(finding.line() + "\n")
    if report.findings_omitted:
        out.write(f"... and {report.findings_omitted:,} more findings\n")
    head = report.head
    rows = [
        ("audited", title),
        ("origin", head.origin if head else "(none)"),
        ("entries", f"{report.size:,}"),
        ("accounts", f"{report.accounts:,}"),
        ("checkpoint", f"size {head.size:,}, root {b64(head.root)}" if head else "(none)"),
        ("checkpoints", f"{report.checkpoints_verified:,} verified"),
        (
            "outstanding",
            f"{format_hours(report.outstanding_minutes, 'en')}"
            f" ({report.outstanding_minutes:,} minutes) held by members and shops",
        ),
    ]
    total = len(report.findings) + report.findings_omitted
    failed = [f"{total:,} findings"] if not report.clean else []
    if uncosigned:
        failed.append(f"no cosignature of {uncosigned:,} required witness(es)")
    rows.append(("result", "FAILED: " + ", ".join(failed) if failed else "OK: every check passed"))
    for name, value in rows:
        out.write(f"{name:<12} {value}\n")


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(
        prog="python -m ledger.audit.verify",
        description="Verify a Buurtmunt export bundle offline.",
    )
    parser.add_argument("bundle", help="the bundle directory")
    parser.add_argument(
        "--key",
        required=True,
        action="append",
        help="the log's verifier key (the string, or a file holding it); after a rotation,"
        " repeat it for every key the log was signed with, the current one first",
    )
    parser.add_argument(
        "--trusted", metavar="CHECKPOINT", help="a checkpoint note you trusted earlier (a file)"
    )
    parser.add_argument(
        "--witness-key",
        action="append",
        default=[],
        metavar="KEY",
        help="require this witness's cosignature on the head checkpoint (repeatable)",
    )
    parser.add_argument(
        "--jobs",
        type=_positive,
        metavar="N",
        help="processes to use (1: this one alone; default: by bundle size and cores)",
    )
    return parser


def _positive(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 64:
        raise argparse.ArgumentTypeError("must be from 1 to 64")
    return value


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Verify ``args.bundle`` and print the findings and a summary; the exit status."""
    try:
        verifiers = tuple(read_verifier(key) for key in args.key)
        trusted = None
        if args.trusted:
            trusted = Path(args.trusted).read_text(encoding="utf-8")
        bundle = Bundle(args.bundle)
        try:
            shipped = bundle.verifier_key()
        except BundleError:
            shipped = ""  # informational only, and unreadable: say it differs
        if shipped is not None and shipped not in {v.key_string() for v in verifiers}:
            err.write("note: the bundle's verifier.key differs from --key; only --key counts\n")
        bundle_folder = Path(args.bundle).resolve()
        if any(Path(k).is_file() and bundle_folder in Path(k).resolve().parents for k in args.key):
            err.write(
                "warning: a --key file is inside the bundle: a bundle cannot vouch for itself; "
                "give the key the community published\n"
            )
        progress = Progress(bundle.entries_bytes, err, "verifying")
        jobs = getattr(args, "jobs", None)
        report = verify_bundle(
            bundle, verifiers, trusted_note=trusted, progress=progress, jobs=jobs
        )
        witness_keys = getattr(args, "witness_key", None) or []
        uncosigned = check_witnesses(_head_note(bundle), witness_keys, out) if witness_keys else 0
    except (BundleError, NoteError, CheckpointError, OSError, UnicodeDecodeError) as error:
        err.write(f"cannot verify: {error}\n")
        return EXIT_UNUSABLE
    print_report(report, out, str(args.bundle), uncosigned=uncosigned)
    return EXIT_CLEAN if report.clean and not uncosigned else EXIT_FINDINGS


def main(argv: Sequence[str] | None = None) -> int:
    # The audit makes millions of short-lived objects and keeps few: sparing
    # the collector the startup objects at every full collection is free speed.
    gc.freeze()
    args = build_parser().parse_args(argv)
    return run(args, sys.stdout, sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
