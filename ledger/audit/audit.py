"""The audit: one streaming pass that holds a journal to the ledger's own rules.

``Audit`` is fed a journal's entries as bytes, in order, one at a time, and the
signed checkpoints that cover them. The offline bundle verifier
(``ledger.audit.verify``) and the live database audit (``buurtmunt audit``) both
drive this one class, so they check exactly the same things:

1. every line is the canonical encoding of a well-formed entry
   (``canonical.decode_entry`` and ``shape.check_shape``) of one community;
2. seqs run from 0 without gaps, ids are unique, times never go back, and each
   entry's ``prev`` is the leaf hash of the line before it;
3. every checkpoint verifies with the auditor's key and names the log's
   origin, and its root equals the root of the tree of the first ``size``
   lines; two checkpoints of one size with different roots are a fork; a
   checkpoint the auditor trusted earlier must match in the same way;
4. every entry passes ``rules.check_state`` against the state replayed from
   the entries before it (the very rules the writer enforces), and
   ``rules.check_authority`` (who acts: the rules the API enforces, from the
   coordinators the journal's staff entries declare), and the replayed
   balances equal those the operator claims.

The common line (one posting, no escapes) that passes every check is read by
the grammar of its canonical bytes (``canonical.scan_plain``) and checked and
replayed by the fast paths beside the rules (``shape.plain_shape_ok``,
``rules.authority_plain``, ``rules.apply_plain``) without building its
``Entry``; any line that fails one, or that an observer or a later correction
needs, takes the long way, which makes the findings. The part of that short
way which needs no order (``scan.scan_lines``) may be done in another process;
``Audit.feed_run`` does the rest.

Memory: every account, the current month's counters (times never go back, so
older months are dropped), the entries that corrections name (the caller finds
them with ``scan.correction_targets`` in a cheap pre-pass) and what their
corrections reversed so far, the Merkle frontier, and for the id check eight
bytes per entry plus a fixed bitmap; the rare suspects are confirmed exactly by
re-reading just those lines.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from ledger import limits
from ledger.audit.findings import AuditReport, Check, Finding, Number, b64, rule_message
from ledger.audit.scan import Run
from ledger.canonical import (
    ZERO_HASH,
    NotCanonical,
    PlainFields,
    decode_entry,
    entry_from_plain,
    scan_plain,
)
from ledger.checkpoint import Checkpoint, CheckpointError, LogKeys, open_checkpoint
from ledger.merkle import Frontier, leaf_hash, range_nodes, subtree_node
from ledger.model import AccountType, Draft, Entry, EntryKind, Rejected
from ledger.note import NoteError
from ledger.rules import apply, apply_plain, authority_plain, check_authority, check_state
from ledger.shape import check_shape, plain_shape_ok
from ledger.state import LedgerState

Observer = Callable[[Entry, LedgerState], None]


@dataclass(slots=True)
class _Signed:
    label: str
    checkpoint: Checkpoint
    trusted: bool


class Audit:
    """A streaming audit of one community's journal.

    Feed checkpoints with ``checkpoint`` before the stream reaches their size
    (any order among themselves), entries with ``feed`` in journal order, then
    confirm id suspects with ``duplicate_id_suspects`` / ``confirm_duplicate_ids``
    and call ``finish`` once. ``retain`` holds the seqs that corrections name
    (``correction_targets``); ``observer`` sees each entry with the state just
    before it is applied (statements use this).
    """

    def __init__(
        self,
        verifier: LogKeys,
        *,
        community: str | None = None,
        origin: str | None = None,
        retain: Iterable[int] = (),
        observer: Observer | None = None,
        findings_max: int = limits.AUDIT_FINDINGS_MAX,
        id_filter_bits: int = limits.AUDIT_ID_FILTER_BITS,
    ) -> None:
        self.state = LedgerState()
        self._verifier = verifier
        self._community = community
        self._origin = origin
        self._retain = frozenset(retain)
        self._retained = sorted(self._retain)
        self._observer = observer
        self._findings_max = findings_max
        self._findings: list[Finding] = []
        self._omitted = 0
        self._frontier = Frontier.empty()
        self._last_leaf = ZERO_HASH
        self._last_time = ""
        self._month = ""
        self._next_seq = 0
        # For the id check: per line, a 64-bit hash of its id; a bitmap of hashes
        # seen, so that only hashes seen twice need looking at in the end.
        self._ids = array("q")
        # A smaller journal may ask for a smaller bitmap (a power of two, at
        # least 8 bits): clearing the whole one costs more than auditing a few lines.
        assert 8 <= id_filter_bits <= limits.AUDIT_ID_FILTER_BITS
        assert id_filter_bits & (id_filter_bits - 1) == 0, "a power of two"
        self._id_bit_mask = id_filter_bits - 1
        self._seen = bytearray(id_filter_bits // 8)
        self._seen_twice: set[int] = set()
        self._pending: dict[int, list[_Signed]] = {}
        self._signed_size = -1  # the size whose signed roots are in _signed_roots
        self._signed_roots: dict[bytes, str] = {}
        self._forked: set[int] = set()
        self._good_size = 0  # the largest size whose signed root matched
        self._head: Checkpoint | None = None
        self._head_given = False  # a head was offered, whether or not it opened
        self._verified = 0

    @property
    def size(self) -> int:
        """How many lines were fed: the size of the tree so far."""
        return self._frontier.size

    def root(self) -> bytes:
        return self._frontier.root()

    @property
    def head(self) -> Checkpoint | None:
        """The verified checkpoint the journal claims to end at, once given."""
        return self._head

    @property
    def findings(self) -> tuple[Finding, ...]:
        return tuple(self._findings)

    # -- findings

    def add(self, seq: int | None, check: str, message: str, /, **numbers: Number) -> None:
        """Record a finding; beyond ``findings_max`` findings are only counted."""
        if len(self._findings) >= self._findings_max:
            self._omitted += 1
            return
        self._findings.append(Finding(seq, str(check), message, tuple(numbers.items())))

    # -- checkpoints

    def checkpoint(
        self, note: str, label: str, *, head: bool = False, trusted: bool = False
    ) -> Checkpoint | None:
        """Verify a signed checkpoint now; compare its root when the stream reaches its size.

        ``head`` marks the checkpoint the journal claims to end at; ``trusted``
        one the auditor kept from an earlier audit. Returns the checkpoint, or
        None when it does not verify with the auditor's key.
        """
        self._head_given = self._head_given or head
        try:
            checkpoint = open_checkpoint(note, self._verifier)
        except (NoteError, CheckpointError) as error:
            self.checkpoint_unreadable(label, error.reason)
            return None
        self._verified += 1
        if self._origin is None:
            self._origin = checkpoint.origin
        elif checkpoint.origin != self._origin:
            self.add(
                None,
                Check.CHECKPOINT_ORIGIN_MISMATCH,
                f"checkpoint {label} is for another log",
                checkpoint=label,
                origin=checkpoint.origin,
                expected_origin=self._origin,
            )
        if head:
            self._head = checkpoint
        signed = _Signed(label, checkpoint, trusted)
        if checkpoint.size < self.size:
            self.add(
                None,
                Check.CHECKPOINT_OUT_OF_ORDER,
                f"checkpoint {label} came after the stream passed its size",
                checkpoint=label,
                size=checkpoint.size,
                position=self.size,
            )
        elif checkpoint.size == self.size:
            self._resolve(checkpoint.size, [signed])
        else:
            self._pending.setdefault(checkpoint.size, []).append(signed)
        return checkpoint

    def checkpoint_unreadable(self, label: str, reason: str, *, head: bool = False) -> None:
        """A checkpoint that does not open: ``checkpoint_invalid`` with the reason."""
        self._head_given = self._head_given or head
        self.add(
            None,
            Check.CHECKPOINT_INVALID,
            f"checkpoint {label} does not verify with the given key ({reason})",
            checkpoint=label,
            reason=reason,
        )

    def _resolve(self, size: int, signed: list[_Signed]) -> None:
        root = self._frontier.root()
        if size != self._signed_size:
            self._signed_size, self._signed_roots = size, {}
        good = True
        for each in signed:
            self._signed_roots.setdefault(each.checkpoint.root, each.label)
            if each.checkpoint.root == root:
                continue
            good = False
            check = (
                Check.TRUSTED_CHECKPOINT_MISMATCH
                if each.trusted
                else Check.CHECKPOINT_ROOT_MISMATCH
            )
            self.add(
                size - 1 if size else None,
                check,
                f"checkpoint {each.label} signs a different tree of size {size}: "
                f"an entry in seq {self._good_size}..{size - 1} differs from what was signed",
                checkpoint=each.label,
                size=size,
                first_seq=self._good_size,
                signed_root=b64(each.checkpoint.root),
                replayed_root=b64(root),
            )
        if len(self._signed_roots) > 1 and size not in self._forked:
            self._forked.add(size)
            labels = sorted(self._signed_roots.values())
            self.add(
                size - 1 if size else None,
                Check.FORK,
                f"two checkpoints of size {size} sign different roots: {', '.join(labels)}",
                size=size,
                checkpoints=",".join(labels),
                roots=",".join(sorted(b64(r) for r in self._signed_roots)),
            )
        if good:
            self._good_size = max(self._good_size, size)

    # -- entries

    def feed(self, data: bytes) -> None:
        """Check the next line of the journal and replay it."""
        position = self._frontier.size
        fields = scan_plain(data)
        if fields is not None:
            if self._feed_plain(position, data, fields):
                return
            entry = entry_from_plain(fields, data)
        else:
            try:
                entry = decode_entry(data)
            except NotCanonical as error:
                self._undecodable(position, data, error)
                return
            except RecursionError:
                # Deeply nested arrays exhaust the C parser's stack.
                self._undecodable(position, data, NotCanonical("not_json", "nested too deep"))
                return
        self._check_place(position, entry)
        self._check_rules(position, entry)
        self._note_id(hash(entry.id))
        self._advance(position, entry.leaf)

    def _feed_plain(self, position: int, data: bytes, fields: PlainFields) -> bool:
        """The common line, checked and replayed without building its entry.

        Exactly what ``feed`` does for an entry that passes every check, in
        one go; False, with nothing changed, for anything else (a check that
        fails, a new month, an entry someone wants to see), which ``feed``
        then takes the long way, where the findings are made.
        """
        community, seq, time, prev, id_, kind, actor, payer, payee, amount, memo, ref, meta, co = (
            fields
        )  # fmt: skip
        if (
            not self._follows(community, seq, time, prev)
            or not plain_shape_ok(id_, kind, actor, payer, payee, amount, memo, ref, meta, co)
            or not authority_plain(self.state, kind, actor, payer, amount)
            or not apply_plain(self.state, position, kind, payer, payee, amount, self._month)
        ):
            return False
        self._accept_plain(position, seq, time, id_, leaf_hash(data))
        return True

    def _follows(self, community: str, seq: int, time: str, prev: bytes) -> bool:
        """Whether a common line takes its place after the last one with nothing to note:
        chained, next in sequence, same community and month, time not going back,
        and of no interest to an observer or a later correction."""
        return (
            prev == self._last_leaf
            and seq == self._next_seq
            and community == self._community
            and time >= self._last_time
            and time[:7] == self._month
            and self._observer is None
            and seq not in self._retain
        )

    def _accept_plain(self, position: int, seq: int, time: str, id_: str, leaf: bytes) -> None:
        """Record a line that passed every check: ``_note_id`` and ``_advance`` in one go."""
        self._next_seq = seq + 1
        self._last_time = time
        self._note_id(hash(id_))
        self._last_leaf = leaf
        self._frontier.append(leaf)
        if self._pending:
            pending = self._pending.pop(position + 1, None)
            if pending is not None:
                self._resolve(position + 1, pending)

    def feed_run(
        self, run: Run, read: Callable[[int, int], bytes], start: int = 0, stop: int = -1
    ) -> None:
        """``feed`` each of the lines ``start`` to ``stop`` (default: the last) of ``run``.

        What ``scan_lines`` checked within the run is not checked again: lines
        are taken in bulk as far as they join the lines before, are of no
        interest to a later correction, and pass ``rules.apply_plain``; a line
        that does not takes ``feed`` itself, whose bytes ``read(offset, size)``
        gives (from the file the run came from). The same checks and the same
        findings as ``feed``, line by line.
        """
        stop = len(run.kinds) if stop < 0 else stop
        ids = run.ids.split("\n")
        while start < stop:
            taken = self._take(run, ids, start, stop)
            if taken == start:
                begin = run.offset + (run.ends[start - 1] + 1 if start else 0)
                self.feed(read(begin, run.offset + run.ends[start] - begin))
                taken += 1
            start = taken

    def _take(self, run: Run, ids: list[str], start: int, stop: int) -> int:
        """Replay run lines from ``start`` on as ``_feed_plain`` would, up to ``stop``,
        a checkpoint's size or a seq a correction names; the index after the last taken."""
        seq = run.seq + start
        time = run.time(start)
        if not (
            self._observer is None
            and seq == self._next_seq
            and (run.prev if start == 0 else run.leaf(start - 1)) == self._last_leaf
            and run.community == self._community
            and time >= self._last_time
        ):
            return start
        if run.month != self._month:
            # What ``_check_rules`` does first in a new month: older months are done.
            self.state.monthly.clear()
            self._month = run.month
        position = self._frontier.size
        retained = self._retained
        after = bisect_left(retained, seq)
        if after < len(retained):
            stop = min(stop, start + retained[after] - seq)
        if self._pending:
            stop = min(stop, start + min(self._pending) - position)
        state, month = self.state, run.month
        end = start
        # Without an approval threshold there is no authority to check.
        authority = state.settings.approval_threshold_minutes is not None
        for at, kind, actor, payer, payee, amount in zip(
            range(position, position + stop - start),
            run.kinds[start:stop],
            run.actors[start:stop],
            run.payers[start:stop],
            run.payees[start:stop],
            run.amounts[start:stop],
            strict=True,
        ):
            if authority and not authority_plain(state, kind, actor, payer, amount):
                break
            if not apply_plain(state, at, kind, payer, payee, amount, month):
                break
            end += 1
        if end > start:
            self._accept_run(run, ids, start, end, position)
        return end

    def _accept_run(self, run: Run, ids: list[str], start: int, end: int, position: int) -> None:
        """``_accept_plain`` for run lines ``start`` to ``end``, which passed every check."""
        self._note_ids(list(map(hash, ids[start:end])))
        self._next_seq = run.seq + end
        self._last_time = run.time(end - 1)
        self._last_leaf = run.leaf(end - 1)
        frontier = self._frontier
        if run.seq + start == position:
            # The run's tree was built for exactly these leaf positions.
            for level, index in range_nodes(position, position + end - start):
                frontier.append_subtree(level, subtree_node(run.levels, run.seq, level, index))
        else:
            for index in range(start, end):
                frontier.append(run.leaf(index))
        if self._pending:
            pending = self._pending.pop(frontier.size, None)
            if pending is not None:
                self._resolve(frontier.size, pending)

    def _undecodable(self, position: int, data: bytes, error: NotCanonical) -> None:
        self.add(
            position,
            Check.NOT_CANONICAL,
            f"line is not the canonical encoding of a well-formed entry ({error.reason})",
            reason=error.reason,
            detail=error.detail[:120],
        )
        self._note_id(hash((position, "undecodable")))
        self._next_seq += 1
        self._advance(position, leaf_hash(data))

    def _advance(self, position: int, leaf: bytes) -> None:
        """Add the line's leaf to the tree; compare the checkpoints of the new size."""
        self._last_leaf = leaf
        self._frontier.append(leaf)
        pending = self._pending.pop(position + 1, None)
        if pending is not None:
            self._resolve(position + 1, pending)

    def _check_place(self, position: int, entry: Entry) -> None:
        if entry.prev != self._last_leaf:
            self.add(
                position,
                Check.HASH_CHAIN_BROKEN,
                "prev is not the hash of the line before: one of the two was changed",
                previous_seq=position - 1,
                expected_prev=self._last_leaf.hex(),
                found_prev=entry.prev.hex(),
            )
        if entry.seq != self._next_seq:
            self.add(
                position,
                Check.SEQ_OUT_OF_ORDER,
                "seq does not follow the one before: an entry is missing, moved or inserted",
                expected_seq=self._next_seq,
                found_seq=entry.seq,
            )
        self._next_seq = entry.seq + 1
        if self._community is None:
            self._community = entry.community
        elif entry.community != self._community:
            self.add(
                position,
                Check.WRONG_COMMUNITY,
                "entry belongs to another community",
                community=entry.community,
                expected_community=self._community,
            )
        if entry.time < self._last_time:
            self.add(
                position,
                Check.TIME_WENT_BACK,
                "time is earlier than the entry before",
                time=entry.time,
                previous_time=self._last_time,
            )
        self._last_time = entry.time

    def _check_rules(self, position: int, entry: Entry) -> None:
        state = self.state
        draft = entry.draft
        month = entry.time[:7]
        if month != self._month:
            # Counters are per month and times never go back: older months are done.
            state.monthly.clear()
            self._month = month
        state.size = position
        rejected = check_shape(draft)
        if rejected is None:
            rejected = check_state(state, draft, month) or check_authority(state, draft)
        if rejected is not None:
            self._rule_finding(position, draft, rejected)
        if self._observer is not None:
            self._observer(entry, state)
        # The replay follows the journal as written, even past a broken rule,
        # as long as the entry can be applied at all.
        if rejected is None or _applicable(state, draft):
            apply(state, entry)
        state.size = position + 1
        if entry.seq in self._retain:
            state.originals[entry.seq] = entry

    def _rule_finding(self, position: int, draft: Draft, rejected: Rejected) -> None:
        numbers: dict[str, Number] = {"id": draft.id, "kind": draft.kind.value}
        if len(draft.postings) == 1:
            posting = draft.postings[0]
            numbers.update(payer=posting.payer, payee=posting.payee)
            numbers["minutes"] = posting.amount_minutes
        if draft.corrects is not None:
            numbers["corrects"] = draft.corrects
        numbers.update(rejected.numbers)
        self.add(position, rejected.code, rule_message(rejected.code), **numbers)

    # -- ids

    def _note_id(self, fingerprint: int) -> None:
        self._note_ids((fingerprint,))

    def _note_ids(self, fingerprints: Sequence[int]) -> None:
        """Remember ids by fingerprint; one seen before is a suspect (``duplicate_id_suspects``)."""
        self._ids.extend(fingerprints)
        seen, twice, bit_mask = self._seen, self._seen_twice, self._id_bit_mask
        for fingerprint in fingerprints:
            bit = fingerprint & bit_mask
            mask = 1 << (bit & 7)
            byte = seen[bit >> 3]
            if byte & mask:
                twice.add(fingerprint)
            else:
                seen[bit >> 3] = byte | mask

    def duplicate_id_suspects(self) -> list[int]:
        """Lines whose id hash another line shares (at most AUDIT_ID_SUSPECTS_MAX).

        Usually none. The bitmap lets a few hashes through that were only
        alike in their low bits; the second look below sorts those out. The
        caller re-reads the suspects and passes them to ``confirm_duplicate_ids``,
        which compares the ids themselves.
        """
        twice = self._seen_twice
        if not twice:
            return []
        lines: dict[int, list[int]] = {}
        for position, fingerprint in enumerate(self._ids):
            if fingerprint in twice:
                lines.setdefault(fingerprint, []).append(position)
        suspects = sorted(p for group in lines.values() if len(group) > 1 for p in group)
        return suspects[: limits.AUDIT_ID_SUSPECTS_MAX]

    def confirm_duplicate_ids(self, lines: Mapping[int, bytes]) -> None:
        """Name every line (seq) whose id an earlier line already used."""
        first: dict[str, int] = {}
        for position in sorted(lines):
            try:
                entry_id = decode_entry(lines[position]).id
            except NotCanonical:
                continue
            earlier = first.setdefault(entry_id, position)
            if earlier != position:
                self.add(
                    position,
                    Check.DUPLICATE_ID,
                    "id was already used by an earlier entry",
                    id=entry_id,
                    first_seq=earlier,
                )

    # -- the end

    def finish(
        self, claimed_balances: Mapping[str, int] | None = None, claimed_size: int | None = None
    ) -> AuditReport:
        """Check what only the end can tell, and report.

        ``claimed_balances`` are the balances the operator holds for the journal
        of ``claimed_size`` entries (the export's ``balances.json``, or the
        database's cache).
        """
        self._check_end()
        if claimed_balances is not None:
            self._check_balances(claimed_balances, claimed_size)
        accounts = self.state.accounts
        assert sum(a.balance_minutes for a in accounts.values()) == 0, "replay moved minutes"
        outstanding = sum(
            a.balance_minutes
            for a in accounts.values()
            if a.spec.type in (AccountType.MEMBER, AccountType.SHOP)
        )
        return AuditReport(
            size=self.size,
            root=self.root(),
            head=self._head,
            accounts=len(accounts),
            outstanding_minutes=outstanding,
            checkpoints_verified=self._verified,
            findings=tuple(self._findings),
            findings_omitted=self._omitted,
        )

    def _check_end(self) -> None:
        size = self.size
        for pending_size in sorted(self._pending):
            for each in self._pending[pending_size]:
                check = (
                    Check.TRUSTED_CHECKPOINT_BEYOND_END
                    if each.trusted
                    else Check.CHECKPOINT_BEYOND_END
                )
                self.add(
                    size,
                    check,
                    f"checkpoint {each.label} covers {pending_size} entries but the journal "
                    f"ends after {size}: entries {size}..{pending_size - 1} are missing",
                    checkpoint=each.label,
                    size=pending_size,
                    journal_size=size,
                )
        self._pending.clear()
        head = self._head
        if head is None:
            # A head that does not open is named once, as checkpoint_invalid.
            if size and not self._head_given:
                self.add(None, Check.NO_CHECKPOINT, "no checkpoint signs the journal's head")
        elif head.size < size:
            self.add(
                head.size,
                Check.HEAD_SIZE_MISMATCH,
                f"entries {head.size}..{size - 1} come after the latest checkpoint: unsigned",
                head_size=head.size,
                journal_size=size,
            )
        origin, community = self._origin, self._community
        if origin is not None and community is not None and not origin.endswith("/" + community):
            self.add(
                None,
                Check.CHECKPOINT_ORIGIN_MISMATCH,
                "the checkpoints' origin does not name the journal's community",
                origin=origin,
                community=community,
            )

    def _check_balances(self, claimed: Mapping[str, int], claimed_size: int | None) -> None:
        if claimed_size is not None and claimed_size != self.size:
            self.add(
                None,
                Check.BALANCES_SIZE_MISMATCH,
                "the claimed balances are for a journal of another length",
                claimed_size=claimed_size,
                journal_size=self.size,
            )
        if sum(claimed.values()) != 0:
            self.add(
                None,
                Check.BALANCES_DO_NOT_SUM_TO_ZERO,
                "the claimed balances do not sum to zero",
                claimed_sum_minutes=sum(claimed.values()),
            )
        accounts = self.state.accounts
        for account_id in sorted(set(claimed) | set(accounts)):
            replayed = accounts[account_id].balance_minutes if account_id in accounts else None
            held = claimed.get(account_id)
            if held == replayed:
                continue
            self.add(
                None,
                Check.BALANCE_MISMATCH,
                f"account {account_id}: the claimed balance differs from the replayed journal",
                account=account_id,
                claimed_minutes="absent" if held is None else held,
                replayed_minutes="absent" if replayed is None else replayed,
            )


def _applicable(state: LedgerState, draft: Draft) -> bool:
    """Whether ``apply`` can follow ``draft`` although a check failed."""
    accounts = state.accounts
    kind = draft.kind
    if kind is EntryKind.OPEN:
        account = draft.account
        return (
            account is not None
            and account.id not in accounts
            and (account.type is not AccountType.COMMUNITY or state.community_account is None)
        )
    if kind is EntryKind.BUDGET or kind is EntryKind.STAFF:
        named = draft.budget or draft.staff
        org = None if named is None else accounts.get(named.organisation)
        return org is not None and org.spec.type is AccountType.ORGANISATION
    if kind is EntryKind.CONFIGURE:
        return draft.settings is not None
    return all(p.payer in accounts and p.payee in accounts for p in draft.postings)
