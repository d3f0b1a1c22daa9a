"""GET /api/v1/ledger/entries: microseconds per entry for a page of 1,000 entries.

Builds the app in process on a SQLite file (the test suite's world: a community,
its staff and members), appends ``--entries`` earn entries, then asks for the
first 1,000 (ENTRY_RANGE_MAX) through an in-process ASGI client, ``--repeat``
requests per round, five rounds. Prints the median round's time per request and
per entry (and the best round's), then one JSON object.

    .venv/bin/python bench/ledger_entries_read.py [--entries 1000] [--repeat 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import machine

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ROUNDS = 5


async def measure(entries: int, repeat: int) -> dict[str, float]:
    from api import drafts
    from ledger import limits
    from ledger.ids import new_entry_id
    from tests.support.api import COMMUNITY, START, World, open_world

    with tempfile.TemporaryDirectory() as tmp:
        async with open_world(f"sqlite:///{tmp}/entries.db", members=2) as world:
            coordinator, member = world.coordinator.staff_id, world.members[0].account
            assert coordinator is not None and member is not None
            meta = drafts.earn_meta("bench", START.date(), None)

            async def append_all(w: World) -> None:
                earn = [
                    drafts.earn(new_entry_id(), coordinator, w.org, member, 1, meta, "")
                    for _ in range(entries)
                ]
                await asyncio.gather(*(drafts.append(w.rt.ledger, COMMUNITY, d) for d in earn))

            world.run(append_all, world)
            size = min(world.run(world.rt.store.head, COMMUNITY).size, limits.ENTRY_RANGE_MAX)
            params = {"start": 0, "end": size}
            rounds = []
            for _ in range(ROUNDS):
                started = time.perf_counter()
                for _ in range(repeat):
                    answer = await world.get(
                        "/api/v1/ledger/entries", as_=world.auditor, params=params
                    )
                    assert answer.status_code == 200, answer.text
                rounds.append((time.perf_counter() - started) / repeat)
    median = statistics.median(rounds)
    return {
        "entries_per_request": size,
        "request_ms": round(median * 1000, 2),
        "us_per_entry": round(median / size * 1e6, 1),
        "best_us_per_entry": round(min(rounds) / size * 1e6, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    figures = asyncio.run(measure(args.entries, args.repeat))
    print(
        f"GET /api/v1/ledger/entries, {figures['entries_per_request']:.0f} entries: "
        f"{figures['request_ms']} ms a request, {figures['us_per_entry']} µs an entry "
        f"(best round {figures['best_us_per_entry']} µs)"
    )
    print(json.dumps({"benchmark": "ledger_entries_read", "machine": machine.describe()} | figures))


if __name__ == "__main__":
    main()
