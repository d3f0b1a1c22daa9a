"""Drafts handed to a community's writer in another process, over a unix socket.

Each message is a frame: a 4-byte big-endian length, then msgpack. A sender
writes ``Ask`` frames (a number it chose and the draft) on one connection and
may have many in flight; the holder answers each with an ``Answer`` carrying
the same number, in the order its writer finishes them. One connection serves
one community (the socket is that community's, see ``api.leases``).

An answer is what ``Writer.append`` returned or raised: the entry as stored
(its seq and bytes, and whether it was already there), a rejection, busy, or
unavailable; or *not the holder* when the process has let go of the lease. A
connection that ends with drafts in flight leaves their fate unknown: the sender
raises ``HolderGone`` and the ledger offers them again under the same ids. A
draft whose answer does not come within ``limits.FORWARD_WAIT_SECONDS`` is
answered ``LedgerUnavailable`` (a 503 with Retry-After): the holder may still
commit it later, and the caller's retry under the same key then finds that entry.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import struct
from collections.abc import Awaitable, Callable
from pathlib import Path

import msgspec

from ledger import limits
from ledger.batch import Accepted
from ledger.lease import HolderGone
from ledger.model import Draft, Rejected
from ledger.sql.journal import entry_from_row
from ledger.store import Refused
from ledger.writer import Appended, LedgerBusy, LedgerUnavailable, Result

log = logging.getLogger(__name__)

_LENGTH = struct.Struct("!I")
APPENDED, REJECTED, REFUSED, BUSY, UNAVAILABLE, NOT_HOLDER = (
    "appended", "rejected", "refused", "busy", "unavailable", "not_holder",
)  # fmt: skip
# How long a holder that is letting go of its lease waits for its writer to
# answer the drafts it has in hand.
CLOSE_WAIT_SECONDS = 10.0


class Ask(msgspec.Struct, array_like=True):
    number: int
    draft: Draft


class Answer(msgspec.Struct, array_like=True):
    number: int
    outcome: str
    seq: int = -1
    data: bytes = b""
    retried: bool = False
    rejected: Rejected | None = None
    message: str = ""


_encoder = msgspec.msgpack.Encoder()
_asks = msgspec.msgpack.Decoder(Ask)
_answers = msgspec.msgpack.Decoder(Answer)


def _frame(message: Ask | Answer) -> bytes:
    payload = _encoder.encode(message)
    return _LENGTH.pack(len(payload)) + payload


async def _read_frame(reader: asyncio.StreamReader) -> bytes:
    (length,) = _LENGTH.unpack(await reader.readexactly(_LENGTH.size))
    if length > limits.FORWARD_FRAME_BYTES_MAX:
        raise ValueError(f"a frame of {length} bytes")
    return await reader.readexactly(length)


def answer_of(number: int, result: Result) -> Answer:
    if isinstance(result, Rejected):
        return Answer(number, REJECTED, rejected=result)
    entry = result.entry
    return Answer(number, APPENDED, seq=entry.seq, data=entry.data, retried=result.accepted.retried)


def result_of(community: str, answer: Answer) -> Result:
    """What the holder's writer answered, as this process's writer would have."""
    if answer.outcome == APPENDED:
        entry = entry_from_row(community, answer.seq, answer.data)
        return Appended(Accepted(entry, answer.retried), checkpoint=None, proofs=None)
    if answer.outcome == REJECTED and answer.rejected is not None:
        return answer.rejected
    if answer.outcome == REFUSED:
        raise Refused((), answer.message)
    if answer.outcome == BUSY:
        raise LedgerBusy(answer.message)
    if answer.outcome == UNAVAILABLE:
        raise LedgerUnavailable(answer.message)
    raise HolderGone(f"the process asked no longer writes {community}")


class HolderSilent(LedgerUnavailable):
    """The holder did not answer in time; the draft may still be committed later."""


Answerer = Callable[[str, Draft], Awaitable[Result | None]]


class Holder:
    """The holder's end: takes drafts on ``path`` and answers them through ``answer``."""

    def __init__(self, path: Path, community: str, answer: Answerer) -> None:
        self._path = path
        self._community = community
        self._answer = answer
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._in_hand: set[asyncio.Task[None]] = set()

    @classmethod
    async def listen(cls, path: Path, community: str, answer: Answerer) -> Holder:
        """Listen on ``path``, replacing the socket a holder before may have left."""
        holder = cls(path, community, answer)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        holder._server = await asyncio.start_unix_server(holder._connected, path=str(path))
        return holder

    async def close(self) -> None:
        """Take no more drafts; answer those in hand (for a while); then hang up."""
        if self._server is not None:
            self._server.close()
            self._server = None
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._path)
        if self._in_hand:
            await asyncio.wait(set(self._in_hand), timeout=CLOSE_WAIT_SECONDS)
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.wait(set(self._connections))

    async def _connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            while True:
                ask = _asks.decode(await _read_frame(reader))
                one = asyncio.get_running_loop().create_task(self._one(ask, writer))
                self._in_hand.add(one)
                one.add_done_callback(self._in_hand.discard)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        except (ValueError, msgspec.DecodeError) as error:
            log.warning("forwarding for %s: a bad frame: %r", self._community, error)
        finally:
            self._connections.discard(task)
            writer.close()

    async def _one(self, ask: Ask, writer: asyncio.StreamWriter) -> None:
        try:
            result = await self._answer(self._community, ask.draft)
            if result is None:
                answer = Answer(ask.number, NOT_HOLDER)
            else:
                answer = answer_of(ask.number, result)
        except Refused as error:
            answer = Answer(ask.number, REFUSED, message=str(error))
        except LedgerBusy as error:
            answer = Answer(ask.number, BUSY, message=str(error))
        except LedgerUnavailable as error:
            answer = Answer(ask.number, UNAVAILABLE, message=str(error))
        except Exception as error:  # the sender's caller must hear of it, as a 503
            log.exception("forwarded draft for %s failed", self._community)
            answer = Answer(ask.number, UNAVAILABLE, message=repr(error))
        if not writer.is_closing():
            with contextlib.suppress(RuntimeError, OSError):  # hung up meanwhile (uvloop raises)
                writer.write(_frame(answer))


