"""Every bound the API enforces, by name (the ledger's own bounds are in ``ledger.limits``)."""

from __future__ import annotations

NAME_LENGTH_MAX = 100
PHONE_LENGTH_MAX = 32
EMAIL_LENGTH_MAX = 254
NEIGHBOURHOOD_LENGTH_MAX = 100
CURRENCY_NAME_LENGTH_MAX = 40
ACTIVITY_LENGTH_MAX = 200
LABEL_LENGTH_MAX = 100
REASON_LENGTH_MAX = 280
ROLES_PER_REQUEST_MAX = 8

# Volunteer work may be recorded up to this many days after it was done.
WORKED_ON_DAYS_BACK_MAX = 366

# Enrolment links: valid this long, and this many bad tokens from one client
# address within the window lock that address out for LOCKOUT_SECONDS.
ENROLMENT_LINK_SECONDS = 24 * 3600
LOCKOUT_FAILURES_MAX = 10
LOCKOUT_WINDOW_SECONDS = 15 * 60
LOCKOUT_SECONDS = 15 * 60

# Payments: failed (rejected) payment attempts per credential before a lockout.
PAYMENT_FAILURES_MAX = 20

# An API token may be made to expire at most this many days ahead.
TOKEN_LIFETIME_DAYS_MAX = 3_660

# How long a resolved credential is trusted without asking the database again.
# A revocation through this process applies at once; one made through another
# worker process takes effect within this time.
AUTH_CACHE_SECONDS = 30.0
AUTH_CACHE_ENTRIES_MAX = 50_000
RATE_BUCKETS_MAX = 100_000

# Idempotent replays of non-ledger POSTs.
IDEMPOTENCY_KEY_LENGTH_MAX = 64
IDEMPOTENT_RESPONSE_BYTES_MAX = 64 * 1024
# A concurrent duplicate waits this long for the first request to finish.
IDEMPOTENCY_WAIT_SECONDS = 10.0
# A claimed key whose request never finished may be taken over after this long.
IDEMPOTENCY_STALE_SECONDS = 30

# Payment requests: the RID is 128 random bits in 26 upper-case base32 characters.
PAYMENT_REQUEST_ID_LENGTH = 26
PAYMENT_REQUEST_SECONDS_MAX = 24 * 3600
# A claim on a request ("paying") that never finished is resolved after this long.
PAYMENT_CLAIM_STALE_SECONDS = 30
# Open event streams one process serves (each also re-reads its request on every
# heartbeat, so a missed notification costs at most one heartbeat).
EVENT_STREAMS_MAX = 20_000
# Shops' and organisations' public names kept in memory by the payment path.
PUBLIC_NAMES_MAX = 10_000
# Payment requests' terms kept in memory by the payment path.
PAYMENT_REQUEST_TERMS_MAX = 20_000
# Rendered QR images kept in memory (one PNG costs about 10 ms to draw).
QR_CACHE_ENTRIES_MAX = 2_048
# Statements the municipality's dashboard keeps, each for one checkpoint and period.
STATEMENT_CACHE_ENTRIES_MAX = 32

# Pay codes (RFC 6238): 30-second steps, one step of clock skew either way;
# wrong codes in a row before a device's codes lock, and for how long.
PAY_CODE_STEP_SECONDS = 30
PAY_CODE_SKEW_STEPS = 1
PAY_CODE_FAILURES_MAX = 5
PAY_CODE_LOCK_SECONDS = 15 * 60
# Printed cards: wrong PINs before the card locks (a coordinator unlocks by
# issuing a new card); PIN length.
CARD_PIN_FAILURES_MAX = 5
CARD_PIN_LENGTH_MIN = 4
CARD_PIN_LENGTH_MAX = 6
CARD_PAYLOAD_LENGTH_MAX = 400
# Community caps on payments taken with a pay code or a card.
OFFLINE_PAYMENT_MINUTES_MAX = 100_000
REFUND_WINDOW_DAYS_MAX = 3_660

# A shop's statement (or its month so far) reads at most this many of the shop's
# entries, from the newest back past the month asked for.
STATEMENT_ENTRIES_MAX = 100_000
# Display names are looked up this many accounts per query.
NAMES_PER_QUERY = 500

# Request bodies: arrays and objects nested deeper than this are refused before
# decoding (no body this API takes nests more than four deep). Request headers:
# their names and values together, at most this many bytes.
JSON_DEPTH_MAX = 32
REQUEST_HEADER_BYTES_MAX = 16 * 1024
# What one connection may send of a request's line and headers before they end
# (``buurtmunt serve``'s HTTP protocol; the headers' own bound above is the app's).
REQUEST_HEAD_BYTES_MAX = 32 * 1024

# Listings.
LIST_SIZE_MAX = 500
USER_AGENT_LABEL_MAX = 100

# Observability: an X-Request-Id from the client is kept when it is this short
# and plain; otherwise the server issues its own.
REQUEST_ID_LENGTH_MAX = 64
# /ready: the database must answer within this long; a writer with drafts
# waiting and no commit for this long counts as stalled.
READY_DATABASE_SECONDS = 2.0
READY_WRITER_STALL_SECONDS = 30.0
# Log lines wait at most this long, or until this many bytes are waiting, before
# one write hands them on (a warning or an error goes at once, with those before it).
LOG_FLUSH_SECONDS = 0.2
LOG_BUFFER_BYTES_MAX = 64 * 1024

# Leases (api.leases): the communities a worker process looks at when it takes
# its share of the writers.
LEASE_COMMUNITIES_MAX = 10_000

# Old idempotency keys are forgotten this often, at most this many transactions
# (of ledger.limits.KEY_PRUNE_BATCH_MAX keys) per community each time.
KEY_PRUNE_INTERVAL_SECONDS = 15 * 60
KEY_PRUNE_ROUNDS_MAX = 100
# Credentials whose key tag (``api.idempotency.legacy_entry_id``) is remembered.
CREDENTIAL_TAGS_CACHED_MAX = 4_096
