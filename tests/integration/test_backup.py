"""``buurtmunt backup`` and ``restore`` on SQLite and PostgreSQL, as an operator runs them.

A backup is taken while transfers keep committing; restored into a fresh
database, its journal is a prefix of the original's, byte for byte, the audit
passes, and an export of it verifies offline. A backup taken once writes stop
restores every balance exactly.
"""

from __future__ import annotations

import asyncio
import shutil
import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from api import drafts
from api.runtime import Runtime, open_runtime
from api.settings import Settings
from ledger.ids import new_entry_id
from ledger.keys import load_signer
from tests.conftest import require
from tests.support.commands import buurtmunt, buurtmunt_here
from tests.support.databases import fresh_postgres_url
from tests.support.server import COMMUNITY, seed, server_env

MEMBERS = 4
CONCURRENT_TRANSFERS = 8
# A pause between rounds of transfers: enough rounds overlap the backup, and
# the journal stays small enough to audit, export and verify in seconds.
PAUSE_SECONDS = 0.02


@asynccontextmanager
async def a_fresh_database(like: str, tmp_path: Path, name: str) -> AsyncIterator[str]:
    if like.startswith("sqlite"):
        yield f"sqlite:///{tmp_path}/{name}.db"
        return
    async with fresh_postgres_url() as url:
        yield url


async def keep_paying(
    rt: Runtime, accounts: list[str], stop: asyncio.Event, paid: list[int]
) -> None:
    """Transfers of one minute around the circle of members until ``stop``, counted in ``paid``."""
    while not stop.is_set():
        done = paid[0]
        batch = [
            drafts.transfer(new_entry_id(), accounts[i % MEMBERS],
                            accounts[(i + 1) % MEMBERS], 1, "")
            for i in range(done, done + CONCURRENT_TRANSFERS)
        ]  # fmt: skip
        await asyncio.gather(*(drafts.append(rt.ledger, COMMUNITY, d) for d in batch))
        paid[0] += len(batch)
        await asyncio.sleep(PAUSE_SECONDS)


async def balances(rt: Runtime) -> dict[str, int]:
    rows = await rt.store.accounts(COMMUNITY)
    return {row.spec.id: row.balance_minutes for row in rows}


async def restored_checks(env: dict[str, str], tmp_path: Path, name: str) -> None:
    """The restored database audits clean and its export verifies offline."""
    status, out = await buurtmunt_here(env, "audit", "--community", COMMUNITY)
    assert status == 0, out
    bundle = tmp_path / f"{name}-bundle"
    status, out = await buurtmunt_here(
        env, "export", "--community", COMMUNITY, "--out", str(bundle)
    )
    assert status == 0, out
    key = load_signer(value=env["BUURTMUNT_SIGNING_KEY"]).verifier().key_string()
    status, out = await buurtmunt_here(env, "verify", str(bundle), "--key", key)
    assert status == 0, out


def require_pg_tools() -> None:
    missing = [tool for tool in ("pg_dump", "pg_restore") if shutil.which(tool) is None]
    require(
        f"{' and '.join(missing)} not installed (Debian: postgresql-client)" if missing else None
    )


async def test_a_backup_taken_during_payments_restores_into_a_fresh_database_that_verifies(
    database_url: str, tmp_path: Path
) -> None:
    if not database_url.startswith("sqlite"):
        require_pg_tools()
    env = server_env(database_url, "http://buurtmunt.test")
    seeded = await seed(env, members=MEMBERS, funds_minutes=600)
    # ``during`` goes into a directory the backup makes.
    during, after = tmp_path / "backups" / "during.backup", tmp_path / "after.backup"

    async with open_runtime(Settings.from_env(env)) as rt:
        stop, paid = asyncio.Event(), [0]
        paying = asyncio.create_task(keep_paying(rt, seeded.member_accounts, stop, paid))
        await asyncio.sleep(0.2)
        paid_before = paid[0]
        status, out = await buurtmunt(env, "backup", "--out", str(during))
        paid_while_backing_up = paid[0] - paid_before
        await asyncio.sleep(0.2)
        stop.set()
        await paying
        source_size = (await rt.store.head(COMMUNITY)).size
        source_entries = await rt.store.raw_entries(COMMUNITY, 0, source_size)
        source_balances = await balances(rt)
        status_after, out_after = await buurtmunt_here(env, "backup", "--out", str(after))
        again, _ = await buurtmunt_here(env, "backup", "--out", str(after))
        into_itself, _ = await buurtmunt_here(env, "restore", str(after))

    assert status == 0, out
    assert status_after == 0, out_after
    # Personal data: only the operator reads a backup.
    assert [stat.S_IMODE(p.stat().st_mode) for p in (during, after)] == [0o600, 0o600]
    assert stat.S_IMODE(during.parent.stat().st_mode) == 0o700
    assert paid_while_backing_up > 0
    assert again == 1  # a backup never overwrites a file
    assert into_itself == 1  # nor does a restore write into a database in use

    async with a_fresh_database(database_url, tmp_path, "during") as url:
        restored_env = {**env, "BUURTMUNT_DATABASE_URL": url}
        status, out = await buurtmunt_here(restored_env, "restore", str(during))
        assert status == 0, out
        await restored_checks(restored_env, tmp_path, "during")
        async with open_runtime(Settings.from_env(restored_env)) as rt:
            size = (await rt.store.head(COMMUNITY)).size
            entries = await rt.store.raw_entries(COMMUNITY, 0, size)
        assert 0 < size < source_size
        assert entries == source_entries[:size]

    async with a_fresh_database(database_url, tmp_path, "after") as url:
        restored_env = {**env, "BUURTMUNT_DATABASE_URL": url}
        status, out = await buurtmunt_here(restored_env, "restore", str(after))
        assert status == 0, out
        await restored_checks(restored_env, tmp_path, "after")
        async with open_runtime(Settings.from_env(restored_env)) as rt:
            assert (await rt.store.head(COMMUNITY)).size == source_size
            assert await balances(rt) == source_balances


async def test_a_backup_of_one_engine_is_refused_by_the_other(
    sqlite_url: str, postgres_url: str, tmp_path: Path
) -> None:
    env = server_env(sqlite_url, "http://buurtmunt.test")
    await seed(env, members=1, funds_minutes=60)
    backup = tmp_path / "sqlite.backup"
    assert (await buurtmunt_here(env, "backup", "--out", str(backup)))[0] == 0

    status, out = await buurtmunt_here(
        {**env, "BUURTMUNT_DATABASE_URL": postgres_url}, "restore", str(backup)
    )

    assert status == 1, out
    assert "not a pg_dump backup" in out
