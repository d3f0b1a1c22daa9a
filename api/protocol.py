"""The HTTP/1.1 protocol ``buurtmunt serve`` runs: uvicorn's, with the request head bounded.

uvicorn's httptools protocol buffers a request line and headers however long they
grow (a 64 MiB header cost the process 64 MiB). ``BoundedHttpToolsProtocol``
answers a connection whose head passes ``REQUEST_HEAD_BYTES_MAX`` before it ends
with a 431 problem ``headers_too_large`` and closes it, so each connection holds
at most that much (and one read) of head. Without httptools, uvicorn's h11
protocol bounds the head itself (``h11_max_incomplete_event_size``; it answers 400).
The app checks the headers it is handed as well (``api.headers``), whatever
server runs it.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from api import limits
from api.problems import MEDIA_TYPE, problem_body

HAS_HTTPTOOLS = importlib.util.find_spec("httptools") is not None
# What ``buurtmunt serve`` hands uvicorn as its ``http`` protocol.
HTTP_PROTOCOL = "api.protocol:BoundedHttpToolsProtocol" if HAS_HTTPTOOLS else "h11"

_BODY = problem_body(
    431,
    "headers_too_large",
    f"The request's line and headers exceed {limits.REQUEST_HEAD_BYTES_MAX} bytes.",
    {"head_bytes_max": limits.REQUEST_HEAD_BYTES_MAX},
)
RESPONSE_431 = b"".join(
    [
        b"HTTP/1.1 431 Request Header Fields Too Large\r\n",
        b"content-type: " + MEDIA_TYPE.encode("ascii") + b"\r\n",
        b"content-length: " + str(len(_BODY)).encode("ascii") + b"\r\n",
        b"connection: close\r\n\r\n",
        _BODY,
    ]
)

if HAS_HTTPTOOLS:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class BoundedHttpToolsProtocol(HttpToolsProtocol):
        """uvicorn's httptools protocol, counting the bytes each request head takes."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._reading_head = True
            self._head_bytes = 0

        def data_received(self, data: bytes) -> None:
            # A read that also carries the end of the head or a body is counted whole:
            # the count may run a read ahead, never behind.
            if self._reading_head:
                self._head_bytes += len(data)
            super().data_received(data)
            over = self._head_bytes > limits.REQUEST_HEAD_BYTES_MAX
            if self._reading_head and over and not self.transport.is_closing():
                self.logger.warning("A request head over %d bytes.", self._head_bytes)
                self.transport.write(RESPONSE_431)
                self.transport.close()

        def on_headers_complete(self) -> None:
            self._reading_head, self._head_bytes = False, 0
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            super().on_message_complete()
            self._reading_head = True
