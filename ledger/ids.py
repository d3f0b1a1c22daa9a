"""Entry ids the server makes: time-ordered, so the journal's id index grows at its end.

An id is 26 characters of Crockford base32 (``0-9`` and ``A-Z`` without
``I L O U``) spelling 128 bits: a 48-bit count of milliseconds since the Unix
epoch, then 80 bits that are random for the first id of a millisecond and one
more than the previous id's for every further id in the same millisecond (ULID
with monotonic ordering). The alphabet is in ASCII order, so string order is
the order in which one source made its ids; ids of several processes
interleave by millisecond. Every id matches the ledger's id grammar
(``ledger.shape.ID_PATTERN``).

Inserting an id that sorts after the ones before it touches the last page of an
index, where a random one touches a page anywhere in it: on a journal of a
million entries that halves the rate of appends.

A draft's key (``Draft.key``) is opaque to the ledger. The API makes it as
``key_of_legacy_id`` of the id it gave entries before keys were mapped (the
request's Idempotency-Key scoped to its credential), so the migration that
introduced the key map (``0005_entry_keys``) can map the ids of a journal's
recent entries, and a retry across the upgrade finds its entry. A key that is a
UUIDv7 (RFC 9562; the pages send them, ``new_uuid7``) keeps its millisecond at
the front of the scoped key, so the key map too grows at its end; a random key
lands on a page of its own anywhere in the map, and with a million keys in it an
append costs half as much CPU again (docs/benchmarks.md, "Growth to 1M").
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import threading
import time
import uuid
from collections.abc import Callable

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
ENTRY_ID_LENGTH = 26
_TIME_BITS, _RANDOM_BITS = 48, 80
_RANDOM_MAX = (1 << _RANDOM_BITS) - 1
_TIME_MAX = (1 << _TIME_BITS) - 1
KEY_HEX_DIGITS = 32  # 128 bits


# Hex digits of a scoped key that spell a UUIDv7's millisecond (48 bits); the rest
# (80 bits) are the SHA-256 of the legacy id, which tells callers apart.
_KEY_TIME_DIGITS = 12
_UUID7 = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-7[0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}"
)


def key_of_legacy_id(legacy_id: str) -> str:
    """The key under which an entry named ``legacy_id`` before keys were mapped is found:
    32 hex digits of its SHA-256 or, when the request's key (before the last ``:``) is a
    UUIDv7, 12 hex digits of that UUID's millisecond and 20 of the SHA-256."""
    digest = hashlib.sha256(legacy_id.encode()).hexdigest()
    key, colon, _tag = legacy_id.rpartition(":")
    milliseconds = uuid7_milliseconds(key) if colon else None
    if milliseconds is None:
        return digest[:KEY_HEX_DIGITS]
    return f"{milliseconds:0{_KEY_TIME_DIGITS}x}{digest[: KEY_HEX_DIGITS - _KEY_TIME_DIGITS]}"


def uuid7_milliseconds(text: str) -> int | None:
    """The Unix millisecond a UUIDv7 in its usual spelling (8-4-4-4-12 hex digits)
    was made in, or None for any other text."""
    if len(text) != 36 or not _UUID7.fullmatch(text):
        return None
    return int(text[:8] + text[9:13], 16)


def new_uuid7() -> str:
    """A fresh UUIDv7 (RFC 9562), lower case: the Unix millisecond, then random bits."""
    value = (_wall_milliseconds() << 80) | int.from_bytes(os.urandom(10), "big")
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # variant 10
    return str(uuid.UUID(int=value))


def _wall_milliseconds() -> int:
    return time.time_ns() // 1_000_000


# RFC 4648's base32 digits, in the order of their values, spelled in Crockford's.
_CROCKFORD = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", ALPHABET.encode())


def encode(milliseconds: int, random: int) -> str:
    """The id spelling ``milliseconds`` (48 bits) and ``random`` (80 bits)."""
    assert 0 <= milliseconds <= _TIME_MAX and 0 <= random <= _RANDOM_MAX
    value = (milliseconds << _RANDOM_BITS) | random
    # 26 digits are 130 bits: the 128 of the value after two zero bits, put at the
    # top of 17 bytes so that the standard encoder's digits fall on them.
    digits = base64.b32encode((value << 6).to_bytes(17, "big"))[:ENTRY_ID_LENGTH]
    return digits.translate(_CROCKFORD).decode()


def milliseconds_of(entry_id: str) -> int | None:
    """The millisecond an id of this module's shape was made in, or None for another shape."""
    if len(entry_id) != ENTRY_ID_LENGTH or entry_id[0] > "7":  # 128 bits: the first is 0-7
        return None
    value = 0
    for char in entry_id:
        digit = ALPHABET.find(char)
        if digit < 0:
            return None
        value = (value << 5) | digit
    return value >> _RANDOM_BITS


class EntryIds:
    """A source of time-ordered entry ids; each id sorts after the one before it.

    ``now_milliseconds`` and ``random_bytes`` are injected so tests can replay a
    sequence. If the clock steps back, ids keep counting on from the last one
    until it catches up, so order holds within the process.
    """

    def __init__(
        self,
        now_milliseconds: Callable[[], int] = _wall_milliseconds,
        random_bytes: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self._now = now_milliseconds
        self._random_bytes = random_bytes
        self._last_ms = -1
        self._last_random = 0
        self._lock = threading.Lock()  # bench and test threads may share one source

    def next(self) -> str:
        """A new id, later in string order than every id this source made before."""
        now = self._now()
        with self._lock:
            if now > self._last_ms:
                ms = now
                random = int.from_bytes(self._random_bytes(_RANDOM_BITS // 8), "big")
            elif self._last_random < _RANDOM_MAX:
                ms, random = self._last_ms, self._last_random + 1
            else:  # 2**80 ids in one millisecond: borrow the next one
                ms, random = self._last_ms + 1, 0
            self._last_ms, self._last_random = ms, random
        return encode(ms, random)


_DEFAULT = EntryIds()


def new_entry_id() -> str:
    """A time-ordered id from this process's source (see ``EntryIds``)."""
    return _DEFAULT.next()
