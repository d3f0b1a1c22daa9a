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

# Listings.
LIST_SIZE_MAX = 500
USER_AGENT_LABEL_MAX = 100
