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
"""

from __future__ import annotations

import logging
import logging.config
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import msgspec

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


def logging_config(level: str = "INFO", *, request_log: bool = True) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` dictionary (also uvicorn's ``log_config``):
    everything as JSON lines on standard error, uvicorn's access log off."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.JsonFormatter"}},
        "handlers": {
            "json": {
                "class": "logging.StreamHandler",
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


def configure(level: str = "INFO", *, request_log: bool = True) -> None:
    """Configure this process's logging. The lines hold no source file, thread or
    process, so logging is told not to look them up for every record (the Logging
    HOWTO's "Optimization"): that is most of a request line's cost."""
    logging.config.dictConfig(logging_config(level, request_log=request_log))
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
