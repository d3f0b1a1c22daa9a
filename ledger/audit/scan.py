"""The order-free part of the audit, which worker processes may do ahead.

``correction_targets`` is the audit's pre-pass: the seqs that corrections name,
whose entries the audit must keep. ``scan_lines`` turns the lines of a stretch
of the journal into runs of common lines that already follow one another (each
line's prev is the leaf hash of the one before, seqs count up by one, one
community, one month, times never going back), hashed and with the Merkle
subtrees inside them built, and leaves every other line as it is.
``Audit.feed_run`` then checks only how a run joins the lines before it and
replays it. Both depend on nothing but the lines (``ledger.audit.verify`` runs
``scan_lines`` in worker processes).
"""

from __future__ import annotations

import hashlib
import json
import re
from array import array
from collections.abc import Iterable
from typing import NamedTuple

from ledger import limits
from ledger.clock import TIME_WIDTH
from ledger.merkle import LEAF_PREFIX, subtree_levels
from ledger.model import MOVING_KINDS, EntryKind
from ledger.shape import SHAPED_ENTRY_GRAMMAR, shaped_texts_ok

CORRECTION_MARK = b'"kind":"correct"'


def correction_targets(lines: Iterable[bytes]) -> set[int]:
    """The seqs that correction entries among ``lines`` name: the audit's pre-pass.

    Cheap: only lines containing the literal ``"kind":"correct"`` are parsed.
    Inside a JSON string every quote is escaped, so that literal can only be
    the member itself: a canonical correction is never missed. A line that
    merely looks like one costs a parse and at worst retains an extra entry.
    """
    targets: set[int] = set()
    for line in lines:
        if CORRECTION_MARK not in line:
            continue
        try:
            value = json.loads(line)
        except ValueError:
            continue
        corrects = value.get("corrects") if isinstance(value, dict) else None
        if type(corrects) is int and 0 <= corrects <= limits.JSON_INTEGER_MAX:
            targets.add(corrects)
    return targets


# Every line of a text at once: a shaped entry's groups, or all groups empty.
_SHAPED_LINES = re.compile("(?m)^(?:" + SHAPED_ENTRY_GRAMMAR + "|.*)$").findall
_SHAPED_LINE = re.compile(SHAPED_ENTRY_GRAMMAR).fullmatch
_NO_ENTRY = ("",) * 14
_MINUTES_MAX = str(limits.TRANSFER_MINUTES_MAX)
_KINDS = {kind.value: kind for kind in MOVING_KINDS}


def _shaped_groups(lines: list[bytes]) -> list[tuple[str, ...]]:
    """Per line, the groups of ``shape.SHAPED_ENTRY_GRAMMAR`` (absent ones empty), or ``_NO_ENTRY``.

    One ``findall`` over all the lines costs a fraction of a match per line;
    should the lines not be UTF-8, each is matched on its own.
    """
    try:
        groups = _SHAPED_LINES(b"\n".join(lines).decode("utf-8"))
    except UnicodeDecodeError:
        groups = []
    if len(groups) == len(lines):  # one match per line, as lines cannot hold a newline
        return groups
    return [_shaped_line(line) for line in lines]


def _shaped_line(data: bytes) -> tuple[str, ...]:
    try:
        match = _SHAPED_LINE(data.decode("utf-8"))
    except UnicodeDecodeError:
        return _NO_ENTRY
    return _NO_ENTRY if match is None else match.groups("")


class Run(NamedTuple):
    """Consecutive common lines that follow one another, as ``scan_lines`` found them.

    Per line: its end (relative to ``offset``, where the first line starts in
    the file), time, id, kind, actor, payer, payee and minutes. The lines' seqs count
    up from ``seq``; ``prev`` is the first line's, each other's is the leaf
    hash of the line before. ``levels`` is the Merkle tree over the lines as
    far as it is complete, as if line i were leaf ``seq + i``: ``levels[0]``
    the leaf hashes, ``levels[k]`` the hashes of the aligned subtrees of
    2**k leaves inside the run, left to right, 32 bytes each.
    """

    offset: int
    ends: array[int]
    community: str
    seq: int
    prev: bytes
    month: str
    times: str  # TIME_WIDTH characters a line
    ids: str  # joined by newlines, which no id holds
    kinds: list[EntryKind]
    actors: list[str]
    payers: list[str]
    payees: list[str]
    amounts: list[int]
    levels: list[bytes]

    def leaf(self, index: int) -> bytes:
        return self.levels[0][index * 32 : index * 32 + 32]

    def time(self, index: int) -> str:
        return self.times[index * TIME_WIDTH : (index + 1) * TIME_WIDTH]


