"""How fast this machine runs plain Python, printed next to every benchmark's figures.

The targets are set for "this 2-core machine", but the virtual machines behind
it differ from day to day. A figure read next to this calibration can be
compared with one measured on another day.
"""

from __future__ import annotations

import os
import time

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


def describe() -> dict[str, object]:
    return {"cpu_count": os.cpu_count(), "python_loop_ns": python_loop_ns()}
