"""The crash drill at length: many kills of ``buurtmunt serve`` under load, then the books.

The same drill as ``tests/e2e/test_crash.py`` (``tests.support.crash``), with
as many kills and clients as asked: members pay each other over HTTP with a
fresh Idempotency-Key each, the server's process group is SIGKILLed at random
moments, and on PostgreSQL a private cluster (``initdb`` in a temporary
directory, on a free port; never the shared server) is also stopped with
``pg_ctl stop -m immediate`` once. Afterwards: every acknowledged key is one
entry, every unanswered key sent again is one entry, and the audit and the
verifier pass. Prints one line of figures per engine and a JSON summary;
exits 1 if anything was lost, doubled or did not verify.

    .venv/bin/python bench/crash.py [--kills 20] [--clients 32] [--engines sqlite postgres]

PostgreSQL needs its server binaries (``BUURTMUNT_TEST_PG_BIN``, default
/usr/lib/postgresql/15/bin; Debian's ``postgresql`` package).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile

# The drill lives with the tests (one home for it): ``machine`` puts this tree on the path.
import machine

from tests.support.clusters import (
    cluster_unavailable_reason,
    private_cluster,
    private_directory,
)
from tests.support.crash import CrashPlan, DrillReport, run_drill, stop_and_start


def drill(engine: str, plan: CrashPlan, workers: int) -> DrillReport:
    if engine == "sqlite":
        with tempfile.TemporaryDirectory(prefix="bench-crash-") as tmp:
            return asyncio.run(run_drill(f"sqlite:///{tmp}/crash.db", plan, workers))
    reason = cluster_unavailable_reason()
    if reason is not None:
        raise SystemExit(f"bench/crash.py: cannot run on PostgreSQL: {reason}")
    with private_directory() as root, private_cluster(root) as cluster:
        cluster.sql("CREATE DATABASE crash")
        return asyncio.run(run_drill(cluster.url("crash"), plan, workers, stop_and_start(cluster)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20, help="SIGKILLs of the server (20)")
    parser.add_argument("--clients", type=int, default=32, help="members paying at once (32)")
    parser.add_argument("--workers", type=int, default=1, help="server workers (1)")
    parser.add_argument("--engines", nargs="+", default=["sqlite", "postgres"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--phase", type=float, nargs=2, default=(0.5, 3.0), metavar=("MIN", "MAX"),
        help="seconds of traffic before each interruption, drawn uniformly (0.5 3.0)",
    )  # fmt: skip
    args = parser.parse_args()
    plan = CrashPlan(args.kills, args.clients, tuple(args.phase), args.seed)
    summary: dict[str, object] = {"benchmark": "crash", "machine": machine.describe()}
    sound = True
    for engine in args.engines:
        report = drill(engine, plan, args.workers)
        sound = sound and report.sound
        restart = statistics.median(report.restart_seconds)
        print(
            f"{engine:8} workers {args.workers}: {report.kills} kills, "
            f"{report.database_interruptions} database stops; {report.sent:,} sent, "
            f"{report.acknowledged:,} acknowledged, {report.unanswered:,} unanswered "
            f"({report.booked_before_retry:,} of them booked before the crash); "
            f"lost {len(report.lost)}, doubled {len(report.doubled)}, "
            f"unbooked after retry {len(report.unbooked)}, audit "
            f"{'clean' if not report.audit_failures else 'FAILED'}; "
            f"restart median {restart:.1f} s; {report.seconds:.0f} s in all"
        )
        summary[engine] = {
            "sent": report.sent, "acknowledged": report.acknowledged,
            "unanswered": report.unanswered, "booked_before_retry": report.booked_before_retry,
            "kills": report.kills, "database_interruptions": report.database_interruptions,
            "lost": len(report.lost), "doubled": len(report.doubled),
            "unbooked": len(report.unbooked), "stray": len(report.stray),
            "retry_failures": report.retry_failures, "audit_failures": report.audit_failures,
            "restart_seconds_median": restart, "statuses": report.statuses,
        }  # fmt: skip
    print(json.dumps(summary))
    return 0 if sound else 1


if __name__ == "__main__":
    sys.exit(main())