def scan_lines(lines: list[bytes], offset: int) -> list[Run | bytes]:
    """The order-free part of ``Audit.feed`` for consecutive lines starting at byte ``offset``.

    Lines that ``Audit.feed`` could take the short way (the canonical encoding
    of a well-shaped common entry, by ``shape.SHAPED_ENTRY_GRAMMAR``;
    corrections aside) and that follow one another become runs; any other
    line is returned as it is, cut to ENTRY_BYTES_MAX + 1 bytes (as
    ``Bundle.entries`` cuts it), for ``Audit.feed``.
    """
    bound = limits.ENTRY_BYTES_MAX + 1
    items: list[Run | bytes] = []
    names: dict[str, str] = {}  # one object per account id: sent once, hashed once
    sha256 = hashlib.sha256
    rows: list[tuple[str, ...]] = []  # the groups of the run's lines so far
    leaves: list[bytes] = []
    ends = array("I")
    begin = start = offset  # where the run and the line start
    last_seq, last_hex, last_time = -1, "", ""
    for row, data in zip(_shaped_groups(lines), lines, strict=True):
        (_, community, corrects, _, _, memo, meta,
         payer, minutes, payee, prev, reference, seq, time) = row  # fmt: skip
        size = len(data)
        number = int(seq) if prev else -1
        # The rest of ``shape.plain_shape_ok``, which the grammar cannot say.
        if (
            number < 0  # not the grammar's
            or corrects
            or payer == payee
            or (len(minutes) == len(_MINUTES_MAX) and minutes > _MINUTES_MAX)
            or size > limits.ENTRY_BYTES_MAX
            or number > limits.JSON_INTEGER_MAX
            or ((memo or reference or meta) and not shaped_texts_ok(memo, reference, meta))
        ):
            if rows:
                items.append(_run(rows, leaves, ends, begin, names))
                rows, leaves, ends = [], [], array("I")
            items.append(data[:bound])
            start += size + 1
            continue
        if rows and not (
            number == last_seq + 1
            and prev == last_hex
            and community == rows[0][1]
            and last_time <= time
            and time[:7] == last_time[:7]
        ):
            items.append(_run(rows, leaves, ends, begin, names))
            rows, leaves, ends = [], [], array("I")
        if not rows:
            begin = start
        leaf = sha256(LEAF_PREFIX + data).digest()
        rows.append(row)
        leaves.append(leaf)
        start += size + 1
        ends.append(start - 1 - begin)
        last_seq, last_hex, last_time = number, leaf.hex(), time
    if rows:
        items.append(_run(rows, leaves, ends, begin, names))
    return items


def _run(
    rows: list[tuple[str, ...]],
    leaves: list[bytes],
    ends: array[int],
    offset: int,
    names: dict[str, str],
) -> Run:
    """The run of these lines' groups and leaf hashes, a column at a time."""
    (actors, communities, _, ids, kinds, _, _,
     payers, minutes, payees, prevs, _, seqs, times) = zip(*rows, strict=True)  # fmt: skip
    intern = names.setdefault
    first = int(seqs[0])
    return Run(
        offset, ends, communities[0], first, bytes.fromhex(prevs[0]), times[0][:7],
        "".join(times), "\n".join(ids), list(map(_KINDS.__getitem__, kinds)),
        list(map(intern, actors, actors)), list(map(intern, payers, payers)),
        list(map(intern, payees, payees)),
        list(map(int, minutes)), subtree_levels(first, b"".join(leaves)),
    )  # fmt: skip
