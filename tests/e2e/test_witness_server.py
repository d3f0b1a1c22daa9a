"""The ledger server and a witness as two real processes, over real HTTP.

``buurtmunt witness serve`` cosigns the community's checkpoints as the ledger
grows; payments never wait for it (it may be down), and the cosignature comes
once it is back. A forked ledger (another database signed with the same key)
and a rolled-back checkpoint are refused and the fork shows in its status. The
exported bundle carries the cosignature, and ``buurtmunt verify
--witness-key`` requires it. On PostgreSQL, two workers share one witness.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import httpx
import pytest

from ledger.cosignature import AddCheckpoint, CosignatureError, generate_cosigner
from ledger.keys import write_key_file
from ledger.note import NoteSigner
from tests.support.server import (
    COMMUNITY,
    ROOT,
    START_SECONDS,
    Seeded,
    free_port,
    seed,
    server_env,
    serving,
)

WAIT_SECONDS = 30  # generous: the machine is shared


@contextmanager
def witnessing(key_file: Path, db: Path, origin: str, log_key: str, port: int) -> Iterator[str]:
    """``buurtmunt witness serve`` on ``port`` until the block ends; yields its base URL."""
    command = [
        sys.executable, "-m", "api.cli", "witness", "serve", "--key-file", str(key_file),
        "--db", str(db), "--log", origin, log_key, "--port", str(port),
    ]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, env=dict(os.environ))
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            try:
                with urllib.request.urlopen(f"{base}/status", timeout=1):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the witness did not start") from None
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=15)


class Setup:
    def __init__(self, tmp_path: Path, name: str = "ledger", database_url: str = "") -> None:
        self.port, self.witness_port = free_port(), free_port()
        self.cosigner = generate_cosigner("witness.gemeente.test")
        self.witness_key = self.cosigner.verifier().key_string()
        self.key_file = tmp_path / "witness.key"
        write_key_file(self.key_file, self.cosigner.key_string())
        self.witness_db = tmp_path / "witness.db"
        self.env = self.ledger_env(database_url or f"sqlite:///{tmp_path / f'{name}.db'}")
        self.origin = f"127.0.0.1:{self.port}/{COMMUNITY}"
        signer = NoteSigner.from_key_string(self.env["BUURTMUNT_SIGNING_KEY"])
        # The key the ledger publishes for the community: named for the log's origin.
        self.log_key = signer.verifier().named(self.origin).key_string()

    def ledger_env(self, database_url: str, signing_key: str | None = None) -> dict[str, str]:
        env = server_env(database_url, f"http://127.0.0.1:{self.port}")
        if signing_key is not None:
            env["BUURTMUNT_SIGNING_KEY"] = signing_key
        env["BUURTMUNT_WITNESSES"] = f"http://127.0.0.1:{self.witness_port} {self.witness_key}"
        env["BUURTMUNT_WITNESS_RETRY_SECONDS"] = "0.2"
        env["BUURTMUNT_WITNESS_TIMEOUT_SECONDS"] = "2"
        # Every batch signs: each payment's checkpoint is the one the witness cosigns.
        env["BUURTMUNT_CHECKPOINT_INTERVAL_SECONDS"] = "0"
        return env

    def witness(self) -> AbstractContextManager[str]:
        return witnessing(
            self.key_file, self.witness_db, self.origin, self.log_key, self.witness_port
        )


async def pay(client: httpx.AsyncClient, base: str, seeded: Seeded, times: int) -> list[float]:
    """``times`` transfers of one minute from the first member to the second; their seconds.

    The last transfer's receipt URL is kept in ``seeded.env["last_receipt"]``.
    """
    spent: list[float] = []
    for _ in range(times):
        started = time.perf_counter()
        answer = await client.post(
            f"{base}/api/v1/transfers",
            json={"payee": seeded.member_accounts[1], "amount_minutes": 1},
            headers={
                "Authorization": f"Bearer {seeded.member_tokens[0]}",
                "Idempotency-Key": str(uuid.uuid4()),
            },
        )
        spent.append(time.perf_counter() - started)
        assert answer.status_code == 201, answer.text
        seeded.env["last_receipt"] = answer.json()["receipt_url"]
    return spent


async def checkpoint(client: httpx.AsyncClient, base: str, seeded: Seeded) -> dict[str, object]:
    answer = await client.get(
        f"{base}/api/v1/ledger/checkpoint",
        headers={"Authorization": f"Bearer {seeded.member_tokens[0]}"},
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, object] = answer.json()
    return body


async def cosigned_checkpoint(
    client: httpx.AsyncClient, base: str, seeded: Seeded, setup: Setup
) -> dict[str, object]:
    """The checkpoint once the witness's cosignature is on it (waits up to WAIT_SECONDS)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        head = await checkpoint(client, base, seeded)
        try:
            setup.cosigner.verifier().cosignature_on(str(head["note"]))
            return head
        except CosignatureError:
            if time.monotonic() > deadline:
                raise AssertionError(f"no cosignature on size {head['size']}") from None
            await asyncio.sleep(0.1)


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        env={**os.environ, **env}, cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


async def test_payments_go_on_while_the_witness_is_down_and_the_cosignature_comes_later(
    tmp_path: Path,
) -> None:
    await down_then_back(tmp_path, "", workers=1)