class Sender:
    """A follower's end: one connection to a community's holder, many drafts in flight."""

    def __init__(
        self, community: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self._community = community
        self._reader = reader
        self._writer = writer
        self._numbers = itertools.count()
        self._waiting: dict[int, asyncio.Future[Answer]] = {}
        self._ended = False
        self._task = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def connect(cls, path: Path, community: str) -> Sender:
        reader, writer = await asyncio.open_unix_connection(str(path))
        return cls(community, reader, writer)

    @property
    def closed(self) -> bool:
        """Whether the connection has ended: its reader saw the end, or its transport
        closed (the holder died) before the reader ran."""
        return self._ended or self._writer.is_closing()

    def _gone(self) -> HolderGone:
        return HolderGone(f"the connection to {self._community}'s holder is closed")

    async def send(self, draft: Draft) -> Result:
        if self.closed:
            raise self._gone()
        number = next(self._numbers)
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._waiting[number] = future
        try:
            try:
                self._writer.write(_frame(Ask(number, draft)))
            except (RuntimeError, OSError) as error:  # uvloop raises on a closed handle
                raise self._gone() from error
            answer = await asyncio.wait_for(future, limits.FORWARD_WAIT_SECONDS)
        except TimeoutError:
            raise HolderSilent(
                f"{self._community}'s holder did not answer within "
                f"{limits.FORWARD_WAIT_SECONDS:g} s"
            ) from None
        finally:
            self._waiting.pop(number, None)
        return result_of(self._community, answer)

    async def close(self) -> None:
        self._writer.close()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _read(self) -> None:
        try:
            while True:
                answer = _answers.decode(await _read_frame(self._reader))
                future = self._waiting.get(answer.number)
                if future is not None and not future.done():
                    future.set_result(answer)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        except (ValueError, msgspec.DecodeError) as error:
            log.warning("forwarding for %s: a bad answer: %r", self._community, error)
        finally:
            self._ended = True
            self._writer.close()
            gone = HolderGone(f"{self._community}'s holder hung up with the draft in hand")
            for future in self._waiting.values():
                if not future.done():
                    future.set_exception(gone)
