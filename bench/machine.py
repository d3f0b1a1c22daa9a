"""How fast this machine runs plain Python, printed next to every benchmark's figures.

The targets are set for "this 2-core machine", but the virtual machines behind
it differ from day to day. A figure read next to this calibration can be
compared with one measured on another day.

Every bench imports this module before the project's code, and this module puts
the tree it sits in first on the import path: a bench run from a worktree of
another commit (to compare two versions in the same minutes) measures that
commit's code, not the checkout the virtualenv holds in editable mode.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LOOP_ITERATIONS = 5_000_000


def python_loop_ns() -> float:
    """Nanoseconds per iteration of a trivial CPython loop (best of three)."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        total = 0
        for i in range(LOOP_ITERATIONS):
            total += i
        best = min(best, time.perf_counter() - started)
    return round(best / LOOP_ITERATIONS * 1e9, 1)


def busy_cpu_seconds() -> float | None:
    """CPU seconds every core of the machine has spent busy since boot (user, system,
    interrupts and time stolen by the hypervisor), or None where ``/proc/stat`` is missing.

    A benchmark subtracts its own process's CPU time over an interval from the
    difference to see how much of the machine the neighbours took meanwhile.
    """
    try:
        with open("/proc/stat") as stat:
            fields = stat.readline().split()
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def describe() -> dict[str, object]:
    return {"cpu_count": os.cpu_count(), "python_loop_ns": python_loop_ns()}
