"""A witness (c2sp.org/tlog-witness): cosigns a log's checkpoints that extend the last it saw.

The municipality runs ``buurtmunt witness serve`` on its own machine with its
own key. For every log it follows (an origin and the log's verifier key) it
keeps the latest checkpoint it cosigned in its own SQLite file. A new
checkpoint is cosigned only when it comes with a valid consistency proof from
that one; the check and the update are one transaction under one lock, so two
requests cannot roll the record back. A fork (a signed checkpoint of the
recorded size with another root) is logged, stored, refused and shown by
``GET /status``. Routes: ``POST /add-checkpoint`` and ``GET /status``.
"""

from __future__ import annotations

import argparse
import base64
import logging
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from litestar import Litestar, MediaType, Request, Response, get, post

from ledger import limits
from ledger.checkpoint import Checkpoint, CheckpointError, note_origin, parse_checkpoint_body
from ledger.cosignature import (
    CosignatureError,
    Cosigner,
    generate_cosigner,
    parse_add_checkpoint,
)
from ledger.keys import SigningKeyError, read_key_file, write_key_file
from ledger.merkle import EMPTY_ROOT, verify_consistency
from ledger.note import NoteError, NoteVerifier, open_note

log = logging.getLogger(__name__)

SIZE_MEDIA_TYPE = "text/x.tlog.size"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS cosigned (
    origin TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    root BLOB NOT NULL,
    note TEXT NOT NULL,
    cosigned_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS forks (
    id INTEGER PRIMARY KEY,
    origin TEXT NOT NULL,
    size INTEGER NOT NULL,
    cosigned_root BLOB NOT NULL,
    other_root BLOB NOT NULL,
    other_note TEXT NOT NULL,
    seen_at INTEGER NOT NULL,
    UNIQUE (origin, size, other_root)
);
"""


@dataclass(frozen=True, slots=True)
class Answer:
    """An HTTP answer to an add-checkpoint request."""

    status: int
    body: str
    media_type: str = MediaType.TEXT


@dataclass(frozen=True, slots=True)
class Recorded:
    size: int
    root: bytes


class WitnessStore:
    """The witness's own SQLite file: the last cosigned checkpoint per log, and forks seen."""

    def __init__(self, path: str | Path) -> None:
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def recorded(self, origin: str) -> Recorded:
        row = self._db.execute(
            "SELECT size, root FROM cosigned WHERE origin = ?", (origin,)
        ).fetchone()
        return Recorded(0, EMPTY_ROOT) if row is None else Recorded(int(row[0]), bytes(row[1]))

    def record(self, checkpoint: Checkpoint, note: str, now: int) -> None:
        with self._db:
            self._db.execute(
                "INSERT INTO cosigned (origin, size, root, note, cosigned_at)"
                " VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (origin) DO UPDATE SET size = excluded.size, root = excluded.root,"
                " note = excluded.note, cosigned_at = excluded.cosigned_at",
                (checkpoint.origin, checkpoint.size, checkpoint.root, note, now),
            )

    def record_fork(self, checkpoint: Checkpoint, root: bytes, note: str, now: int) -> bool:
        """Keep the evidence: ``checkpoint`` (signed, as ``note``) and the cosigned ``root``.

        Whether it is new: a log that keeps offering the same fork is recorded once.
        """
        with self._db:
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO forks"
                " (origin, size, cosigned_root, other_root, other_note, seen_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (checkpoint.origin, checkpoint.size, root, checkpoint.root, note, now),
            )
            return cursor.rowcount == 1

    def status(self) -> dict[str, Any]:
        b64 = _b64
        logs = self._db.execute(
            "SELECT origin, size, root, cosigned_at FROM cosigned ORDER BY origin LIMIT ?",
            (limits.WITNESS_LOGS_MAX,),
        ).fetchall()
        forks = self._db.execute(
            "SELECT origin, size, cosigned_root, other_root, seen_at FROM forks"
            " ORDER BY id LIMIT ?",
            (limits.PAGE_SIZE_MAX,),
        ).fetchall()
        return {
            "logs": [
                {"origin": o, "size": s, "root": b64(r), "cosigned_at": t} for o, s, r, t in logs
            ],
            "forks": [
                {
                    "origin": o,
                    "size": s,
                    "cosigned_root": b64(c),
                    "other_root": b64(r),
                    "seen_at": t,
                }
                for o, s, c, r, t in forks
            ],
        }

    def close(self) -> None:
        self._db.close()


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


