"""Every benchmark in ``bench/``, one after another, summed up in one table of figures and ratios.

Each bench runs in a child process of its own and ends with one JSON object;
this script reads that object and puts each figure next to the baseline the
bench measured in the same run:

- ``ledger_append.py``: group commit against a naive SQLite loop, and against
  ``pgbench`` TPC-B on the same PostgreSQL;
- ``audit.py``: verifying a bundle offline against plain SHA-256 of its entries;
- ``http_transfers.py``: POST /api/v1/transfers against a bare Litestar JSON POST;
- ``qr_pay.py``: paying shops' QR requests against plain transfers;
- ``checkpoint_cadence.py``: export, verify and audit of a journal written one
  entry at a time against the same written in bulk.

Quick sizes by default (a few minutes in all); ``--full`` runs each bench at the
sizes its own documentation uses. A bench whose tool is missing (``wrk``,
``pgbench``) gets a row saying what to install rather than no row at all.

    .venv/bin/python bench/run_all.py [--full] [--only NAME ...] [--no-postgres]

The last line printed is one JSON object with every bench's figures.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import machine

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
POSTGRES_URL = os.environ.get(
    "BUURTMUNT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)

Row = tuple[str, str, str, str, str]  # what, figure, baseline, ratio, target
# The table adds each bench's own calibration (bench/machine.py), read in its process.
HEAD = ("what", "figure", "baseline, same run", "ratio", "target", "loop ns")


@dataclass(frozen=True, slots=True)
class Bench:
    name: str
    script: str
    quick: list[str]
    full: list[str]
    rows: Callable[[dict[str, Any]], list[Row]]
    needs: list[str] = field(default_factory=list)  # tools on PATH
    postgres: bool = False  # takes --no-postgres / a PostgreSQL URL


def _n(value: float, unit: str = "") -> str:
    return f"{value:,.0f}{unit}" if value >= 100 else f"{value:,.2f}{unit}"


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def ledger_rows(f: dict[str, Any]) -> list[Row]:
    sqlite = f["sqlite"]
    ratio = sqlite["ratio_to_naive"]
    ok = sqlite["transfers_per_s"] >= 20_000 and ratio >= 5
    rows = [
        (
            "appends, SQLite group commit",
            _n(sqlite["transfers_per_s"], " /s"),
            f"naive SQLite loop {_n(sqlite['naive_baseline_per_s'], ' /s')}",
            f"{ratio:.2f}x",
            f">= 20,000 /s, >= 5x: {_met(ok)}",
        )
    ]
    if "postgres" in f:
        pg = f["postgres"]
        rows.append(
            (
                "appends, PostgreSQL group commit",
                _n(pg["transfers_per_s"], " /s"),
                f"pgbench TPC-B {_n(pg['pgbench_tps'], ' tps')}",
                f"{pg['ratio_to_pgbench']:.2f}x",
                f">= 2x: {_met(pg['ratio_to_pgbench'] >= 2)}",
            )
        )
    for engine, name in (("sqlite", "SQLite"), ("postgres", "PostgreSQL")):
        if engine in f and f[engine].get("against_fresh"):
            grown, fresh = f[engine], f[engine]["against_fresh"]
            rows.append(
                (
                    f"appends as the journal grows, {name}",
                    f"{_n(fresh['grown_per_s'], ' /s')} at {_n(grown['entries'], ' entries')}",
                    f"a fresh journal {_n(fresh['fresh_per_s'], ' /s')}, alternating",
                    f"{fresh['grown_to_fresh']:.2f}x (segments {grown['last_to_first']:.2f}x)",
                    f">= 0.9x: {_met(grown['growth_met_against_fresh'])}",
                )
            )
    return rows


def audit_rows(f: dict[str, Any]) -> list[Row]:
    rate, target = f["entries_per_second"], f["target_entries_per_second"]
    peak, peak_max = f["peak_rss_mb"], f["target_peak_rss_mb"]
    return [
        (
            f"verify a {f['entries']:,}-entry bundle",
            f"{f['verify_seconds']:.2f} s = {_n(rate, ' entries/s')}",
            f"plain SHA-256 of its entries {f['sha256_seconds']:.3f} s",
            f"{f['verify_to_sha256_ratio']:.1f}x the time",
            f">= {target:,} /s: {_met(rate >= target)}",
        ),
        (
            "verify, peak memory",
            f"{peak:.0f} MB",
            "",
            "",
            f"< {peak_max} MB: {_met(peak < peak_max)}",
        ),
    ]


def http_rows(f: dict[str, Any]) -> list[Row]:
    """One row per transfers endpoint (database, workers), each against the bare endpoint
    with as many workers, then the comparisons between them."""
    rows: list[Row] = []
    served = f["rows"]
    for name, row in served.items():
        if not name.startswith("transfers"):
            continue
        bare = served[f"bare {name.split()[2]}"]
        rows.append(
            (
                f"HTTP POST /api/v1/transfers, {name.removeprefix('transfers ')}",
                f"{_n(row['rps'], ' req/s')}, p99 {row['p99_ms']:.1f} ms, "
                f"{row['cpu_us_per_request']} µs CPU per request",
                f"bare Litestar JSON POST {_n(bare['rps'], ' req/s')}",
                f"{row['ratio_to_bare']:.2f}x",
                f">= {f['target_ratio']}x, p99 <= {f['target_p99_ms']:.0f} ms",
            )
        )
    for name, value in f["comparisons"].items():
        rows.append((f"HTTP transfers, {name.replace('_', ' ')}", f"{value:.2f}x", "", "", ""))
    return rows


def qr_rows(f: dict[str, Any]) -> list[Row]:
    paid = f["paid_event_ms"]
    memory = f["memory"]
    return [
        (
            "pays of QR requests, SQLite",
            f"{_n(f['pays_per_second'], ' /s')}, paid heard p99 {paid['p99']} ms",
            f"transfers {_n(f['transfers_per_second'], ' /s')}",
            f"{f['ratio']:.2f}x",
            f">= {f['target_ratio']}x: {_met(f['met_ratio'])}; "
            f"p99 <= {f['target_p99_ms']:.0f} ms: {_met(f['met_p99'])}",
        ),
        (
            "a stream's end alone (server CPU)",
            f"{f['server_cpu_ms_per_stream_end']} ms",
            f"a transfer {f['server_cpu_ms_per_transfer']} ms",
            f"{f['ratio_by_cpu']:.2f}x",
            "what pays can reach: transfer / (transfer + stream's end)",
        ),
        (
            "memory per open event stream",
            f"{memory['kb_per_stream']} KB",
            f"{memory['streams']:,} streams",
            "",
            f"<= {f['target_kb_per_stream']:.0f} KB: {_met(f['met_memory'])}",
        ),
    ]


def cadence_rows(f: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for name, key, unit in (
        ("export", "export_s", " s"),
        ("verify", "verify_s", " s"),
        ("audit (database)", "audit_s", " s"),
        ("bundle size", "bundle_bytes", " bytes"),
    ):
        target, met = (1.5, f["size_target_met"]) if key == "bundle_bytes" else (1.2, None)
        ratio = f[f"{key}_ratio"]
        rows.append(
            (
                f"{name}, {f['entries']:,} entries one at a time",
                _n(f[f"single_{key}"], unit),
                f"in bulk {_n(f[f'bulk_{key}'], unit)}",
                f"{ratio:.2f}x",
                f"<= {target}x: {_met(ratio <= target if met is None else met)}",
            )
        )
    return rows


BENCHES = [
    Bench(
        "ledger_append", "ledger_append.py", ["--transfers", "20000"], [], ledger_rows,
        postgres=True,
    ),
    Bench("audit", "audit.py", ["--entries", "200000"], [], audit_rows),
    Bench(
        "http_transfers", "http_transfers.py", ["--seconds", "2", "--rounds", "2"], [],
        http_rows, needs=["wrk"],
    ),
    Bench(
        "qr_pay", "qr_pay.py",
        ["--requests", "200", "--streams", "500", "--transfer-seconds", "1"], [], qr_rows,
    ),
    Bench(
        "checkpoint_cadence", "checkpoint_cadence.py", ["--entries", "20000", "--rounds", "2"],
        [], cadence_rows,
    ),
]  # fmt: skip
INSTALL = {"wrk": "apt-get install wrk", "pgbench": "apt-get install postgresql-client"}


def missing_tools(bench: Bench, postgres: bool) -> list[str]:
    tools = [*bench.needs, *(["pgbench"] if bench.postgres and postgres else [])]
    return [tool for tool in tools if shutil.which(tool) is None]


def run(bench: Bench, args: argparse.Namespace) -> dict[str, Any]:
    """The bench's last JSON line, or {"error": ...} with what went wrong."""
    command = [
        sys.executable,
        str(HERE / bench.script),
        *(bench.full if args.full else bench.quick),
    ]
    if bench.postgres:
        command += ["--no-postgres"] if args.no_postgres else ["--postgres", args.postgres]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    print(f"running: {' '.join(command[1:])}", file=sys.stderr, flush=True)
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = round(time.perf_counter() - started, 1)
    sys.stderr.write(done.stdout)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"exit {done.returncode}: {last}", "seconds": seconds}
    try:
        figures: dict[str, Any] = json.loads(lines[-1])
    except json.JSONDecodeError:
        return {"error": f"no JSON on the last line: {lines[-1][:120]}", "seconds": seconds}
    return figures | {"seconds": seconds}