async def test_on_postgresql_two_workers_share_the_witness_and_its_cosignatures(
    tmp_path: Path, postgres_url: str
) -> None:
    await down_then_back(tmp_path, postgres_url, workers=2)


async def down_then_back(tmp_path: Path, database_url: str, workers: int) -> None:
    """Pay with the witness down, start it, pay more: every checkpoint ends up cosigned."""
    setup = Setup(tmp_path, database_url=database_url)
    seeded = await seed(setup.env, members=2, funds_minutes=600)
    with serving(setup.env, setup.port, workers) as base:
        async with httpx.AsyncClient(timeout=10) as client:
            spent = await pay(client, base, seeded, 5)
            uncosigned = await checkpoint(client, base, seeded)
            with pytest.raises(CosignatureError):
                setup.cosigner.verifier().cosignature_on(str(uncosigned["note"]))

            with setup.witness() as witness:
                first = await cosigned_checkpoint(client, base, seeded, setup)
                spent += await pay(client, base, seeded, 3)
                grown = await cosigned_checkpoint(client, base, seeded, setup)
                status = (await client.get(f"{witness}/status")).json()
                receipt = await client.get(
                    base + seeded.env["last_receipt"],
                    headers={"Authorization": f"Bearer {seeded.member_tokens[0]}"},
                )

    assert max(spent) < 1.0, spent  # no payment waited for the witness
    assert first["size"] == uncosigned["size"]
    assert grown["size"] == int(str(first["size"])) + 3
    assert status["logs"] == [
        {
            "origin": setup.origin,
            "size": grown["size"],
            "root": grown["root_hash"],
            "cosigned_at": status["logs"][0]["cosigned_at"],
        }
    ]
    assert status["forks"] == []
    assert receipt.status_code == 200, receipt.text
    receipt_note = receipt.json()["receipt"].split("\n\n", 1)[1]
    assert setup.cosigner.verifier().cosignature_on(receipt_note).timestamp > 0


async def test_the_bundle_carries_the_cosignature_and_verify_requires_it(tmp_path: Path) -> None:
    setup = Setup(tmp_path)
    seeded = await seed(setup.env, members=2, funds_minutes=600)
    with serving(setup.env, setup.port) as base, setup.witness():
        async with httpx.AsyncClient(timeout=10) as client:
            await pay(client, base, seeded, 2)
            await cosigned_checkpoint(client, base, seeded, setup)
    bundle = tmp_path / "bundle"
    exported = cli(setup.env, "export", "--community", COMMUNITY, "--out", str(bundle))
    assert exported.returncode == 0, exported.stderr

    key = ["--key", setup.log_key]
    passed = cli(setup.env, "verify", str(bundle), *key, "--witness-key", setup.witness_key)
    other = generate_cosigner("witness.gemeente.test").verifier().key_string()
    failed = cli(setup.env, "verify", str(bundle), *key, "--witness-key", other)
    plain = cli(setup.env, "verify", str(bundle), *key)

    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "witness witness.gemeente.test: cosigned the head" in passed.stdout
    assert failed.returncode == 1
    assert "no valid cosignature on the head checkpoint" in failed.stdout
    assert "result       FAILED: no cosignature of 1 required witness(es)" in failed.stdout
    assert plain.returncode == 0


async def test_a_forked_ledger_and_a_rollback_are_refused_and_the_fork_is_shown(
    tmp_path: Path,
) -> None:
    setup = Setup(tmp_path)
    # The same key, origin and number of entries, but another history.
    fork_env = setup.ledger_env(f"sqlite:///{tmp_path}/fork.db", setup.env["BUURTMUNT_SIGNING_KEY"])
    seeded = await seed(setup.env, members=2, funds_minutes=600)
    forked = await seed(fork_env, members=2, funds_minutes=600)
    with setup.witness() as witness:
        async with httpx.AsyncClient(timeout=10) as client:
            with serving(setup.env, setup.port) as base:
                early = await cosigned_checkpoint(client, base, seeded, setup)
                await pay(client, base, seeded, 2)
                honest = await cosigned_checkpoint(client, base, seeded, setup)
            with serving(fork_env, setup.port) as base:
                await pay(client, base, forked, 2)
                other = await checkpoint(client, base, forked)
                # The fork's server keeps asking; the witness keeps refusing.
                await asyncio.sleep(1.5)
                still = await checkpoint(client, base, forked)
            early_note = str(early["note"])
            size = int(str(honest["size"]))
            stale = await client.post(
                f"{witness}/add-checkpoint",
                content=AddCheckpoint(int(str(early["size"])), (), early_note).encode(),
            )
            backwards = await client.post(
                f"{witness}/add-checkpoint",
                content=AddCheckpoint(size, (), early_note).encode(),
            )
            status = (await client.get(f"{witness}/status")).json()

    assert other["size"] == honest["size"] and other["root_hash"] != honest["root_hash"]
    with pytest.raises(CosignatureError):
        setup.cosigner.verifier().cosignature_on(str(still["note"]))
    assert (stale.status_code, stale.text) == (409, f"{size}\n")
    assert backwards.status_code == 400
    assert status["logs"][0]["size"] == size
    assert status["logs"][0]["root"] == honest["root_hash"]
    assert status["forks"][0]["origin"] == setup.origin
    assert status["forks"][0]["size"] == size
    assert status["forks"][0]["other_root"] == other["root_hash"]
