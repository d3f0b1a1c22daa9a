"""Structured logs: one JSON object per line, from the standard library's logging.

``logging_config`` is the one configuration, used by ``buurtmunt serve`` for
uvicorn and by ``app_from_environment`` for the app; uvicorn's own access log
is off in favour of the app's request log (logger ``buurtmunt.requests``, one
line per request, written by ``api.observe``). Every line carries the id of
the request it was written in, when there is one.

What a line may hold is chosen so that no secret reaches the log: requests are
logged by route template (``/P/{request_id}``), never by raw path, query
string, header or body, so tokens, sign-in links, PINs and pay codes stay out.
Client addresses stay out too: they are personal data, and nothing here needs them.

Lines are written in batches (``BatchingStreamHandler``): a write per request
was a fifth of the request line's cost. A line waits at most
``LOG_FLUSH_SECONDS``; a warning or an error is written at once.
"""

from __future__ import annotations

import logging
import logging.config
import signal
import threading
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import msgspec

from api import limits

REQUEST_LOGGER = "buurtmunt.requests"

# LogRecord's own attributes; anything else on a record came from ``extra=``.
_RECORD_ATTRIBUTES = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys()
    | {"message", "asctime", "color_message"}
)


class RequestScope:
    """The request a piece of code runs for. Tasks started during a request copy the
    context, and with it this object: ``end`` clears it for them too."""

    __slots__ = ("request_id",)

    def __init__(self, request_id: str) -> None:
        self.request_id: str | None = request_id

    def end(self) -> None:
        self.request_id = None


CURRENT_REQUEST: ContextVar[RequestScope | None] = ContextVar("current_request", default=None)

_encoder = msgspec.json.Encoder(enc_hook=str)


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message", "request_id"?, ...extra, "exception"?}``."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        scope = CURRENT_REQUEST.get()
        if scope is not None and scope.request_id is not None:
            line["request_id"] = scope.request_id
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRIBUTES:
                line.setdefault(key, value)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return _encoder.encode(line).decode()


class BatchingStreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler that writes lines in batches: at most ``LOG_FLUSH_SECONDS``
    after the first waiting line, when ``LOG_BUFFER_BYTES_MAX`` are waiting, at a
    warning or worse, and when logging shuts down (at exit)."""

    def __init__(self, stream: Any = None) -> None:
        super().__init__(stream)
        self._lines: list[str] = []
        self._waiting_bytes = 0
        self._timer: threading.Timer | None = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:  # noqa: BLE001 - as logging.Handler.emit: a bad record is reported, not raised
            self.handleError(record)
            return
        self.write_line(line, urgent=record.levelno >= logging.WARNING)

    def write_line(self, line: str, *, urgent: bool = False) -> None:
        """Queue one formatted line (``urgent``: write it, and all before it, now)."""
        with self.lock:  # type: ignore[union-attr]
            self._lines.append(line)
            self._waiting_bytes += len(line)
            if urgent or self._waiting_bytes >= limits.LOG_BUFFER_BYTES_MAX:
                self._write()
            elif self._timer is None:
                self._timer = threading.Timer(limits.LOG_FLUSH_SECONDS, self.flush)
                self._timer.daemon = True
                self._timer.start()

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            self._write()

    def _write(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._lines:
            self.stream.write("\n".join(self._lines) + "\n")
            self._lines.clear()
            self._waiting_bytes = 0
        if self.stream and hasattr(self.stream, "flush"):
            self.stream.flush()


class RequestLine(msgspec.Struct):
    """The request log's line: what ``JsonFormatter`` writes for it, field for field."""

    time: str
    level: str
    logger: str
    message: str
    request_id: str
    method: str
    route: str
    status: int
    duration_ms: float


_request_log = logging.getLogger(REQUEST_LOGGER)
_line_encoder = msgspec.json.Encoder()


def _batching_handlers(logger: logging.Logger) -> list[BatchingStreamHandler] | None:
    """The handlers a record of ``logger`` at INFO would reach, if all are batching
    JSON handlers that take INFO; None if any other handler (a test's) is among them."""
    found: list[BatchingStreamHandler] = []
    current: logging.Logger | None = logger
    while current is not None:
        for handler in current.handlers:
            if type(handler) is not BatchingStreamHandler or handler.level > logging.INFO:
                return None
            if not isinstance(handler.formatter, JsonFormatter) or handler.filters:
                return None
            found.append(handler)
        current = current.parent if current.propagate else None
    return found


def log_request(request_id: str, method: str, route: str, status: int, seconds: float) -> None:
    """One request's line in the request log.

    The line is the one ``logger.info`` would write through ``JsonFormatter``,
    but built straight from its fields and handed to the batching handlers:
    making a ``LogRecord`` and passing it along for every request cost as much
    CPU as the rest of what a request adds. Under any other handler (a test's
    capture, say) it goes through ``logger.info`` like every other line.
    """
    if not _request_log.isEnabledFor(logging.INFO):
        return
    message = f"{method} {route} {status}"
    duration_ms = round(seconds * 1000, 3)
    handlers = _batching_handlers(_request_log)
    if handlers is None:
        fields = {"request_id": request_id, "method": method, "route": route, "status": status}
        _request_log.info(message, extra={**fields, "duration_ms": duration_ms})
        return
    now = datetime.now(UTC).isoformat(timespec="milliseconds")
    line = RequestLine(now, "INFO", REQUEST_LOGGER, message, request_id, method, route, status,
                       duration_ms)  # fmt: skip
    text = _line_encoder.encode(line).decode()
    for handler in handlers:
        handler.write_line(text)


def logging_config(level: str = "INFO", *, request_log: bool = True) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` dictionary (also uvicorn's ``log_config``):
    everything as JSON lines on standard error, uvicorn's access log off."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.JsonFormatter"}},
        "handlers": {
            "json": {
                "()": f"{__name__}.BatchingStreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["json"], "level": level},
        "loggers": {
            # uvicorn's loggers lose their own handlers and go through the root's.
            "uvicorn": {"handlers": [], "propagate": True, "level": level},
            "uvicorn.error": {"handlers": [], "propagate": True, "level": level},
            "uvicorn.access": {"handlers": [], "propagate": False, "level": "CRITICAL"},
            REQUEST_LOGGER: {"level": "INFO" if request_log else "WARNING"},
        },
    }


def flush() -> None:
    """Write every waiting line now (at shutdown: worker processes may not run ``atexit``)."""
    for handler in logging.getLogger().handlers:
        handler.flush()


def flush_at_sigterm() -> None:
    """Write the last lines before a SIGTERM ends the process.

    ``uvicorn`` stops gracefully on SIGTERM and then raises the signal again, so that
    the process ends by it (exit status 143, which service managers take as a clean
    stop); that ends the process before the batching handlers' timer writes what
    the shutdown logged. Called before ``uvicorn.run``: its re-raise lands here."""

    def flush_then_end(signum: int, _frame: object) -> None:
        flush()
        signal.signal(signum, signal.SIG_DFL)
        signal.raise_signal(signum)

    signal.signal(signal.SIGTERM, flush_then_end)


def configure(level: str = "INFO", *, request_log: bool = True) -> None:
    """Configure this process's logging. The lines hold no source file, thread or
    process, so logging is told not to look them up for every record (the Logging
    HOWTO's "Optimization"): that is most of a request line's cost."""
    logging.config.dictConfig(logging_config(level, request_log=request_log))
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
