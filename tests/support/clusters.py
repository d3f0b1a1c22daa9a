"""Private PostgreSQL clusters for tests that stop, crash or replicate a database.

The shared server at 5432 is never stopped or reconfigured: a test that needs
to ``pg_ctl stop -m immediate`` a database, or to stream a replica from it,
makes a cluster of its own with ``initdb`` in a temporary directory, on a free
port, and removes it afterwards. ``replica_of`` makes a streaming hot standby
with ``pg_basebackup -R``.

PostgreSQL refuses to run as root, so as root the server's commands run as the
``postgres`` user (``runuser``), in a directory that user owns.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from tests.support.server import free_port

PG_BIN = Path(os.environ.get("BUURTMUNT_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
SERVER_USER = "postgres"
COMMAND_SECONDS = 120
CATCH_UP_SECONDS = 30
# Each server process holds a pool of up to 48 connections (ledger.sql.engine);
# a replica needs at least as many as its primary.
MAX_CONNECTIONS = 300
SETTINGS = f"""
listen_addresses = '127.0.0.1'
max_connections = {MAX_CONNECTIONS}
shared_buffers = 32MB
hot_standby = on
wal_level = replica
max_wal_senders = 4
logging_collector = off
"""


def cluster_unavailable_reason() -> str | None:
    """None when this machine can make private clusters; otherwise why not."""
    missing = [n for n in ("initdb", "pg_ctl", "pg_basebackup") if not (PG_BIN / n).exists()]
    if missing:
        return f"PostgreSQL server binaries not found in {PG_BIN}: {', '.join(missing)}"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SERVER_USER)
        except KeyError:
            return f"running as root and there is no {SERVER_USER!r} user to run PostgreSQL as"
        if shutil.which("runuser") is None:
            return "running as root and runuser is missing"
    return None


def _as_server_user(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", SERVER_USER, "--", *command]


def _run(command: list[str]) -> str:
    done = subprocess.run(
        _as_server_user(command), capture_output=True, text=True, timeout=COMMAND_SECONDS
    )
    if done.returncode != 0:
        raise RuntimeError(f"{command[0]} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


@dataclass(frozen=True, slots=True)
class Cluster:
    """One PostgreSQL server: its data directory and port."""

    data: Path
    port: int

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        log = self.data.parent / f"{self.data.name}.log"
        _run([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(log), "-w", "start"])

    def stop(self, mode: str = "fast") -> None:
        """``mode``: fast (clean shutdown) or immediate (as if the power went)."""
        _run([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"])

    def is_running(self) -> bool:
        pid_file = self.data / "postmaster.pid"
        return pid_file.exists()

    def sql(self, statement: str, database: str = "postgres") -> str:
        """One statement through psql; its rows, ``|``-separated, one a line."""
        command = [
            str(PG_BIN / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
            "-d", database, "-v", "ON_ERROR_STOP=1", "-Atc", statement,
        ]  # fmt: skip
        return _run(command).strip()

    def wal_position(self) -> str:
        return self.sql("SELECT pg_current_wal_lsn()")

    def pause_replay(self) -> None:
        """On a standby: stop applying WAL, and wait until it has stopped."""
        self.sql("SELECT pg_wal_replay_pause()")
        deadline = time.monotonic() + CATCH_UP_SECONDS
        while self.sql("SELECT pg_get_wal_replay_pause_state()") != "paused":
            if time.monotonic() > deadline:
                raise TimeoutError("the standby did not pause its replay")
            time.sleep(0.02)

    def resume_replay(self) -> None:
        self.sql("SELECT pg_wal_replay_resume()")


def _configure(data: Path, port: int, socket_dir: Path) -> None:
    with (data / "postgresql.conf").open("a") as conf:
        conf.write(SETTINGS)
        conf.write(f"port = {port}\nunix_socket_directories = '{socket_dir}'\n")


@contextmanager
def private_directory() -> Iterator[Path]:
    """A temporary directory the server user owns (pytest's tmp_path is root's, mode 0700)."""
    path = Path(tempfile.mkdtemp(prefix="buurtmunt-pg-"))
    try:
        if os.geteuid() == 0:
            user = pwd.getpwnam(SERVER_USER)
            os.chown(path, user.pw_uid, user.pw_gid)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _stop_quietly(cluster: Cluster) -> None:
    if cluster.is_running():
        with suppress(RuntimeError, subprocess.TimeoutExpired):
            cluster.stop("immediate")


@contextmanager
def private_cluster(root: Path) -> Iterator[Cluster]:
    """A fresh, running cluster under ``root`` (trust auth, user postgres); removed after."""
    data = root / "primary"
    _run([str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
          "-E", "UTF8", "--no-sync"])  # fmt: skip
    cluster = Cluster(data, free_port())
    _configure(data, cluster.port, root)
    cluster.start()
    try:
        yield cluster
    finally:
        _stop_quietly(cluster)


@contextmanager
def replica_of(primary: Cluster, root: Path, name: str = "replica") -> Iterator[Cluster]:
    """A streaming hot standby of ``primary`` (``pg_basebackup -R``), running on its own port."""
    data = root / name
    _run([
        str(PG_BIN / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(primary.port),
        "-U", "postgres", "-D", str(data), "-R", "-X", "stream", "--checkpoint=fast",
    ])  # fmt: skip
    replica = Cluster(data, free_port())
    with (data / "postgresql.conf").open("a") as conf:
        conf.write(f"port = {replica.port}\n")
    replica.start()
    try:
        yield replica
    finally:
        _stop_quietly(replica)


def wait_until_replayed(primary: Cluster, replica: Cluster) -> None:
    """Block until ``replica`` has replayed everything ``primary`` wrote so far."""
    target = primary.wal_position()
    deadline = time.monotonic() + CATCH_UP_SECONDS
    while True:
        behind = replica.sql(f"SELECT pg_last_wal_replay_lsn() < '{target}'::pg_lsn")
        if behind == "f":
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"the replica did not replay up to {target}")
        time.sleep(0.05)
