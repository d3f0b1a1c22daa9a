"""Every bound the ledger enforces, by name.

A loop over outside data is bounded by one of these; a value from outside that
passes one of these bounds is rejected, never truncated.
"""

from __future__ import annotations

# The format version the ledger writes; a verifier reads every one of these.
FORMAT_VERSION = 2
FORMAT_VERSIONS = (1, 2)

# Integers in canonical JSON must be exactly representable as IEEE doubles.
JSON_INTEGER_MAX = 2**53 - 1

# One posting moves at most this many minutes (10,000 hours).
TRANSFER_MINUTES_MAX = 600_000
# No account balance, budget or cap may exceed this magnitude.
BALANCE_MINUTES_MAX = 2**40
BUDGET_MINUTES_PER_MONTH_MAX = 100_000_000
EARNING_CAP_MINUTES_PER_MONTH_MAX = 100_000
# An earning above the community's approval threshold needs a second coordinator.
APPROVAL_THRESHOLD_MINUTES_MAX = TRANSFER_MINUTES_MAX

ENTRY_ID_LENGTH_MAX = 64
# Keys forgotten in one transaction when keys older than the retention window go.
KEY_PRUNE_BATCH_MAX = 10_000
ACCOUNT_ID_LENGTH_MAX = 40
ACTOR_ID_LENGTH_MAX = 40
COMMUNITY_SLUG_LENGTH_MAX = 40
MEMO_LENGTH_MAX = 280
REFERENCE_LENGTH_MAX = 128
META_KEYS_MAX = 16
META_KEY_LENGTH_MAX = 32
META_VALUE_LENGTH_MAX = 200
# The meta object's canonical JSON, keys and values together: keeps the widest
# well-shaped entry under ENTRY_BYTES_MAX (16 values of 200 four-byte characters would not).
META_BYTES_MAX = 4_096
POSTINGS_PER_ENTRY_MAX = 8
# Account ids the shape check remembers as well formed (a cache, cleared when full).
ACCOUNT_ID_CACHE_MAX = 65_536
ENTRY_BYTES_MAX = 8_192

# Group commit: the writer closes a batch at this many drafts.
BATCH_SIZE_MAX = 2_048
# Turns of the event loop a batch waits for more drafts while the one before is being
# written (``Writer._next_batch``): enough for a request read in the first turn to reach
# the queue. Fewer batches for as many drafts: each batch costs its commit and, on
# PostgreSQL, a statement planned for it.
GATHER_TURNS_MAX = 4
# Waiting drafts beyond this are refused with a retryable error.
QUEUE_LENGTH_MAX = 100_000
# Leases (ledger.lease): how often a draft is offered to a community's holder, or
# its lease tried, before the process appends it itself; the pause after each miss.
FORWARD_ATTEMPTS_MAX = 5
FORWARD_RETRY_SECONDS = 0.02
# How long a forwarded draft waits for its holder's answer before the caller is told
# the ledger is unavailable (a 503 to retry with the same key): a holder that hangs
# (stopped, not dead) keeps its lease, and must not keep requests waiting forever.
FORWARD_WAIT_SECONDS = 10.0
# A forwarded draft or its answer: a draft's encoding is bounded by its fields' limits.
FORWARD_FRAME_BYTES_MAX = 1 << 20

# Merkle proofs: a tree of at most 2**63 leaves needs at most 63 hashes for
# inclusion and 2 * 63 for consistency.
TREE_SIZE_MAX = 2**63 - 1
PROOF_HASHES_MAX = 128

# The checkpoint cadence (ledger.cadence): a writer signs its head at least this
# often while it has unsigned entries, and at most this many entries behind it.
CHECKPOINT_INTERVAL_SECONDS_MAX = 3_600.0
# A receipt or statement asked for entries no checkpoint covers yet waits at most
# this long beyond the cadence's interval for one (``Ledger.checkpoint_wait_seconds``).
CHECKPOINT_WAIT_MARGIN_SECONDS = 0.5

# Signed notes.
NOTE_BYTES_MAX = 16_384
NOTE_SIGNATURES_MAX = 16
KEY_NAME_LENGTH_MAX = 128
# A witness's add-checkpoint request (c2sp.org/tlog-witness): at most 63 proof
# lines, so the whole body fits the note and 64 lines of 45 characters.
WITNESS_PROOF_HASHES_MAX = 63
WITNESS_REQUEST_CHARS_MAX = 64 + 64 * 45 + NOTE_BYTES_MAX
# Witnesses the ledger asks to cosign its checkpoints (their lines and the log's
# own must fit NOTE_SIGNATURES_MAX), and logs a witness follows.
WITNESSES_MAX = 8
WITNESS_LOGS_MAX = 10_000
# A witness that answers 404 for a community's origin does not follow that log:
# it is asked again this much later, not at every checkpoint or retry.
WITNESS_UNFOLLOWED_RECHECK_SECONDS = 3_600.0
# The opaque, unauthenticated extra data a tlog-proof receipt may carry.
RECEIPT_EXTRA_BYTES_MAX = 1_024

# Reads.
PAGE_SIZE_MAX = 500
# An account's history is indexed (table account_history) behind the journal, in
# one sorted pass once this many entries are unindexed: per entry that costs a
# fraction of keeping an index on every batch. A history read scans at most this
# many newest entries directly.
HISTORY_LAG_MAX = 8_192
PAGE_SIZE_DEFAULT = 50
ENTRY_RANGE_MAX = 1_000

# Audit and export bundles.
# An audit keeps at most this many findings; the rest are only counted.
AUDIT_FINDINGS_MAX = 1_000
# Duplicate-id suspects an audit re-reads to confirm (each names one entry).
AUDIT_ID_SUSPECTS_MAX = 10_000
# The audit's bitmap of id hashes seen (16 MiB): a power of two.
AUDIT_ID_FILTER_BITS = 2**27
# A bundle holds at most this many checkpoints (notes in checkpoints.txt, or
# files in a version 1 bundle's checkpoints/).
BUNDLE_CHECKPOINTS_MAX = 1_000_000
# checkpoints.txt is read whole, so its size is bounded too.
BUNDLE_CHECKPOINTS_TEXT_BYTES_MAX = 256 * 1024 * 1024
# balances.json and manifest.json are read whole, so their size is bounded.
BUNDLE_JSON_BYTES_MAX = 64 * 1024 * 1024
# A statement's monthly series covers at most this many months.
STATEMENT_MONTHS_MAX = 600
