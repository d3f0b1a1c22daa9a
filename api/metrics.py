"""Prometheus metrics: what they are, the ledger's commit observer, and ``GET /metrics``.

The metrics live in prometheus-client's default registry, made once per process
at import. With several worker processes (``buurtmunt serve --workers N``)
every worker writes its values to files in ``PROMETHEUS_MULTIPROC_DIR`` (the
``serve`` command makes a fresh directory for each run) and a scrape of any
worker adds up all of them: counters and histograms over every worker that ran
since the start, open event streams over the workers alive now.

Checkpoint age is computed when scraped, from the time the newest checkpoint
of each community was signed by any of these processes; it is absent for a
community until one of them has signed a checkpoint since the start.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from litestar import Response, get
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as prometheus_multiprocess
from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from ledger import limits

MULTIPROCESS_DIRECTORY = "PROMETHEUS_MULTIPROC_DIR"
# The label of requests that matched no route: scanners must not make a series per path.
UNMATCHED_ROUTE = "unmatched"

REQUEST_SECONDS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10)
COMMIT_SECONDS_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5)
BATCH_DRAFTS_BUCKETS = tuple(
    float(n)
    for n in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192)
    if n <= limits.BATCH_SIZE_MAX
)

REQUESTS = Counter(
    "buurtmunt_http_requests",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
)
REQUEST_SECONDS = Histogram(
    "buurtmunt_http_request_duration_seconds",
    "From the request's arrival in the app to the last byte of its response.",
    ["method", "route"],
    buckets=REQUEST_SECONDS_BUCKETS,
)
PROBLEMS = Counter(
    "buurtmunt_problems",
    "Problem responses (RFC 9457), by stable code and status: rejections and refusals.",
    ["code", "status"],
)
EVENT_STREAMS = Gauge(
    "buurtmunt_event_streams_open",
    "Payment-request event streams open now.",
    multiprocess_mode="livesum",
)
BATCH_DRAFTS = Histogram(
    "buurtmunt_ledger_batch_drafts",
    "Drafts answered by one group commit.",
    ["community"],
    buckets=BATCH_DRAFTS_BUCKETS,
)
BATCH_ENTRIES = Counter(
    "buurtmunt_ledger_entries_appended", "Entries appended to the journal.", ["community"]
)
COMMIT_SECONDS = Histogram(
    "buurtmunt_ledger_commit_duration_seconds",
    "One group commit, from its write to its commit.",
    ["community"],
    buckets=COMMIT_SECONDS_BUCKETS,
)
BATCH_FAILURES = Counter(
    "buurtmunt_ledger_batch_failures", "Batches that could not be committed.", ["community"]
)
DRAFTS_FORWARDED = Counter(
    "buurtmunt_ledger_drafts_forwarded",
    "Drafts handed to the worker holding the community's lease, by how that ended "
    "(answered, no_holder: appended here instead, holder_gone: offered again, "
    "timed_out: no answer in time, the caller told to retry).",
    ["community", "outcome"],
)
CHECKPOINT_SIGNED_NAME = "buurtmunt_ledger_checkpoint_timestamp_seconds"
CHECKPOINT_SIGNED = Gauge(
    CHECKPOINT_SIGNED_NAME,
    "Unix time the newest checkpoint was signed.",
    ["community"],
    multiprocess_mode="max",
)
CHECKPOINT_AGE = "buurtmunt_ledger_checkpoint_age_seconds"


@dataclass(slots=True)
class WriterActivity:
    """What this process's writer of one community did last (for ``/ready``)."""

    last_commit_monotonic: float | None = None
    commits: int = 0
    failures: int = 0


class CommitMetrics:
    """The ledger's ``CommitObserver``: counts each group commit and remembers when it was."""

    def __init__(self) -> None:
        self.activity: dict[str, WriterActivity] = {}

    def _of(self, community: str) -> WriterActivity:
        activity = self.activity.get(community)
        if activity is None:
            activity = self.activity[community] = WriterActivity()
        return activity

    def batch_committed(self, community: str, drafts: int, entries: int, seconds: float) -> None:
        activity = self._of(community)
        activity.last_commit_monotonic = time.monotonic()
        activity.commits += 1
        BATCH_DRAFTS.labels(community).observe(drafts)
        COMMIT_SECONDS.labels(community).observe(seconds)
        if entries:
            BATCH_ENTRIES.labels(community).inc(entries)
            CHECKPOINT_SIGNED.labels(community).set(time.time())

    def batch_failed(self, community: str) -> None:
        self._of(community).failures += 1
        BATCH_FAILURES.labels(community).inc()


# The labelled children by their labels, looked up without prometheus-client's lock
# and checks on every request. Bounded: methods, route templates and statuses are.
_requests: dict[tuple[str, str, int], Any] = {}
_request_seconds: dict[tuple[str, str], Any] = {}


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    counter = _requests.get((method, route, status))
    if counter is None:
        counter = _requests[method, route, status] = REQUESTS.labels(method, route, str(status))
    counter.inc()
    histogram = _request_seconds.get((method, route))
    if histogram is None:
        histogram = _request_seconds[method, route] = REQUEST_SECONDS.labels(method, route)
    histogram.observe(seconds)


def observe_problem(code: str, status: int) -> None:
    PROBLEMS.labels(code, str(status)).inc()


def multiprocess() -> bool:
    return MULTIPROCESS_DIRECTORY in os.environ


@contextlib.contextmanager
def shared_between_workers(workers: int) -> Iterator[None]:
    """With several workers, have them share a fresh metrics directory for this run.

    Sets ``PROMETHEUS_MULTIPROC_DIR`` for the worker processes (which import
    prometheus-client after this) unless the operator set it; that directory is
    the operator's to empty between runs.
    """
    if workers <= 1 or multiprocess():
        yield
        return
    directory = tempfile.mkdtemp(prefix="buurtmunt-metrics-")
    os.environ[MULTIPROCESS_DIRECTORY] = directory
    try:
        yield
    finally:
        os.environ.pop(MULTIPROCESS_DIRECTORY, None)
        shutil.rmtree(directory, ignore_errors=True)


def process_stopping() -> None:
    """At a worker's shutdown: its open streams no longer count."""
    if multiprocess():
        prometheus_multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


class _Scraped:
    """The families of one scrape, plus the checkpoint age derived from them."""

    def __init__(self, families: Iterable[Metric], now: float) -> None:
        self._families = list(families)
        self._now = now

    def collect(self) -> Iterator[Metric]:
        yield from self._families
        age = GaugeMetricFamily(
            CHECKPOINT_AGE, "Seconds since the newest checkpoint was signed.", labels=["community"]
        )
        for family in self._families:
            if family.name == CHECKPOINT_SIGNED_NAME:
                for sample in family.samples:
                    community = sample.labels["community"]
                    age.add_metric([community], max(0.0, self._now - sample.value))
        yield age


def exposition() -> bytes:
    """Every metric in Prometheus's text format, over all workers when there are several."""
    if multiprocess():
        registry = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        families = registry.collect()
    else:
        families = REGISTRY.collect()
    return generate_latest(_Scraped(families, time.time()))


@get("/metrics", tags=["health"], summary="Prometheus metrics", include_in_schema=False)
async def metrics() -> Response[bytes]:
    return Response(exposition(), media_type=CONTENT_TYPE_LATEST)


ROUTES = [metrics]