class Witness:
    """Checks and cosigns checkpoints of the logs in ``logs`` (origin -> log key)."""

    def __init__(
        self,
        cosigner: Cosigner,
        logs: Mapping[str, NoteVerifier],
        store: WitnessStore,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cosigner = cosigner
        self.logs = dict(logs)
        self.store = store
        self._clock = clock
        # The check against the record and the new record are one step (spec:
        # otherwise a slower, older request could roll the record back).
        self._lock = threading.Lock()

    def add_checkpoint(self, body: bytes) -> Answer:
        """Answer a ``POST /add-checkpoint`` with ``body`` as the spec says."""
        try:
            request = parse_add_checkpoint(body.decode("utf-8"))
        except (UnicodeDecodeError, CosignatureError) as error:
            return Answer(400, f"{error}\n")
        verifier = self.logs.get(note_origin(request.note))
        if verifier is None:
            return Answer(404, "unknown log origin\n")
        try:
            text = open_note(request.note, (verifier,)).text
            checkpoint = parse_checkpoint_body(text)
        except NoteError as error:
            if error.reason in ("invalid_signature", "unverified_note"):
                return Answer(403, "no valid signature from the log's key\n")
            return Answer(400, f"{error.reason}\n")
        except CheckpointError as error:
            return Answer(400, f"{error.reason}\n")
        if request.old_size > checkpoint.size:
            return Answer(400, "old size is larger than the checkpoint's\n")
        with self._lock:
            return self._check_and_cosign(request.old_size, request.proof, checkpoint, text)

    def _check_and_cosign(
        self, old_size: int, proof: tuple[bytes, ...], checkpoint: Checkpoint, text: str
    ) -> Answer:
        now = int(self._clock())
        recorded = self.store.recorded(checkpoint.origin)
        if checkpoint.size == recorded.size and checkpoint.root != recorded.root:
            # Two signed roots for one size: the log showed two histories.
            if self.store.record_fork(checkpoint, recorded.root, text, now):
                log.error(
                    "fork: log %s signed size %d with root %s, cosigned root was %s",
                    checkpoint.origin, checkpoint.size, _b64(checkpoint.root), _b64(recorded.root),
                )  # fmt: skip
            return Answer(422, "fork: another root for the size already cosigned\n")
        if old_size != recorded.size:
            if checkpoint.size < recorded.size:
                log.warning(
                    "rollback refused: log %s offered size %d below cosigned size %d",
                    checkpoint.origin, checkpoint.size, recorded.size,
                )  # fmt: skip
            return Answer(409, f"{recorded.size}\n", SIZE_MEDIA_TYPE)
        if checkpoint.size == 0 and checkpoint.root != EMPTY_ROOT:
            return Answer(422, "a tree of size 0 has the empty root\n")
        if old_size == 0:
            consistent = proof == ()
        else:
            consistent = verify_consistency(
                old_size, checkpoint.size, proof, recorded.root, checkpoint.root
            )
        if not consistent:
            log.warning(
                "inconsistent: log %s size %d to %d: the proof does not verify",
                checkpoint.origin, old_size, checkpoint.size,
            )  # fmt: skip
            return Answer(422, "the consistency proof does not verify\n")
        self.store.record(checkpoint, text, now)
        return Answer(200, self.cosigner.cosign(text, now).line())

    def status(self) -> dict[str, Any]:
        return {"name": self.cosigner.name, "key": self.cosigner.verifier().key_string()} | (
            self.store.status()
        )


def create_witness_app(witness: Witness) -> Litestar:
    """The witness's HTTP service."""

    @post("/add-checkpoint", status_code=200)
    async def add_checkpoint(request: Request[Any, Any, Any]) -> Response[str]:
        answer = witness.add_checkpoint(await request.body())
        return Response(answer.body, status_code=answer.status, media_type=answer.media_type)

    @get("/status")
    async def status() -> dict[str, Any]:
        return witness.status()

    return Litestar(
        route_handlers=[add_checkpoint, status],
        request_max_body_size=4 * limits.WITNESS_REQUEST_CHARS_MAX,
        on_shutdown=[witness.store.close],
    )


def parse_log(origin: str, key: str) -> tuple[str, NoteVerifier]:
    """One ``--log ORIGIN KEY`` pair: the origin and the log's verifier key."""
    if origin == "" or "\n" in origin:
        raise NoteError("malformed_text", "an origin is one non-empty line")
    return origin, NoteVerifier.from_key_string(key.strip())


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``witness serve`` and ``witness key`` to the ``buurtmunt`` command."""
    witness = subparsers.add_parser("witness", help="run a witness that cosigns checkpoints")
    commands = witness.add_subparsers(dest="witness_command", required=True)
    serve = commands.add_parser("serve", help="serve add-checkpoint and status")
    serve.add_argument("--key-file", required=True, help="the witness's private key (mode 0600)")
    serve.add_argument("--db", required=True, help="the witness's SQLite file")
    serve.add_argument(
        "--log", nargs=2, action="append", required=True, metavar=("ORIGIN", "KEY"),
        help="a log to follow: its origin and its verifier key (repeat for more)",
    )  # fmt: skip
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8090)
    serve.set_defaults(func=_serve)
    key = commands.add_parser("key", help="create a witness key; prints its verifier key")
    key.add_argument("--name", required=True, help="the witness's name, e.g. witness.gemeente.nl")
    key.add_argument("--out", required=True, help="the new key file (mode 0600)")
    key.set_defaults(func=_generate_key)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    try:
        cosigner = Cosigner.from_key_string(read_key_file(args.key_file))
        logs = dict(parse_log(origin, key) for origin, key in args.log[: limits.WITNESS_LOGS_MAX])
    except (NoteError, SigningKeyError) as error:
        print(f"buurtmunt witness: {error}", file=sys.stderr)
        return 1
    witness = Witness(cosigner, logs, WitnessStore(args.db))
    print(f"witness {cosigner.verifier().key_string()}", file=sys.stderr)
    uvicorn.run(create_witness_app(witness), host=args.host, port=args.port, access_log=False)
    return 0


def _generate_key(args: argparse.Namespace) -> int:
    try:
        cosigner = generate_cosigner(args.name)
        write_key_file(args.out, cosigner.key_string())
    except (NoteError, SigningKeyError) as error:
        print(f"buurtmunt witness key: {error}", file=sys.stderr)
        return 1
    print(f"witness key written to {args.out} (mode 0600); verifier key:", file=sys.stderr)
    print(cosigner.verifier().key_string())
    return 0
