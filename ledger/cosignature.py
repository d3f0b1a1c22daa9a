"""Witness cosignatures (c2sp.org/tlog-cosignature) and the add-checkpoint request.

A cosignature is a signed-note signature line on a checkpoint, made by a
witness that checked the checkpoint extends the last one it saw for that log::

    — <witness name> base64(4-byte key id || 8-byte timestamp || 64-byte Ed25519 signature)

The key id is SHA-256(name || 0x0A || 0x04 || public key)[:4]: the 0x04 type
byte keeps cosigner keys apart from log keys (0x01). The signature covers
``cosignature/v1\\ntime <timestamp>\\n`` followed by the checkpoint's whole
note text (its final newline included, its signature lines not). The
timestamp is POSIX seconds, big-endian, at least 1 and below 2**63.

Witness keys travel like note keys, with type byte 0x04:
``<name>+<8 hex key id>+<base64(0x04 || public key)>`` (a vkey), and
``PRIVATE+KEY+<name>+<8 hex key id>+<base64(0x04 || seed)>`` for the witness's own.

The add-checkpoint request (c2sp.org/tlog-witness) is ``old <size>``, one
base64 consistency-proof hash a line, a blank line, then the signed
checkpoint note.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from ledger import limits
from ledger.checkpoint import parse_decimal
from ledger.note import (
    ED25519_KEY_BYTES,
    ED25519_SIGNATURE_BYTES,
    PRIVATE_KEY_PREFIX,
    SIGNATURE_PREFIX,
    NoteError,
    base64_decode_canonical,
    is_valid_key_name,
    key_id_for,
    parse_key_body,
    split_note,
)

CosignatureErrorReason = Literal[
    "malformed_request",
    "too_many_proof_hashes",
    "invalid_timestamp",
    "no_cosignature",
]

ALGORITHM_COSIGNATURE_V1 = 0x04
HEADER = "cosignature/v1"
TIMESTAMP_MAX = 2**63 - 1
_LINE_BYTES = 4 + 8 + ED25519_SIGNATURE_BYTES
_OLD_PREFIX = "old "
_HASH_BYTES = 32


class CosignatureError(ValueError):
    """A cosignature or an add-checkpoint request was refused; ``reason`` is stable."""

    def __init__(self, reason: CosignatureErrorReason, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason: CosignatureErrorReason = reason


def cosigned_message(text: str, timestamp: int) -> bytes:
    """The bytes a cosignature signs: header, time line, the checkpoint's note text."""
    return f"{HEADER}\ntime {timestamp}\n{text}".encode()


@dataclass(frozen=True, slots=True)
class Cosignature:
    """One cosignature line, parsed: who, which key, when, and the signature."""

    name: str
    key_id: int
    timestamp: int
    signature: bytes

    def line(self) -> str:
        """The signature line, ending in a newline, to append to the note."""
        blob = self.key_id.to_bytes(4, "big") + self.timestamp.to_bytes(8, "big") + self.signature
        return f"{SIGNATURE_PREFIX}{self.name} {base64.b64encode(blob).decode('ascii')}\n"


def parse_cosignature_line(line: str) -> Cosignature | None:
    """The cosignature on a note signature line (without its newline), or None.

    None for anything that is not shaped like an Ed25519 cosignature, such as
    the log's own signature: callers skip those, as the spec requires.
    """
    if not line.startswith(SIGNATURE_PREFIX):
        return None
    name, space, encoded = line[len(SIGNATURE_PREFIX) :].partition(" ")
    raw = base64_decode_canonical(encoded)
    if not space or not is_valid_key_name(name) or raw is None or len(raw) != _LINE_BYTES:
        return None
    return Cosignature(
        name, int.from_bytes(raw[:4], "big"), int.from_bytes(raw[4:12], "big"), raw[12:]
    )


@dataclass(frozen=True, slots=True)
class CosignatureVerifier:
    """A witness's public key: checks its cosignatures."""

    name: str
    public_key: bytes

    def __post_init__(self) -> None:
        if not is_valid_key_name(self.name):
            raise NoteError("invalid_key_name")
        if len(self.public_key) != ED25519_KEY_BYTES:
            raise NoteError("malformed_key", "an Ed25519 key is 32 bytes")

    @classmethod
    def from_key_string(cls, key: str) -> CosignatureVerifier:
        """Parse a vkey ``<name>+<key id>+<base64(0x04 || public key)>``."""
        name, key_id, public_key = parse_key_body(key.strip(), ALGORITHM_COSIGNATURE_V1)
        if key_id != key_id_for(name, public_key, ALGORITHM_COSIGNATURE_V1):
            raise NoteError("key_id_mismatch")
        return cls(name, public_key)

    @property
    def key_id(self) -> int:
        return key_id_for(self.name, self.public_key, ALGORITHM_COSIGNATURE_V1)

    def key_string(self) -> str:
        encoded = base64.b64encode(bytes([ALGORITHM_COSIGNATURE_V1]) + self.public_key)
        return f"{self.name}+{self.key_id:08x}+{encoded.decode('ascii')}"

    def verifies(self, text: str, cosignature: Cosignature) -> bool:
        """Whether ``cosignature`` is this witness's, valid over the note text ``text``."""
        if (cosignature.name, cosignature.key_id) != (self.name, self.key_id):
            return False
        if not 0 < cosignature.timestamp <= TIMESTAMP_MAX:
            return False
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(
                cosignature.signature, cosigned_message(text, cosignature.timestamp)
            )
        except (InvalidSignature, ValueError):
            return False
        return True

    def cosignature_on(self, note: str) -> Cosignature:
        """This witness's valid cosignature on the signed ``note``, or ``CosignatureError``.

        Raises ``NoteError`` when ``note`` is not a signed note at all.
        """
        text, lines = split_note(note)
        for line in lines:
            cosignature = parse_cosignature_line(line)
            if cosignature is not None and self.verifies(text, cosignature):
                return cosignature
        raise CosignatureError("no_cosignature", f"none valid from {self.name}")

    def valid_lines(self, text: str, lines: str) -> list[Cosignature]:
        """This witness's valid cosignatures on ``text`` among the signature ``lines``."""
        found: list[Cosignature] = []
        for line in lines.split("\n")[: limits.NOTE_SIGNATURES_MAX]:
            cosignature = parse_cosignature_line(line)
            if cosignature is not None and self.verifies(text, cosignature):
                found.append(cosignature)
        return found


