"""The JSON log: one object per line, the request line's fast path, lines written in batches."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator

import pytest

from api import limits, logs


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """The process's logging as a server configures it, written to a string."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, logging.getLogger(logs.REQUEST_LOGGER).level)
    switches = ("_srcfile", "logThreads", "logProcesses", "logMultiprocessing")
    saved_switches = {name: getattr(logging, name) for name in switches}
    logs.configure("INFO")
    stream = io.StringIO()
    (handler,) = root.handlers
    assert isinstance(handler, logs.BatchingStreamHandler)
    handler.setStream(stream)
    try:
        yield stream
    finally:
        handler.flush()
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        logging.getLogger(logs.REQUEST_LOGGER).setLevel(saved[2])
        for name, value in saved_switches.items():
            setattr(logging, name, value)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    for handler in logging.getLogger().handlers:
        handler.flush()
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_request_line_is_the_line_the_formatter_writes_for_the_same_fields(
    captured: io.StringIO,
) -> None:
    logs.log_request("req-1", "POST", "/api/v1/transfers", 201, 0.0123456)
    formatted = logs.JsonFormatter().format(
        logging.LogRecord(
            logs.REQUEST_LOGGER, logging.INFO, "", 0, "POST /api/v1/transfers 201", None, None
        )
    )

    (fast,) = lines(captured)
    slow = json.loads(formatted)
    assert list(fast)[:4] == list(slow) == ["time", "level", "logger", "message"]
    assert {k: fast[k] for k in ("level", "logger", "message")} == {
        k: slow[k] for k in ("level", "logger", "message")
    }
    assert fast["request_id"] == "req-1" and fast["route"] == "/api/v1/transfers"
    assert fast["status"] == 201 and fast["duration_ms"] == 12.346


def test_under_another_handler_a_request_line_goes_through_the_logger(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger=logs.REQUEST_LOGGER):
        logs.log_request("req-2", "GET", "/health", 200, 0.001)

    (record,) = [r for r in caplog.records if r.name == logs.REQUEST_LOGGER]
    assert record.getMessage() == "GET /health 200"
    assert record.__dict__["request_id"] == "req-2"


def test_lines_wait_briefly_but_a_warning_goes_out_at_once_with_those_before_it(
    captured: io.StringIO,
) -> None:
    log = logging.getLogger("buurtmunt.test")
    log.info("first")
    waiting = captured.getvalue()
    log.warning("second")
    both = captured.getvalue()
    log.info("third")
    time.sleep(limits.LOG_FLUSH_SECONDS * 3)

    assert waiting == ""
    assert [json.loads(line)["message"] for line in both.splitlines()] == ["first", "second"]
    assert json.loads(captured.getvalue().splitlines()[-1])["message"] == "third"


def test_a_line_written_during_a_request_carries_its_id_and_an_exception_its_traceback(
    captured: io.StringIO,
) -> None:
    token = logs.CURRENT_REQUEST.set(logs.RequestScope("req-3"))
    try:
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("buurtmunt.test").exception("failed")
    finally:
        logs.CURRENT_REQUEST.reset(token)

    (line,) = lines(captured)
    assert line["request_id"] == "req-3" and line["level"] == "ERROR"
    assert "ValueError: boom" in str(line["exception"])
