"""Leases between the worker processes of one host: a lock file per community, and a
unix socket where its holder takes the other processes' drafts.

A process holds ``community``'s lease while it holds an exclusive ``flock`` on
``<directory>/<key>.lock``; the kernel lets go of it when the process ends, however
it ends. The holder listens on ``<directory>/<key>.sock``; the others send drafts
there (``api.forwarding``) and get back what the holder's writer answered.

Leases are spread: each process takes a *slot* (``slot-<i>.lock``, the first
free of ``spread``), and with the communities in order, the k-th is *preferred*
by slot ``k % spread``. A process takes its preferred leases as soon as they are
free (at start, and every ``LEASE_POLL_SECONDS``); another community's lease it
takes on demand once it has found nobody listening for ``LEASE_GRACE_SECONDS``;
it hands such a lease back once a live process holds the slot that prefers it
(a worker started in place of a dead one), so the leases spread again.
Until then, and whenever no holder answers, it appends itself (``Ledger.append``):
the store's tip check keeps the journal whole, at the cost of contention.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

from api import forwarding
from api.metrics import DRAFTS_FORWARDED
from ledger.lease import HolderGone, NoHolder
from ledger.model import Draft
from ledger.writer import Result

log = logging.getLogger(__name__)

LEASE_POLL_SECONDS = 0.5
LEASE_GRACE_SECONDS = 1.0

AppendHere = Callable[[str, Draft], Awaitable[Result]]
Communities = Callable[[], Awaitable[list[str]]]


def lease_key(community: str) -> str:
    """A file name for ``community``'s lock and socket, whatever its slug holds."""
    return hashlib.sha256(community.encode()).hexdigest()[:16]


def default_directory(database_url: str) -> Path:
    """Where the processes serving ``database_url`` on this host meet: one directory
    per database, short enough for a unix socket's path."""
    digest = hashlib.sha256(database_url.encode()).hexdigest()[:12]
    return Path("/tmp") / f"buurtmunt-leases-{os.getuid()}-{digest}"


def preferred_slots(communities: Iterable[str], spread: int) -> dict[str, int]:
    """The slot that prefers each community: the k-th in order, slot ``k % spread``."""
    return {c: k % spread for k, c in enumerate(sorted(communities))}


