"""GET /api/v1/ledger/entries sends the journal's stored bytes, one entry per line.

The route sends the stored canonical bytes without decoding them; the answer is
the same as when it decoded every entry and sent its bytes back: each entry's
canonical JSON, a newline after each, as ``application/x-ndjson``.
"""

from __future__ import annotations

from tests.support.api import COMMUNITY, open_world


async def test_the_entries_route_sends_each_stored_entry_as_one_line(database_url: str) -> None:
    async with open_world(database_url, members=3) as world:
        size = world.run(world.rt.store.head, COMMUNITY).size
        decoded = world.run(world.rt.store.entries, COMMUNITY, 0, size)
        stored = world.run(world.rt.store.raw_entries, COMMUNITY, 0, size)

        answer = await world.get(
            "/api/v1/ledger/entries", as_=world.auditor, params={"start": 0, "end": size}
        )

        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("application/x-ndjson")
        assert answer.content == b"".join(entry.data + b"\n" for entry in decoded)
        assert answer.content == b"".join(line + b"\n" for line in stored)
        assert len(answer.content.splitlines()) == size > 3


async def test_the_entries_route_sends_only_the_range_asked_for(sqlite_url: str) -> None:
    async with open_world(sqlite_url, members=3) as world:
        stored = world.run(world.rt.store.raw_entries, COMMUNITY, 2, 5)

        answer = await world.get(
            "/api/v1/ledger/entries", as_=world.auditor, params={"start": 2, "end": 5}
        )
        empty = await world.get(
            "/api/v1/ledger/entries", as_=world.auditor, params={"start": 10_000, "end": 10_001}
        )

        assert answer.content == b"".join(line + b"\n" for line in stored)
        assert len(stored) == 3
        assert (empty.status_code, empty.content) == (200, b"")
