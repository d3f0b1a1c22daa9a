"""A process that holds leases and writes for another test process, then can die on cue.

    python -m tests.support.lease_holder DATABASE_URL LEASE_DIRECTORY KEY [--die-after-commit]

It takes every community's lease (one slot, so it prefers them all), prints
``ready`` and serves forwarded drafts until killed. With ``--die-after-commit``
it SIGKILLs itself right after its writer committed the first forwarded draft,
before answering: the sender is left not knowing whether the draft is in.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from api.leases import HostLeases
from ledger.model import Draft
from ledger.note import NoteSigner
from ledger.service import Ledger
from ledger.sql.store import SqlStore
from ledger.writer import Result
from tests.support.builders import COMMUNITY, HOST, a_clock


async def main(database_url: str, directory: str, key: str, die_after_commit: bool) -> None:
    store = SqlStore.from_url(database_url)
    ledger = Ledger(store, NoteSigner.from_key_string(key), HOST, a_clock())

    async def append_here(community: str, draft: Draft) -> Result:
        result = await ledger.append_here(community, draft)
        if die_after_commit:
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    async def communities() -> list[str]:
        return [COMMUNITY]

    leases = HostLeases(Path(directory), 1, append_here, communities)
    await leases.start()
    assert leases.holds(COMMUNITY), "the holder must take the lease at start"
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], "--die-after-commit" in sys.argv))
