"""The ``backup`` and ``restore`` subcommands: a whole database, online, to one file and back.

``buurtmunt backup --out FILE`` copies the database at ``BUURTMUNT_DATABASE_URL``
while the server keeps writing:

- SQLite with its online backup API, in one step: the copy is one read
  transaction, a consistent snapshot that in WAL mode never blocks the writer
  (copied in several steps, SQLite would start over after every commit of the
  server, and under steady payments might never finish);
- PostgreSQL with ``pg_dump --format=custom`` (one snapshot of every table).

The file is written beside ``FILE`` and renamed into place once complete, so
``FILE`` is either the whole backup or absent. ``buurtmunt restore FILE``
loads it into the (empty) database at ``BUURTMUNT_DATABASE_URL``; it refuses a
database that already holds tables, and a backup of the other engine.
Both commands exit 0 when done, 1 when refused, 2 on a problem with the input.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import asyncpg

from api.settings import Settings

EXIT_OK, EXIT_REFUSED, EXIT_UNUSABLE = 0, 1, 2
SQLITE_MAGIC = b"SQLite format 3\x00"
PG_DUMP_MAGIC = b"PGDMP"
# A busy server holds SQLite's write lock only for a group commit; a backup's
# read transaction never waits for it in WAL mode, but opening may.
SQLITE_BUSY_SECONDS = 30.0


class BackupError(RuntimeError):
    """The backup or restore could not be made; the message says why."""


class Refused(BackupError):
    """The target is not one a restore may write into."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``backup`` and ``restore`` to the ``buurtmunt`` command."""
    backup = subparsers.add_parser(
        "backup", help="copy the whole database online (SQLite backup API, or pg_dump)"
    )
    backup.add_argument("--out", required=True, help="the backup file to write (must not exist)")
    backup.set_defaults(func=_run_backup)
    restore = subparsers.add_parser(
        "restore", help="load a backup into the empty database at BUURTMUNT_DATABASE_URL"
    )
    restore.add_argument("file", help="a file written by buurtmunt backup")
    restore.set_defaults(func=_run_restore)


def libpq_url(database_url: str) -> str:
    """The URL as libpq and asyncpg spell it, whatever SQLAlchemy driver it names."""
    _, rest = database_url.split("://", 1)
    return "postgresql://" + rest


def back_up(settings: Settings, out: Path) -> None:
    """Write a complete backup of the deployment's database to the new file ``out``
    (mode 0600; a missing directory is made, mode 0700)."""
    if out.exists():
        raise Refused(f"{out} exists; a backup never overwrites a file")
    partial = out.with_name(out.name + ".partial")
    partial.unlink(missing_ok=True)
    # The backup holds personal data: only the operator may read it, from its first byte.
    out.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    try:
        source = settings.sqlite_path()
        if source is not None:
            _sqlite_backup(source, partial)
        else:
            _pg_dump(libpq_url(settings.database_url), partial)
        _sync(partial)
        partial.rename(out)
    finally:
        partial.unlink(missing_ok=True)


def _sqlite_backup(source: Path, target: Path) -> None:
    if not source.is_file():
        raise BackupError(f"no SQLite database at {source}")
    src = sqlite3.connect(source, timeout=SQLITE_BUSY_SECONDS)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)  # pages=-1: the whole database in one step, one snapshot
            found = dst.execute("PRAGMA quick_check").fetchone()
            if found != ("ok",):
                raise BackupError(f"the copy fails SQLite's quick_check: {found}")
        finally:
            dst.close()
    finally:
        src.close()


def _pg_dump(url: str, target: Path) -> None:
    _run(["pg_dump", "--format=custom", "--no-owner", "--no-acl", f"--file={target}", url])


def _run(command: list[str]) -> None:
    if shutil.which(command[0]) is None:
        raise BackupError(f"{command[0]} is not installed (Debian: postgresql-client)")
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BackupError(f"{command[0]} failed: {done.stderr.strip()[-2000:]}")


def _sync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def restore(settings: Settings, backup: Path) -> None:
    """Load ``backup`` into the deployment's database, which must be new and empty."""
    with backup.open("rb") as file:
        magic = file.read(len(SQLITE_MAGIC))
    target = settings.sqlite_path()
    if target is not None:
        if not magic.startswith(SQLITE_MAGIC):
            raise Refused(f"{backup} is not a SQLite backup; the target is SQLite")
        _sqlite_restore(backup, target)
    else:
        if not magic.startswith(PG_DUMP_MAGIC):
            raise Refused(f"{backup} is not a pg_dump backup; the target is PostgreSQL")
        url = libpq_url(settings.database_url)
        asyncio.run(_require_empty_postgres(url))
        _run(["pg_restore", "--no-owner", "--no-acl", "--exit-on-error", "--single-transaction",
              f"--dbname={url}", str(backup)])  # fmt: skip


def _sqlite_restore(backup: Path, target: Path) -> None:
    if target.exists() and target.stat().st_size > 0:
        raise Refused(f"{target} exists; restore into a new database file")
    target.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(f"file:{backup}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=WAL")
        finally:
            dst.close()
    finally:
        src.close()


async def _require_empty_postgres(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        tables = await conn.fetchval(
            "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', "
            "'information_schema')"
        )
    finally:
        await conn.close()
    if tables:
        raise Refused(f"the target database holds {tables} tables; restore into a new database")


def _run_backup(args: argparse.Namespace) -> int:
    out = Path(args.out)
    try:
        back_up(Settings.from_env(), out)
    except Refused as refused:
        print(f"buurtmunt backup: {refused}", file=sys.stderr)
        return EXIT_REFUSED
    except (BackupError, OSError, sqlite3.Error) as error:
        print(f"buurtmunt backup: {error}", file=sys.stderr)
        return EXIT_UNUSABLE
    print(f"backup written to {out} ({out.stat().st_size:,} bytes)")
    return EXIT_OK


def _run_restore(args: argparse.Namespace) -> int:
    try:
        restore(Settings.from_env(), Path(args.file))
    except Refused as refused:
        print(f"buurtmunt restore: {refused}", file=sys.stderr)
        return EXIT_REFUSED
    except (BackupError, OSError, sqlite3.Error, asyncpg.PostgresError) as error:
        print(f"buurtmunt restore: {error}", file=sys.stderr)
        return EXIT_UNUSABLE
    print(f"restored {args.file}; run buurtmunt audit for every community before serving")
    return EXIT_OK
