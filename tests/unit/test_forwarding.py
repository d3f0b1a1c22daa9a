"""What a holder answers for a forwarded draft reaches the sender as its own writer's
answer would (``api.forwarding``), through the bytes that cross the socket."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import msgspec
import pytest
import uvloop

from api.forwarding import (
    BUSY,
    NOT_HOLDER,
    UNAVAILABLE,
    Answer,
    Ask,
    Sender,
    answer_of,
    result_of,
)
from ledger.batch import Accepted
from ledger.canonical import encode_entry
from ledger.lease import HolderGone
from ledger.model import Rejected, Rejection
from ledger.sql.journal import entry_from_row
from ledger.writer import Appended, LedgerBusy, LedgerUnavailable
from tests.support.builders import COMMUNITY, earn


def over_the_socket(answer: Answer) -> Answer:
    return msgspec.msgpack.decode(msgspec.msgpack.encode(answer), type=Answer)


def test_a_draft_crosses_the_socket_unchanged() -> None:
    draft = earn("org-1", "member-1", 45, id="e-1", meta=(("hours", 1), ("paid", True)))

    ask = msgspec.msgpack.decode(msgspec.msgpack.encode(Ask(7, draft)), type=Ask)

    assert ask == Ask(7, draft)


@pytest.mark.parametrize("retried", [False, True])
def test_an_appended_draft_comes_back_as_the_entry_the_holder_stored(retried: bool) -> None:
    draft = earn("org-1", "member-1", 45, id="e-1")
    data = encode_entry(COMMUNITY, 3, "2026-12-06T10:00:00.000000Z", draft, b"\x01" * 32)
    entry = entry_from_row(COMMUNITY, 3, data)
    sent = Appended(Accepted(entry, retried), checkpoint=None, proofs=None)

    result = result_of(COMMUNITY, over_the_socket(answer_of(1, sent)))

    assert result == sent


def test_a_rejection_comes_back_with_its_code_and_numbers() -> None:
    rejected = Rejected("t-1", Rejection.EXCEEDS_BALANCE, (("balance_minutes", 30),))

    assert result_of(COMMUNITY, over_the_socket(answer_of(1, rejected))) == rejected


@pytest.mark.parametrize(
    ("outcome", "raised"),
    [(BUSY, LedgerBusy), (UNAVAILABLE, LedgerUnavailable), (NOT_HOLDER, HolderGone)],
)
def test_a_holder_that_could_not_append_makes_the_sender_raise_the_same(
    outcome: str, raised: type[Exception]
) -> None:
    with pytest.raises(raised):
        result_of(COMMUNITY, over_the_socket(Answer(1, outcome, message="why")))


Run = Callable[[Coroutine[Any, Any, None]], None]


@pytest.mark.parametrize("run", [asyncio.run, uvloop.run], ids=["asyncio", "uvloop"])
def test_a_draft_sent_after_the_holder_dropped_the_connection_raises_holder_gone(
    run: Run, tmp_path: Path
) -> None:
    """The holder's process is killed: the connection's transport closes before the
    sender's reader has seen the end. The draft must come back as ``HolderGone`` (the
    ledger offers it again), not as the event loop's error (uvloop raises on a write
    to a closed handle), which would answer the member with a 500."""

    async def scenario() -> None:
        path = tmp_path / "holder.sock"
        holder = await asyncio.start_unix_server(lambda reader, writer: None, path=str(path))
        sender = await Sender.connect(path, COMMUNITY)
        assert not sender.closed
        # The holder dies: its end of the socket closes. One turn of the loop closes
        # the sender's transport; its reader's turn comes after this coroutine's.
        sender._writer.transport.abort()
        await asyncio.sleep(0)

        with pytest.raises(HolderGone):
            await sender.send(earn("org-1", "member-1", 45, id="e-1"))
        assert sender.closed

        await sender.close()
        holder.close()

    run(scenario())