def table(rows: list[tuple[str, ...]]) -> list[str]:
    """A Markdown table, padded so that it reads as well in a terminal."""
    widths = [max(len(r[i]) for r in [HEAD, *rows]) for i in range(len(HEAD))]
    lines = [
        "| " + " | ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)) + " |"
        for r in [HEAD, *rows]
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the sizes each bench documents")
    parser.add_argument("--only", nargs="+", choices=[b.name for b in BENCHES], metavar="NAME")
    parser.add_argument(
        "--postgres", default=POSTGRES_URL, help="for ledger_append's PostgreSQL part"
    )
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    calibration = machine.describe()
    load = [round(x, 1) for x in os.getloadavg()]  # other work on the machine, at the start
    results: dict[str, Any] = {}
    rows: list[tuple[str, ...]] = []
    for bench in BENCHES:
        if args.only and bench.name not in args.only:
            continue
        missing = missing_tools(bench, not args.no_postgres)
        needs = "needs " + "; ".join(f"{tool} ({INSTALL[tool]})" for tool in missing)
        if missing and bench.needs:
            results[bench.name] = {"skipped": needs}
            rows.append((bench.name, "not run", needs, "", "", ""))
            continue
        figures = run(bench, args)
        results[bench.name] = figures
        try:
            loop = str(figures.get("machine", {}).get("python_loop_ns", ""))
            rows += [(*row, loop) for row in bench.rows(figures)]
        except KeyError as missing_key:
            figures.setdefault("error", f"its JSON has no {missing_key}")
            rows.append((bench.name, "FAILED", figures["error"][:100], "", "", ""))
            continue
        if missing:  # pgbench: the bench ran its SQLite part only
            rows.append((f"{bench.name}, PostgreSQL", "not run", needs, "", "", ""))
    sizes = (
        "--full (documented sizes)" if args.full else "quick sizes (--full for the documented ones)"
    )
    loop = calibration["python_loop_ns"]
    print(
        f"machine: {os.cpu_count()} cores, plain Python loop {loop} ns/iteration, "
        f"load average {load[0]} at the start; {sizes}"
    )
    print("\n".join(table(rows)))
    print(
        json.dumps(
            {
                "benchmark": "run_all",
                "full": args.full,
                "machine": calibration,
                "loadavg_at_start": load,
                "results": results,
            },
            sort_keys=True,
        )
    )
    return 1 if any("error" in r for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
