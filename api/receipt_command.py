"""The ``verify-receipt`` subcommand: check one receipt offline against a verifier key.

The receipt file is either the JSON document ``GET /api/v1/receipts/{entry_id}``
returns (the entry's canonical bytes and its c2sp.org/tlog-proof receipt), or
the tlog-proof text alone with ``--entry`` naming a file of the entry's exact
bytes. Only ``--key`` is trusted: the document's own ``verifier_key`` and
``origin`` are not read. Exit 0: the entry is in the log the key signs; 1: the
receipt does not prove it; 2: unreadable input or key.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TextIO

from ledger import limits
from ledger.audit.verify import EXIT_CLEAN, EXIT_FINDINGS, EXIT_UNUSABLE, read_verifier
from ledger.checkpoint import CheckpointError
from ledger.note import NoteError
from ledger.receipt import ReceiptError, parse_receipt, verify_receipt

# A receipt document: a checkpoint note, the longest proof and an entry, with room.
RECEIPT_FILE_BYTES_MAX = 4 * limits.NOTE_BYTES_MAX + 2 * limits.ENTRY_BYTES_MAX + 64 * 1024


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``verify-receipt`` to the ``buurtmunt`` command."""
    command = subparsers.add_parser(
        "verify-receipt", help="check that a receipt proves its entry is in the log"
    )
    command.add_argument("receipt", help="the receipt: the API's JSON, or tlog-proof text")
    command.add_argument(
        "--key", required=True, help="the log's verifier key (the string, or a file holding it)"
    )
    command.add_argument("--entry", help="the entry's exact bytes (with a tlog-proof text file)")
    command.set_defaults(func=lambda args: run(args, sys.stdout, sys.stderr))


def _read(path: str) -> bytes:
    with Path(path).open("rb") as source:
        data = source.read(RECEIPT_FILE_BYTES_MAX + 1)
    if len(data) > RECEIPT_FILE_BYTES_MAX:
        raise ValueError(f"{path}: larger than {RECEIPT_FILE_BYTES_MAX:,} bytes")
    return data


def _receipt_and_entry(args: argparse.Namespace) -> tuple[str, bytes]:
    data = _read(args.receipt)
    if data.lstrip().startswith(b"{"):
        document = json.loads(data)
        if not isinstance(document, dict):
            raise ValueError("the receipt document is not a JSON object")
        receipt, entry = document.get("receipt"), document.get("entry")
        if not isinstance(receipt, str) or not isinstance(entry, str):
            raise ValueError("the receipt document needs text fields receipt and entry")
        return receipt, entry.encode("utf-8")
    if args.entry is None:
        raise ValueError("a tlog-proof text file needs --entry with the entry's bytes")
    return data.decode("utf-8"), _read(args.entry)


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Check ``args.receipt``; print the verdict and return the exit status."""
    try:
        verifier = read_verifier(args.key)
        text, entry = _receipt_and_entry(args)
        receipt = parse_receipt(text)
    except (NoteError, OSError, ValueError) as error:
        # ReceiptError and json's and UTF-8's errors are ValueErrors too.
        err.write(f"cannot check the receipt: {error}\n")
        return EXIT_UNUSABLE
    try:
        checkpoint = verify_receipt(receipt, entry, verifier)
    except (ReceiptError, NoteError, CheckpointError) as error:
        out.write(f"receipt refused: {error}\n")
        return EXIT_FINDINGS
    out.write(
        f"entry {receipt.index} is in {checkpoint.origin} at tree size {checkpoint.size:,}, "
        f"signed by {verifier.name}\n"
    )
    return EXIT_CLEAN
