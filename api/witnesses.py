"""The ledger's side of witnessing: ask the configured witnesses to cosign new checkpoints.

Each checkpoint this process signs pokes ``Witnesses``; a background task then
sends every witness an add-checkpoint request (c2sp.org/tlog-witness) for the community's newest
checkpoint, with a consistency proof from the last one that witness cosigned.
Nothing here is on the append path: a witness that is down, slow or refusing
only leaves the community pending, and it is asked again every
``witness_retry_seconds`` until it answers. The newest valid cosignature per
community and witness is kept in ``witness_cosignatures``; the checkpoint and
receipt routes and the export add it to the note while it covers the head.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import httpx
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col, select

from api.database import Database
from api.tables import CommunityRow, WitnessCosignatureRow
from ledger import limits
from ledger.checkpoint import parse_decimal
from ledger.cosignature import AddCheckpoint, CosignatureVerifier
from ledger.note import split_note
from ledger.service import Ledger, ProofUnavailable
from ledger.store import StoredCheckpoint

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WitnessConfig:
    """A witness to ask: where its add-checkpoint lives and the key it cosigns with."""

    url: str
    verifier: CosignatureVerifier

    @property
    def key(self) -> str:
        return self.verifier.key_string()


def parse_witnesses(entries: Sequence[str]) -> tuple[WitnessConfig, ...]:
    """Each entry is ``<url> <witness vkey>``; the URL is the submission prefix.

    Raises ``ValueError`` (or ``NoteError``, a subclass) on a malformed entry.
    """
    if len(entries) > limits.WITNESSES_MAX:
        raise ValueError(f"at most {limits.WITNESSES_MAX} witnesses")
    configs: list[WitnessConfig] = []
    for entry in entries:
        parts = entry.split()
        if len(parts) != 2 or not parts[0].startswith(("http://", "https://")):
            raise ValueError("a witness is '<http(s) url> <witness key>'")
        configs.append(
            WitnessConfig(parts[0].rstrip("/"), CosignatureVerifier.from_key_string(parts[1]))
        )
    return tuple(configs)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


async def cosignature_lines(db: Database, community: str, checkpoint: StoredCheckpoint) -> str:
    """The stored cosignature lines that cover exactly ``checkpoint`` ("" if none)."""
    async with db.read() as session:
        rows = await session.exec(
            select(WitnessCosignatureRow)
            .where(WitnessCosignatureRow.community == community)
            .where(WitnessCosignatureRow.size == checkpoint.size)
            .where(WitnessCosignatureRow.root == _b64(checkpoint.root))
            .order_by(col(WitnessCosignatureRow.witness))
            .limit(limits.WITNESSES_MAX)
        )
        return "".join(row.line for row in rows)


async def cosigned_sizes(db: Database, community: str) -> set[int]:
    """The sizes of the checkpoints whose cosignatures are kept (an export keeps them)."""
    async with db.read() as session:
        rows = await session.exec(
            select(WitnessCosignatureRow.size)
            .where(WitnessCosignatureRow.community == community)
            .limit(limits.WITNESS_LOGS_MAX)
        )
        return set(rows)


async def cosigned_note(db: Database, community: str, checkpoint: StoredCheckpoint) -> str:
    """The checkpoint's note with the witnesses' cosignature lines that cover it."""
    return checkpoint.note + await cosignature_lines(db, community, checkpoint)


class Witnesses:
    """Asks the configured witnesses, in the background, to cosign each new checkpoint."""

    def __init__(
        self,
        configs: Sequence[WitnessConfig],
        ledger: Ledger,
        db: Database,
        *,
        retry_seconds: float,
        timeout_seconds: float,
        now_seconds: Callable[[], int],
    ) -> None:
        self.configs = tuple(configs)
        self._ledger = ledger
        self._db = db
        self._retry_seconds = retry_seconds
        self._timeout_seconds = timeout_seconds
        self._now_seconds = now_seconds
        self._pending: set[str] = set()
        # (witness URL, community) -> when to ask again a witness that does not follow it.
        self._unfollowed: dict[tuple[str, str], float] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def poke(self, community: str) -> None:
        """The community may have a new checkpoint: ask the witnesses soon."""
        if self.configs:
            self._pending.add(community)
            self._wake.set()

    def start(self) -> None:
        """Start asking in the background (only when witnesses are configured)."""
        if self.configs and self._task is None:
            self._ledger.on_checkpoint.append(self.poke)
            self._task = asyncio.create_task(self._run(), name="witnesses")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        async with httpx.AsyncClient(timeout=self._timeout_seconds) as client:
            # After a restart, any head may still wait for its cosignatures.
            self._pending |= await self._communities()
            while True:
                self._wake.clear()
                batch, self._pending = self._pending, set()
                failed = {c for c in sorted(batch) if not await self._ask_safely(client, c)}
                self._pending |= failed
                if failed:
                    # A witness that is down is tried once a period, not on every append.
                    await asyncio.sleep(self._retry_seconds)
                elif not self._wake.is_set():
                    await self._wake.wait()

    async def _ask_safely(self, client: httpx.AsyncClient, community: str) -> bool:
        try:
            return await self.ask(client, community)
        except Exception:  # a defect here must not end witnessing for good
            log.exception("witnesses: asking for %s failed", community)
            return False

    async def _communities(self) -> set[str]:
        try:
            async with self._db.read() as session:
                query = select(CommunityRow.slug).limit(limits.WITNESS_LOGS_MAX)
                return set(await session.exec(query))
        except SQLAlchemyError:
            log.exception("witnesses: cannot list the communities; waiting for appends")
            return set()

    async def ask(self, client: httpx.AsyncClient, community: str) -> bool:
        """Ask every witness to cosign the head; whether all of them have."""
        done = True
        for witness in self.configs:
            try:
                done = await self._ask_one(client, community, witness) and done
            except (httpx.HTTPError, ProofUnavailable, SQLAlchemyError, OSError) as error:
                log.warning("witness %s: %s: %r", witness.url, community, error)
                done = False
        return done

    async def _ask_one(
        self, client: httpx.AsyncClient, community: str, witness: WitnessConfig
    ) -> bool:
        checkpoint = await self._ledger.checkpoint(community)
        if checkpoint is None:
            return True
        if time.monotonic() < self._unfollowed.get((witness.url, community), 0.0):
            return True
        row = await self._row(community, witness)
        if row is not None and row.size >= checkpoint.size:
            return True
        old = 0 if row is None else row.size
        # A 409 names the size the witness holds: one more try from there.
        for _ in range(2):
            proof: list[bytes] = []
            if 0 < old < checkpoint.size:
                proof = await self._ledger.consistency_proof(community, old, checkpoint.size)
            body = AddCheckpoint(old, tuple(proof), checkpoint.note).encode()
            answer = await client.post(f"{witness.url}/add-checkpoint", content=body.encode())
            if answer.status_code == 200:
                return await self._keep(community, witness, checkpoint, answer.text)
            if answer.status_code == 404:
                # Not one of the logs this witness follows (tlog-witness): said once an hour.
                recheck = limits.WITNESS_UNFOLLOWED_RECHECK_SECONDS
                self._unfollowed[(witness.url, community)] = time.monotonic() + recheck
                log.warning(
                    "witness %s does not follow %s (404 %s); asking again in %d s",
                    witness.url, community, answer.text[:200].strip(), recheck,
                )  # fmt: skip
                return True
            held = parse_decimal(answer.text.strip(), limits.TREE_SIZE_MAX)
            if answer.status_code != 409 or held is None or held > checkpoint.size:
                log.warning(
                    "witness %s refused %s size %d: %d %s", witness.url, community,
                    checkpoint.size, answer.status_code, answer.text[:200].strip(),
                )  # fmt: skip
                return False
            old = held
        return False

    async def _row(self, community: str, witness: WitnessConfig) -> WitnessCosignatureRow | None:
        async with self._db.read() as session:
            return await session.get(WitnessCosignatureRow, (community, witness.key))

    async def _keep(
        self, community: str, witness: WitnessConfig, checkpoint: StoredCheckpoint, body: str
    ) -> bool:
        text, _ = split_note(checkpoint.note)
        valid = witness.verifier.valid_lines(text, body)
        if not valid:
            log.warning("witness %s answered without a valid cosignature", witness.url)
            return False
        async with self._db.write() as session:
            row = await session.get(WitnessCosignatureRow, (community, witness.key))
            if row is None:
                row = WitnessCosignatureRow(
                    community=community, witness=witness.key, size=0, root="", line="",
                    cosigned_at=0,
                )  # fmt: skip
            elif row.size > checkpoint.size:
                return True  # another worker kept a newer one meanwhile
            row.size, row.root = checkpoint.size, _b64(checkpoint.root)
            row.line, row.cosigned_at = valid[0].line(), self._now_seconds()
            session.add(row)
        return True