def _try_lock(path: Path, note_pid: bool = True) -> int | None:
    """An open descriptor holding an exclusive lock on ``path``, or None if another holds it.

    The holder writes its pid into the file, for operators (and tests) to see, unless
    it only looks whether the lock is free (``note_pid``)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    if note_pid:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def holder_pid(directory: Path, community: str) -> int | None:
    """The pid written by the last process that took ``community``'s lease, if any
    (it may have ended since: a lease is held only while its lock is)."""
    try:
        text = (directory / f"{lease_key(community)}.lock").read_text()
    except FileNotFoundError:
        return None
    return int(text) if text.strip().isdigit() else None


class HostLeases:
    """``ledger.lease.Leases`` for the processes of one host (see the module's docstring)."""

    def __init__(
        self,
        directory: Path,
        spread: int,
        append_here: AppendHere,
        communities: Communities,
    ) -> None:
        self.directory = directory
        self._spread = max(1, spread)
        self._append_here = append_here
        self._communities = communities
        self.slot: int | None = None
        self._slot_fd: int | None = None
        self._held: dict[str, tuple[int, forwarding.Holder]] = {}
        self._senders: dict[str, forwarding.Sender] = {}
        self._opening: dict[str, asyncio.Future[forwarding.Sender]] = {}
        self._unheld_since: dict[str, float] = {}
        self._preferred: frozenset[str] = frozenset()
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    async def start(self) -> None:
        """Take a slot and this process's preferred leases; keep taking them as they free up."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        await self._take_preferred()
        self._task = asyncio.get_running_loop().create_task(self._keep(), name="leases")

    def holds(self, community: str) -> bool:
        return community in self._held

    def held(self) -> list[str]:
        """The communities whose lease this process holds."""
        return sorted(self._held)

    async def acquire(self, community: str) -> bool:
        if community in self._held:
            return True
        if self._closed:  # shutting down: take nothing new on
            return False
        since = self._unheld_since.get(community)
        waited = since is not None and time.monotonic() - since >= LEASE_GRACE_SECONDS
        if community in self._preferred or waited:
            return await self._take(community)
        return False

    async def forward(self, community: str, draft: Draft) -> Result:
        try:
            sender = await self._sender(community)
        except OSError as error:
            self._unheld_since.setdefault(community, time.monotonic())
            DRAFTS_FORWARDED.labels(community, "no_holder").inc()
            raise NoHolder(f"nobody listens for {community}: {error!r}") from error
        self._unheld_since.pop(community, None)
        try:
            result = await sender.send(draft)
        except HolderGone:
            if self._senders.get(community) is sender:
                del self._senders[community]
            DRAFTS_FORWARDED.labels(community, "holder_gone").inc()
            raise
        except forwarding.HolderSilent:
            DRAFTS_FORWARDED.labels(community, "timed_out").inc()
            raise
        DRAFTS_FORWARDED.labels(community, "answered").inc()
        return result

    async def _sender(self, community: str) -> forwarding.Sender:
        """The open connection to ``community``'s holder; drafts that arrive while it is
        being opened wait for the same one."""
        sender = self._senders.get(community)
        if sender is not None and not sender.closed:
            return sender
        opening = self._opening.get(community)
        if opening is None:
            opening = asyncio.ensure_future(self._connect(community))
            self._opening[community] = opening
        # Shielded: a caller that gives up does not take the others' connection with it.
        return await asyncio.shield(opening)

    async def _connect(self, community: str) -> forwarding.Sender:
        try:
            sender = await forwarding.Sender.connect(self._socket(community), community)
            self._senders[community] = sender
            return sender
        finally:
            del self._opening[community]

    async def close(self) -> None:
        """Stop taking drafts, answer those in hand, and let go of every lease."""
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for community in list(self._held):
            await self._release(community)
        for sender in self._senders.values():
            await sender.close()
        self._senders.clear()
        if self._slot_fd is not None:
            os.close(self._slot_fd)
            self._slot_fd = self.slot = None

    async def _keep(self) -> None:
        while True:
            await asyncio.sleep(LEASE_POLL_SECONDS)
            try:
                await self._take_preferred()
            except Exception as error:  # noqa: BLE001 - the database is away: look again later
                log.warning("leases: cannot take preferred leases now: %r", error)

    async def _take_preferred(self) -> None:
        """Take the free leases this slot prefers, and hand back those another live slot
        prefers (taken while it was gone), so that a restarted worker gets its share."""
        if self.slot is None:
            self._take_slot()
        slots = preferred_slots(await self._communities(), self._spread)
        self._preferred = frozenset(c for c, slot in slots.items() if slot == self.slot)
        for community in sorted(self._preferred - self._held.keys()):
            await self._take(community)
        for community in sorted(self._held.keys() - self._preferred):
            slot = slots.get(community)
            if slot is not None and self._slot_taken(slot):
                await self._release(community)

    def _take_slot(self) -> None:
        """The first free slot, if any is (else looked for again at the next poll: a
        slot is busy for an instant while another process looks whether it is free)."""
        for index in range(self._spread):
            fd = _try_lock(self.directory / f"slot-{index}.lock")
            if fd is not None:
                self.slot, self._slot_fd = index, fd
                return

    def _slot_taken(self, slot: int) -> bool:
        """Whether a live process holds ``slot`` (it takes its preferred leases as they free)."""
        if slot == self.slot:
            return False
        fd = _try_lock(self.directory / f"slot-{slot}.lock", note_pid=False)
        if fd is None:
            return True
        os.close(fd)  # nobody had it: let go at once
        return False

    async def _take(self, community: str) -> bool:
        key = lease_key(community)
        fd = _try_lock(self.directory / f"{key}.lock")
        if fd is None:
            return False
        try:
            holder = await forwarding.Holder.listen(
                self._socket(community), community, self._answer
            )
        except BaseException:
            os.close(fd)
            raise
        self._held[community] = (fd, holder)
        self._unheld_since.pop(community, None)
        sender = self._senders.pop(community, None)
        if sender is not None:
            await sender.close()
        log.info("lease for %s taken by pid %d (slot %s)", community, os.getpid(), self.slot)
        return True

    async def _release(self, community: str) -> None:
        fd, holder = self._held.pop(community)
        await holder.close()
        os.close(fd)
        log.info("lease for %s released by pid %d", community, os.getpid())

    async def _answer(self, community: str, draft: Draft) -> Result | None:
        """What the holder's writer says of a forwarded draft; None when this process
        no longer holds the lease (the sender then looks for the new holder)."""
        if community not in self._held:
            return None
        return await self._append_here(community, draft)

    def _socket(self, community: str) -> Path:
        return self.directory / f"{lease_key(community)}.sock"
