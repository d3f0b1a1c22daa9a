"""C2SP transparency log checkpoints (c2sp.org/tlog-checkpoint).

A checkpoint is a signed note whose text is the log's origin, its tree size in
decimal and its RFC 6962 root hash in base64, one per line, optionally followed
by opaque non-empty extension lines. We never write extension lines; we accept
and ignore them when reading, as the spec requires.

A community's log has the origin ``<host>/<community slug>``, for example
``buurtmunt.example/demo``, and its checkpoints are signed under a key name
equal to the origin, as the spec asks. One Ed25519 key serves every community
of a deployment, under each community's name. Journals begun before keys were
named for their log carry checkpoints signed under the host's name: the same
public key under the origin's host still opens them (``log_verifiers``).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from ledger import limits
from ledger.note import (
    NoteSigner,
    NoteVerifier,
    base64_decode_canonical,
    is_valid_key_name,
    open_note,
)

CheckpointErrorReason = Literal[
    "malformed_checkpoint",
    "invalid_origin",
    "invalid_tree_size",
    "invalid_root_hash",
    "origin_mismatch",
]

ROOT_HASH_BYTES = 32

_DECIMAL = re.compile(r"0|[1-9][0-9]*")


class CheckpointError(ValueError):
    """A checkpoint was refused; ``reason`` is a stable short code."""

    def __init__(self, reason: CheckpointErrorReason, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason: CheckpointErrorReason = reason


def parse_decimal(text: str, maximum: int) -> int | None:
    """An ASCII decimal without leading zeroes, at most ``maximum``, or None."""
    # The length bound keeps int() away from absurdly long digit strings.
    if len(text) > len(str(maximum)) or _DECIMAL.fullmatch(text) is None:
        return None
    value = int(text)
    return value if value <= maximum else None


def _is_valid_origin(origin: str) -> bool:
    # Clients must not assume the URL shape, so only what a note line allows:
    # non-empty UTF-8 without control characters (which includes newline).
    if origin == "" or any(ch < " " for ch in origin):
        return False
    try:
        origin.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A log's tree head: ``size`` leaves hashing to ``root`` under ``origin``."""

    origin: str
    size: int
    root: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.origin, str) or not _is_valid_origin(self.origin):
            raise CheckpointError("invalid_origin")
        if type(self.size) is not int or not 0 <= self.size <= limits.TREE_SIZE_MAX:
            raise CheckpointError("invalid_tree_size")
        if not isinstance(self.root, bytes) or len(self.root) != ROOT_HASH_BYTES:
            raise CheckpointError("invalid_root_hash")

    def body(self) -> str:
        """The note text: origin, size and root, each ending in a newline."""
        root = base64.b64encode(self.root).decode("ascii")
        return f"{self.origin}\n{self.size}\n{root}\n"


def origin_for(host: str, community: str) -> str:
    """The origin of ``community``'s log served from ``host``.

    The result is also a valid note key name, so the log key can carry it.
    """
    if (
        host == ""
        or community == ""
        or "/" in host
        or "/" in community
        or len(community) > limits.COMMUNITY_SLUG_LENGTH_MAX
        or not is_valid_key_name(f"{host}/{community}")
    ):
        raise CheckpointError("invalid_origin", "host and slug: no '/', '+' or spaces")
    return f"{host}/{community}"


LogKeys = NoteVerifier | Sequence[NoteVerifier]
"""A log's verifier key, or every key it has been signed with (after a rotation: the
current key first, then the retired ones); a checkpoint signed by any of them opens."""


def log_verifiers(keys: LogKeys, origin: str) -> tuple[NoteVerifier, ...]:
    """The names under which the ``keys`` open a checkpoint of ``origin``, the first
    key's first.

    A key named for the origin or for the origin's host (the part before its
    last '/') opens signatures under either name: the origin's (how the ledger
    signs) and the host's (how it signed before keys were named for their log).
    Any other key is used as it is.
    """
    host = origin.rpartition("/")[0]
    names = [name for name in (origin, host) if name and is_valid_key_name(name)]
    found: list[NoteVerifier] = []
    for verifier in (keys,) if isinstance(keys, NoteVerifier) else keys:
        if verifier.name not in names:
            found.append(verifier)
        else:
            found.extend(verifier.named(name) for name in names)
    return tuple(found)


def note_origin(note: str) -> str:
    """The origin a signed checkpoint names: its first line."""
    return note.split("\n", 1)[0]


def parse_checkpoint_body(text: str) -> Checkpoint:
    """Parse a checkpoint note's text strictly; extension lines are ignored."""
    if len(text) > limits.NOTE_BYTES_MAX or not text.endswith("\n"):
        raise CheckpointError("malformed_checkpoint", "text must end in a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3 or "" in lines:
        raise CheckpointError("malformed_checkpoint", "need three or more non-empty lines")
    origin, size_text, root_text = lines[:3]
    size = parse_decimal(size_text, limits.TREE_SIZE_MAX)
    if size is None:
        raise CheckpointError("invalid_tree_size", "decimal without leading zeroes")
    root = base64_decode_canonical(root_text)
    if root is None or len(root) != ROOT_HASH_BYTES:
        raise CheckpointError("invalid_root_hash", "32 bytes in canonical base64")
    return Checkpoint(origin, size, root)


def sign_checkpoint(checkpoint: Checkpoint, signer: NoteSigner) -> str:
    """The checkpoint as a note signed by ``signer``."""
    return signer.sign(checkpoint.body())


def open_checkpoint(
    note: str, verifier: LogKeys, *, expected_origin: str | None = None
) -> Checkpoint:
    """Verify ``note`` with ``verifier`` (a key, or the log's keys) and parse its text as
    a checkpoint.

    Raises ``NoteError`` for a bad note or signature and ``CheckpointError``
    for a bad body, or when ``expected_origin`` is given and differs (a key
    may sign for several logs; only the origin says which log this is).
    """
    origin = note_origin(note)
    checkpoint = parse_checkpoint_body(open_note(note, log_verifiers(verifier, origin)).text)
    if expected_origin is not None and checkpoint.origin != expected_origin:
        raise CheckpointError("origin_mismatch")
    return checkpoint
