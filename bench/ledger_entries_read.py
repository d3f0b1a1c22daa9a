"""GET /api/v1/ledger/entries: microseconds per entry for a page of 1,000 entries.

Builds the app in process on a SQLite file (the test suite's world: a community,
its staff and members), appends ``--entries`` transfers of a minute between two
members through the ledger (a million in a few minutes), then asks for the
newest 1,000 (ENTRY_RANGE_MAX) through an in-process ASGI client, ``--repeat``
requests per round, five rounds. Prints the median round's time per request and
per entry (and the best round's), then one JSON object.

    .venv/bin/python bench/ledger_entries_read.py [--entries 1000] [--repeat 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time

import machine

ROUNDS = 5
APPEND_ROUND = 8_192


async def measure(entries: int, repeat: int) -> dict[str, float]:
    from api import drafts
    from ledger import limits
    from ledger.ids import new_entry_id
    from tests.support.api import COMMUNITY, World, open_world

    with tempfile.TemporaryDirectory() as tmp:
        async with open_world(f"sqlite:///{tmp}/entries.db", members=2) as world:
            first, second = (m.account for m in world.members)
            assert first is not None and second is not None

            async def append_all(w: World) -> None:
                # Members pass a minute back and forth (earnings would meet the monthly
                # cap and budget), in rounds of APPEND_ROUND concurrent appends: each
                # round is a few full group commits, and a million never wait at once.
                for start in range(0, entries, APPEND_ROUND):
                    pairs = [(first, second), (second, first)]
                    gifts = [
                        drafts.transfer(new_entry_id(), *pairs[i % 2], 1, "")
                        for i in range(min(APPEND_ROUND, entries - start))
                    ]
                    # A refused transfer raises its problem (``drafts.append``).
                    await asyncio.gather(*(drafts.append(w.rt.ledger, COMMUNITY, d) for d in gifts))

            world.run(append_all, world)
            size = world.run(world.rt.store.head, COMMUNITY).size
            # The newest page, as an auditor following the journal reads it.
            params = {"start": max(0, size - limits.ENTRY_RANGE_MAX), "end": size}
            size = params["end"] - params["start"]
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
