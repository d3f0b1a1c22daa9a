"""The event stream as an ASGI response: its head, its end, and its listener for the client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

from api.event_stream import Chunk, EventStream


class Connection:
    """An ASGI server's side of one request, as the ASGI spec has it: ``receive``
    answers ``http.disconnect`` once the response is complete or the client left."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.disconnects = 0
        self._done = asyncio.Event()
        self._received_request = False

    async def receive(self) -> dict[str, Any]:
        if not self._received_request:
            self._received_request = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await self._done.wait()
        self.disconnects += 1
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body"):
            self._done.set()

    def leave(self) -> None:
        self._done.set()


async def chunks(*items: Chunk, then_wait: asyncio.Event | None = None) -> AsyncGenerator[Chunk]:
    for item in items:
        yield item
    if then_wait is not None:
        await then_wait.wait()


async def others_pending() -> set[asyncio.Task[Any]]:
    for _ in range(3):  # let woken tasks run to their end
        await asyncio.sleep(0)
    return {t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()}


async def test_a_stream_ends_with_its_last_event_and_closes_its_connection() -> None:
    connection = Connection()
    stream = EventStream(
        chunks(Chunk(b"event: heartbeat\r\n\r\n"), Chunk(b"event: paid\r\n\r\n", last=True)),
        headers={"Cache-Control": "no-store"},
    )

    await stream({"type": "http"}, connection.receive, connection.send)

    start, heartbeat, paid = connection.sent
    assert (b"connection", b"close") in start["headers"]
    assert (b"cache-control", b"no-store") in start["headers"]
    assert (heartbeat["body"], heartbeat["more_body"]) == (b"event: heartbeat\r\n\r\n", True)
    assert (paid["body"], paid["more_body"]) == (b"event: paid\r\n\r\n", False)
    # The listener for the client heard the end of the response and ended with it.
    assert await others_pending() == set()
    assert connection.disconnects == 1


async def test_a_stream_whose_client_leaves_stops_and_closes_its_events() -> None:
    connection = Connection()
    never = asyncio.Event()
    closed = False

    async def events() -> AsyncGenerator[Chunk]:
        nonlocal closed
        try:
            async for chunk in chunks(Chunk(b"event: heartbeat\r\n\r\n"), then_wait=never):
                yield chunk
        finally:
            closed = True

    serving = asyncio.ensure_future(
        EventStream(events(), headers={})({"type": "http"}, connection.receive, connection.send)
    )
    await asyncio.sleep(0.01)
    connection.leave()
    await asyncio.wait_for(serving, 1)

    assert [m.get("more_body") for m in connection.sent[1:]] == [True]
    assert closed, "the events' generator is closed"
    assert await others_pending() == set()