@dataclass(frozen=True, slots=True, eq=False)
class Cosigner:
    """A witness's private key. Keep out of logs, reprs and databases."""

    name: str
    private_key: Ed25519PrivateKey = field(repr=False)

    def __post_init__(self) -> None:
        if not is_valid_key_name(self.name):
            raise NoteError("invalid_key_name")

    @classmethod
    def from_key_string(cls, key: str) -> Cosigner:
        """Parse ``PRIVATE+KEY+<name>+<key id>+<base64(0x04 || seed)>``."""
        key = key.strip()
        if not key.startswith(PRIVATE_KEY_PREFIX):
            raise NoteError("malformed_key", "a private key starts with PRIVATE+KEY+")
        body = key[len(PRIVATE_KEY_PREFIX) :]
        name, key_id, seed = parse_key_body(body, ALGORITHM_COSIGNATURE_V1)
        cosigner = cls(name, Ed25519PrivateKey.from_private_bytes(seed))
        if key_id != cosigner.verifier().key_id:
            raise NoteError("key_id_mismatch")
        return cosigner

    def verifier(self) -> CosignatureVerifier:
        return CosignatureVerifier(self.name, self.private_key.public_key().public_bytes_raw())

    def key_string(self) -> str:
        seed = self.private_key.private_bytes_raw()
        encoded = base64.b64encode(bytes([ALGORITHM_COSIGNATURE_V1]) + seed).decode("ascii")
        return f"{PRIVATE_KEY_PREFIX}{self.name}+{self.verifier().key_id:08x}+{encoded}"

    def cosign(self, text: str, timestamp: int) -> Cosignature:
        """Cosign the checkpoint note text ``text`` at POSIX second ``timestamp``."""
        if not 0 < timestamp <= TIMESTAMP_MAX:
            raise CosignatureError("invalid_timestamp")
        signature = self.private_key.sign(cosigned_message(text, timestamp))
        return Cosignature(self.name, self.verifier().key_id, timestamp, signature)


def generate_cosigner(name: str) -> Cosigner:
    """A fresh witness key named ``name``."""
    return Cosigner(name, Ed25519PrivateKey.generate())


@dataclass(frozen=True, slots=True)
class AddCheckpoint:
    """An add-checkpoint request: the size the witness last cosigned, the
    consistency proof from it to the checkpoint, and the signed checkpoint."""

    old_size: int
    proof: tuple[bytes, ...]
    note: str

    def encode(self) -> str:
        lines = [f"{_OLD_PREFIX}{self.old_size}"]
        lines.extend(base64.b64encode(h).decode("ascii") for h in self.proof)
        return "\n".join(lines) + "\n\n" + self.note


def parse_add_checkpoint(text: str) -> AddCheckpoint:
    """Parse an add-checkpoint request body strictly (the note is not opened here)."""
    if len(text) > limits.WITNESS_REQUEST_CHARS_MAX:
        raise CosignatureError("malformed_request", "request too large")
    split = text.find("\n\n")
    if split < 0:
        raise CosignatureError("malformed_request", "no blank line before the checkpoint")
    head, note = text[:split].split("\n"), text[split + 2 :]
    if not head[0].startswith(_OLD_PREFIX):
        raise CosignatureError("malformed_request", "first line must be old <size>")
    old_size = parse_decimal(head[0][len(_OLD_PREFIX) :], limits.TREE_SIZE_MAX)
    if old_size is None:
        raise CosignatureError("malformed_request", "old size: decimal without leading zeroes")
    if len(head) - 1 > limits.WITNESS_PROOF_HASHES_MAX:
        raise CosignatureError("too_many_proof_hashes")
    proof: list[bytes] = []
    for line in head[1:]:
        digest = base64_decode_canonical(line)
        if digest is None or len(digest) != _HASH_BYTES:
            raise CosignatureError("malformed_request", "proof hash: 32 bytes in base64")
        proof.append(digest)
    return AddCheckpoint(old_size, tuple(proof), note)
