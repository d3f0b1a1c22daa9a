"""C2SP signed notes (c2sp.org/signed-note), Ed25519 keys only.

A signed note is a text ending in a newline, a blank line, and one or more
signature lines ``— <key name> <base64(4-byte key id || signature)>``. The key
id of an Ed25519 key is the first four bytes of SHA-256(name || 0x0A || 0x01 ||
public key), read big-endian. Keys travel as the strings of the reference
implementation, golang.org/x/mod/sumdb/note:

- verifier key: ``<name>+<8 hex key id>+<base64(0x01 || 32-byte public key)>``
- signer key: ``PRIVATE+KEY+<name>+<8 hex key id>+<base64(0x01 || 32-byte seed)>``

Parsing is strict: base64 must be canonical and key ids lowercase hex, so every
value has exactly one encoding.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from ledger import limits

NoteErrorReason = Literal[
    "malformed_note",
    "note_too_large",
    "too_many_signatures",
    "invalid_signature",
    "unverified_note",
    "ambiguous_verifiers",
    "malformed_text",
    "malformed_key",
    "invalid_key_name",
    "unknown_key_algorithm",
    "key_id_mismatch",
]

ALGORITHM_ED25519 = 0x01
ED25519_KEY_BYTES = 32
ED25519_SIGNATURE_BYTES = 64
SIGNATURE_PREFIX = "\u2014 "  # em dash, space
PRIVATE_KEY_PREFIX = "PRIVATE+KEY+"

_KEY_ID_HEX = re.compile(r"[0-9a-f]{8}")
_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")


class NoteError(ValueError):
    """A note or key string was refused; ``reason`` is a stable short code.

    The message never contains key material, so it is safe to log.
    """

    def __init__(self, reason: NoteErrorReason, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason: NoteErrorReason = reason


def base64_decode_canonical(text: str) -> bytes | None:
    """Decode standard padded base64 (RFC 4648 §4), or None.

    Only the canonical encoding is accepted (no whitespace, correct padding,
    zero pad bits), so a signed value cannot be re-encoded into a second form.
    """
    if len(text) % 4 != 0 or _BASE64.fullmatch(text) is None:
        return None
    try:
        raw = base64.b64decode(text, validate=True)
    except binascii.Error:
        return None
    if base64.b64encode(raw).decode("ascii") != text:
        return None
    return raw


def _has_control_character(text: str) -> bool:
    # The spec forbids ASCII controls other than newline anywhere in a note.
    return any(ch < " " and ch != "\n" for ch in text)


def _is_utf8(text: str) -> bool:
    # A Python str may hold lone surrogates, which are not valid UTF-8.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def is_valid_key_name(name: str) -> bool:
    """Whether ``name`` may name a key: non-empty, no Unicode space, no ``+``.

    Control characters are refused too (a note may not contain them, so such a
    key could never sign anything), and the length is bounded.
    """
    return (
        0 < len(name) <= limits.KEY_NAME_LENGTH_MAX
        and "+" not in name
        and not any(ch.isspace() or ch < " " for ch in name)
        and _is_utf8(name)
    )


def key_id_for(name: str, public_key: bytes, algorithm: int = ALGORITHM_ED25519) -> int:
    """The recommended key id of an Ed25519 key, as an unsigned 32-bit int.

    ``algorithm`` is the signature type byte: 0x01 for note signatures, 0x04
    for cosignatures (``ledger.cosignature``).
    """
    digest = hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([algorithm]) + public_key).digest()
    return int.from_bytes(digest[:4], "big")


def parse_key_body(body: str, algorithm: int = ALGORITHM_ED25519) -> tuple[str, int, bytes]:
    """Split ``<name>+<hex id>+<base64(alg || key)>`` into name, id, raw key.

    The algorithm byte must be ``algorithm``; the key is 32 bytes (Ed25519).

    Names cannot contain ``+`` but base64 can, hence the bounded split.
    """
    parts = body.split("+", 2)
    if len(parts) != 3:
        raise NoteError("malformed_key", "expected <name>+<key id>+<key>")
    name, id_hex, key_b64 = parts
    if not is_valid_key_name(name):
        raise NoteError("invalid_key_name")
    if _KEY_ID_HEX.fullmatch(id_hex) is None:
        raise NoteError("malformed_key", "key id must be 8 lowercase hex digits")
    raw = base64_decode_canonical(key_b64)
    if raw is None or len(raw) == 0:
        raise NoteError("malformed_key", "key is not canonical base64")
    if raw[0] != algorithm:
        raise NoteError("unknown_key_algorithm", f"algorithm byte {raw[0]}")
    if len(raw) != 1 + ED25519_KEY_BYTES:
        raise NoteError("malformed_key", "an Ed25519 key is 32 bytes")
    return name, int(id_hex, 16), raw[1:]


@dataclass(frozen=True, slots=True)
class NoteVerifier:
    """The public half of a note key: checks signatures by ``name``."""

    name: str
    public_key: bytes

    def __post_init__(self) -> None:
        if not is_valid_key_name(self.name):
            raise NoteError("invalid_key_name")
        if len(self.public_key) != ED25519_KEY_BYTES:
            raise NoteError("malformed_key", "an Ed25519 key is 32 bytes")

    @classmethod
    def from_key_string(cls, key: str) -> NoteVerifier:
        """Parse ``<name>+<key id>+<base64(0x01 || public key)>``."""
        name, key_id, public_key = parse_key_body(key)
        if key_id != key_id_for(name, public_key):
            raise NoteError("key_id_mismatch")
        return cls(name, public_key)

    @property
    def key_id(self) -> int:
        return key_id_for(self.name, self.public_key)

    def key_string(self) -> str:
        encoded = base64.b64encode(bytes([ALGORITHM_ED25519]) + self.public_key)
        return f"{self.name}+{self.key_id:08x}+{encoded.decode('ascii')}"

    def named(self, name: str) -> NoteVerifier:
        """The same public key under another name (and so another key id)."""
        return self if name == self.name else NoteVerifier(name, self.public_key)

    def verify(self, msg: bytes, sig: bytes) -> bool:
        """Whether ``sig`` (without the key id prefix) signs ``msg``."""
        if len(sig) != ED25519_SIGNATURE_BYTES:
            return False
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(sig, msg)
        except (InvalidSignature, ValueError):
            return False
        return True


@dataclass(frozen=True, slots=True, eq=False)
class NoteSigner:
    """The private half of a note key. Keep out of logs, reprs and databases."""

    name: str
    private_key: Ed25519PrivateKey = field(repr=False)
    # Derived once: every checkpoint signature starts with it.
    _key_id: int = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not is_valid_key_name(self.name):
            raise NoteError("invalid_key_name")
        object.__setattr__(self, "_key_id", self.verifier().key_id)

    @classmethod
    def from_key_string(cls, key: str) -> NoteSigner:
        """Parse ``PRIVATE+KEY+<name>+<key id>+<base64(0x01 || seed)>``.

        The key id names the *public* key, so it is checked after deriving it.
        """
        if not key.startswith(PRIVATE_KEY_PREFIX):
            raise NoteError("malformed_key", "a signer key starts with PRIVATE+KEY+")
        name, key_id, seed = parse_key_body(key[len(PRIVATE_KEY_PREFIX) :])
        signer = cls(name, Ed25519PrivateKey.from_private_bytes(seed))
        if key_id != signer.key_id:
            raise NoteError("key_id_mismatch")
        return signer

    @property
    def key_id(self) -> int:
        return self._key_id

    def key_string(self) -> str:
        seed = self.private_key.private_bytes_raw()
        encoded = base64.b64encode(bytes([ALGORITHM_ED25519]) + seed).decode("ascii")
        return f"{PRIVATE_KEY_PREFIX}{self.name}+{self.key_id:08x}+{encoded}"

    def verifier(self) -> NoteVerifier:
        return NoteVerifier(self.name, self.private_key.public_key().public_bytes_raw())

    def named(self, name: str) -> NoteSigner:
        """The same private key under another name (and so another key id)."""
        return self if name == self.name else NoteSigner(name, self.private_key)

    def sign(self, text: str) -> str:
        """The whole signed note: ``text``, a blank line, one signature line.

        ``text`` must end in a newline (so it is non-empty) and contain nothing
        the spec forbids in a note; the note must fit NOTE_BYTES_MAX, since a
        note we could not open ourselves is of no use to anyone.
        """
        if not text.endswith("\n"):
            raise NoteError("malformed_text", "text must end in a newline")
        if _has_control_character(text) or not _is_utf8(text):
            raise NoteError("malformed_text", "text must be UTF-8 without controls")
        message = text.encode("utf-8")
        blob = self.key_id.to_bytes(4, "big") + self.private_key.sign(message)
        line = f"{SIGNATURE_PREFIX}{self.name} {base64.b64encode(blob).decode('ascii')}\n"
        note = f"{text}\n{line}"
        if len(note.encode("utf-8")) > limits.NOTE_BYTES_MAX:
            raise NoteError("note_too_large")
        return note


def generate_signer(name: str) -> NoteSigner:
    """A fresh Ed25519 signer named ``name``."""
    return NoteSigner(name, Ed25519PrivateKey.generate())


@dataclass(frozen=True, slots=True)
class NoteSignature:
    """One signature line: key name, key id and the signature without the id."""

    name: str
    key_id: int
    sig: bytes


@dataclass(frozen=True, slots=True)
class SignedNote:
    """An opened note: its text, every signature line in order, and the names
    of the known keys whose signatures verified."""

    text: str
    signatures: tuple[NoteSignature, ...]
    verified_by: tuple[str, ...]


def split_note(note: str) -> tuple[str, list[str]]:
    """The text and the signature lines of ``note``, or ``NoteError``."""
    # Cheap character bound first, so a huge string is never encoded.
    if len(note) > limits.NOTE_BYTES_MAX:
        raise NoteError("note_too_large")
    if not _is_utf8(note) or _has_control_character(note):
        raise NoteError("malformed_note", "not UTF-8 or contains control characters")
    if len(note.encode("utf-8")) > limits.NOTE_BYTES_MAX:
        raise NoteError("note_too_large")
    # The text may contain blank lines; the signatures start after the last.
    split = note.rfind("\n\n")
    if split < 0:
        raise NoteError("malformed_note", "no blank line before signatures")
    text, block = note[: split + 1], note[split + 2 :]
    if block == "" or not block.endswith("\n"):
        raise NoteError("malformed_note", "signature block must end in a newline")
    lines = block[:-1].split("\n")
    if len(lines) > limits.NOTE_SIGNATURES_MAX:
        raise NoteError("too_many_signatures", f"more than {limits.NOTE_SIGNATURES_MAX}")
    return text, lines


def _parse_signature_line(line: str) -> NoteSignature:
    if not line.startswith(SIGNATURE_PREFIX):
        raise NoteError("malformed_note", "signature line must start with an em dash")
    name, space, encoded = line[len(SIGNATURE_PREFIX) :].partition(" ")
    raw = base64_decode_canonical(encoded)
    # Four bytes of key id and at least one byte of signature, as in the reference.
    if not space or not is_valid_key_name(name) or raw is None or len(raw) < 5:
        raise NoteError("malformed_note", "bad signature line")
    return NoteSignature(name, int.from_bytes(raw[:4], "big"), raw[4:])


def _index_verifiers(verifiers: Sequence[NoteVerifier]) -> dict[tuple[str, int], NoteVerifier]:
    known: dict[tuple[str, int], NoteVerifier] = {}
    for verifier in verifiers:
        slot = (verifier.name, verifier.key_id)
        other = known.setdefault(slot, verifier)
        # Two different keys with one name and id would make a signature's
        # meaning depend on which we tried; refuse the configuration instead.
        if other.public_key != verifier.public_key:
            raise NoteError("ambiguous_verifiers", f"{slot[0]}+{slot[1]:08x}")
    return known


def open_note(note: str, verifiers: Sequence[NoteVerifier]) -> SignedNote:
    """Parse ``note`` and check its signatures against the known ``verifiers``.

    Signatures from unknown keys (name and key id not both matching a known
    key) are ignored, as the spec requires. Every signature from a known key
    must verify, and at least one must be present, or ``NoteError`` is raised.
    The whole note is parsed before any signature is checked.
    """
    known = _index_verifiers(verifiers)
    text, lines = split_note(note)
    signatures = tuple(_parse_signature_line(line) for line in lines)
    message = text.encode("utf-8")
    verified_by: list[str] = []
    for signature in signatures:
        verifier = known.get((signature.name, signature.key_id))
        if verifier is None:
            continue
        if not verifier.verify(message, signature.sig):
            raise NoteError("invalid_signature", f"{signature.name}+{signature.key_id:08x}")
        if signature.name not in verified_by:
            verified_by.append(signature.name)
    if not verified_by:
        raise NoteError("unverified_note", "no signature from a known key")
    return SignedNote(text, signatures, tuple(verified_by))
