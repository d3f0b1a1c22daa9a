"""A server-sent event stream as a light ASGI response.

Litestar's ``ServerSentEvent`` runs each stream in an anyio task group (one task
sends, one listens for the client leaving) and cancels the group when the
stream ends; with a till's stream per payment that costs as much as the rest of
a payment's answer. ``EventStream`` sends the head, the events and the end
from the handler's own task. Noticing that the client left needs someone
waiting on ``receive``: one plain task does, and cancels the stream's task if
the client goes before the stream ends.

The wire format is the one ``ServerSentEvent`` writes: ``event: <kind>`` and
``data: <one line>``, each line ended by CRLF, and an empty line after each
event. The last event goes out with the end of the response, in one write.
The head says ``Connection: close``: nothing follows a stream's end on its
connection (an ``EventSource`` opens a new one to reconnect), so the server
closes it after the last write instead of keeping it open until the client
goes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from typing import Any

from litestar import Response
from litestar.types import Message, Receive, Scope, Send

_HEAD = (
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"connection", b"close"),
)
_END: Message = {"type": "http.response.body", "body": b"", "more_body": False}


@dataclass(frozen=True, slots=True)
class Chunk:
    """Encoded events (``encode_event``) to send; ``last`` if the stream ends with them."""

    data: bytes
    last: bool = False


def encode_event(kind: str, data: bytes) -> bytes:
    """One event on the wire; ``kind`` and ``data`` hold no line break."""
    assert b"\n" not in data and b"\r" not in data, "one data line"
    return b"event: " + kind.encode() + b"\r\ndata: " + data + b"\r\n\r\n"


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


class EventStream(Response[None]):
    """Sends the chunks of ``events`` as they come, and ends with the last one (or when
    ``events`` ends).

    A route handler returns it like any response (so the API schema shows a
    ``text/event-stream`` answer); it answers as an ASGI app of its own."""

    def __init__(self, events: AsyncGenerator[Chunk, None], headers: Mapping[str, str]) -> None:
        super().__init__(None, media_type="text/event-stream")
        self._events = events
        own = [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in headers.items()
        ]
        self._head = [*_HEAD, *own]

    def to_asgi_response(self, *_: Any, **__: Any) -> EventStream:  # type: ignore[override]
        return self

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        task = asyncio.current_task()
        assert task is not None, "served in a task"
        ending = False

        def left(listening: asyncio.Future[None]) -> None:
            # The client went away before the stream ended: stop the stream's task.
            if not ending and not listening.cancelled() and listening.exception() is None:
                task.cancel()

        listening = asyncio.ensure_future(_until_disconnect(receive))
        listening.add_done_callback(left)
        events = self._events
        complete = False
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self._head})
            async for chunk in events:
                # After the last chunk the events end (and their generators with them).
                assert not ending, "nothing after the last chunk"
                ending = chunk.last
                await send(
                    {"type": "http.response.body", "body": chunk.data, "more_body": not ending}
                )
            if not ending:
                ending = True
                await send(_END)
            complete = True
        except asyncio.CancelledError:
            if ending or not listening.done() or listening.cancelled():
                raise
            task.uncancel()  # our own cancel: the client left, and that is the end
        finally:
            ending = True
            if not complete:
                listening.cancel()
                with contextlib.suppress(Exception):
                    await events.aclose()
            # Else the events have ended, and the listener ends by itself: once the
            # response is complete, the server answers ``receive`` with
            # ``http.disconnect`` (ASGI). Cancelling it would cost more than the
            # rest of the stream's end.
