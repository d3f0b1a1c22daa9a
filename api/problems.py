"""Every error response, in one place: RFC 9457 problem details with a stable ``code``.

A problem is ``application/problem+json`` with ``type`` (a tag URI naming the
code), ``title``, ``status``, ``detail``, ``code`` (the ledger's rejection name,
or one of the API's own codes below) and the numbers that explain it: a
balance, a cap, when a monthly limit resets, how long to wait. Routes raise
``ProblemError``; the exception handlers here turn it, Litestar's own HTTP
errors, the ledger's rejections and its busy/unavailable errors into problems.
Nothing else builds an error response.

Browsers get a page instead: when a request prefers ``text/html`` to JSON and
the pages are installed, the page they put in the app's state under
``ERROR_PAGE_STATE`` answers, with the same status and headers. API clients
(``Accept: application/json``, ``*/*`` or none) keep problem JSON.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.datastructures import ResponseSpec

from api.database import database_unreachable
from api.metrics import observe_problem
from ledger.model import Rejected, Rejection
from ledger.writer import LedgerBusy, LedgerUnavailable

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "tag:buurtmunt.nl,2026:problem:"
RETRY_AFTER_BUSY_SECONDS = 1
VALIDATION_ERRORS_MAX = 10
VALIDATION_DETAIL_CHARS_MAX = 300

Number = int | str
ERROR_PAGE_STATE = "error_page"
# (request, status, code) -> the HTML page for it.
ErrorPage = Callable[[Request[Any, Any, Any], int, str], Response[Any]]
_NEGOTIATED = [MEDIA_TYPE, "application/json", "text/html"]


class ProblemError(Exception):
    """Raised by routes; becomes one problem response."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str = "",
        *,
        headers: Mapping[str, str] | None = None,
        **numbers: Any,
    ) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = dict(headers or {})
        self.numbers = numbers


class Problem(msgspec.Struct, omit_defaults=True):
    """The documented shape of every error response (more numbers may appear)."""

    type: str
    title: str
    status: int
    code: str
    detail: str = ""
    balance_minutes: int | None = None
    floor_minutes: int | None = None
    cap_minutes_per_month: int | None = None
    earned_minutes: int | None = None
    budget_minutes_per_month: int | None = None
    issued_minutes: int | None = None
    month: str | None = None
    resets_at: str | None = None
    retry_after_seconds: int | None = None
    receipt_url: str | None = None
    errors: list[dict[str, str]] | None = None


def problem_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI response entries for the problems a route may answer with."""
    return {
        status: ResponseSpec(
            data_container=Problem, media_type=MEDIA_TYPE, description="A problem (RFC 9457)"
        )
        for status in sorted({*statuses, 401, 422, 429, 503})
    }


# Rejections that mean "this id or thing already exists": the request conflicts.
_CONFLICTS = frozenset(
    {
        Rejection.EXISTS_WITH_DIFFERENT_KIND,
        Rejection.EXISTS_WITH_DIFFERENT_ACTOR,
        Rejection.EXISTS_WITH_DIFFERENT_PAYER,
        Rejection.EXISTS_WITH_DIFFERENT_PAYEE,
        Rejection.EXISTS_WITH_DIFFERENT_AMOUNT,
        Rejection.EXISTS_WITH_DIFFERENT_MEMO,
        Rejection.EXISTS_WITH_DIFFERENT_REFERENCE,
        Rejection.EXISTS_WITH_DIFFERENT_META,
        Rejection.EXISTS_WITH_DIFFERENT_CONTENT,
        Rejection.ID_ALREADY_FAILED,
        Rejection.ACCOUNT_ALREADY_EXISTS,
        Rejection.COMMUNITY_ACCOUNT_ALREADY_EXISTS,
        Rejection.ALREADY_CORRECTED,
    }
)
_FORBIDDEN = frozenset({Rejection.TRANSFERS_BETWEEN_MEMBERS_DISABLED})
_MONTHLY = frozenset({Rejection.EXCEEDS_MONTHLY_BUDGET, Rejection.EXCEEDS_MONTHLY_EARNING_CAP})


def rejection_status(code: Rejection) -> int:
    if code in _CONFLICTS:
        return 409
    if code in _FORBIDDEN:
        return 403
    return 422


def from_rejection(rejected: Rejected) -> ProblemError:
    """The problem for a draft the ledger refused, with its numbers."""
    numbers: dict[str, Number] = dict(rejected.detail)
    month = numbers.get("month")
    if rejected.code in _MONTHLY and isinstance(month, str):
        numbers["resets_at"] = month_reset(month)
    problem = ProblemError(rejection_status(rejected.code), rejected.code.value)
    problem.numbers = numbers
    return problem


def month_reset(month: str) -> str:
    """The first moment of the month after ``month`` ("YYYY-MM"), RFC 3339 UTC."""
    year, number = int(month[:4]), int(month[5:7])
    year, number = (year + 1, 1) if number == 12 else (year, number + 1)
    return datetime(year, number, 1, tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _title(code: str) -> str:
    return code.replace("_", " ").capitalize()


def problem_body(
    status: int, code: str, detail: str = "", numbers: Mapping[str, Any] | None = None
) -> bytes:
    """The JSON of a problem; ``problem_response`` wraps it (the HTTP protocol in
    ``api.protocol`` sends it as is, before any route runs)."""
    observe_problem(code, status)
    body: dict[str, Any] = {
        "type": TYPE_PREFIX + code,
        "title": _title(code),
        "status": status,
        "code": code,
        "detail": detail or _title(code),
    }
    for key, value in (numbers or {}).items():
        body.setdefault(key, value)
    return msgspec.json.encode(body)


def problem_response(
    status: int,
    code: str,
    detail: str = "",
    headers: Mapping[str, str] | None = None,
    numbers: Mapping[str, Any] | None = None,
) -> Response[bytes]:
    return Response(
        content=problem_body(status, code, detail, numbers),
        status_code=status,
        media_type=MEDIA_TYPE,
        headers=dict(headers or {}),
    )


def answer(
    request: Request[Any, Any, Any],
    status: int,
    code: str,
    detail: str = "",
    headers: Mapping[str, str] | None = None,
    numbers: Mapping[str, Any] | None = None,
) -> Response[Any]:
    """The problem as JSON, or as an HTML page to a browser that prefers one."""
    page: ErrorPage | None = request.app.state.get(ERROR_PAGE_STATE)
    if page is not None and request.accept.best_match(_NEGOTIATED) == "text/html":
        response = page(request, status, code)
        response.headers.update(headers or {})
    else:
        response = problem_response(status, code, detail, headers, numbers)
    if page is not None:
        response.headers["Vary"] = "Accept, Accept-Language"
    return response


def _on_problem(request: Request[Any, Any, Any], exc: ProblemError) -> Response[Any]:
    return answer(request, exc.status, exc.code, exc.detail, exc.headers, exc.numbers)


def _on_validation(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    errors: list[dict[str, str]] = []
    if isinstance(exc.extra, list):
        for item in exc.extra[:VALIDATION_ERRORS_MAX]:
            if isinstance(item, dict):
                errors.append({str(k): str(v)[:200] for k, v in item.items() if k != "value"})
    detail = "The request does not match the documented schema."
    said = str(exc.detail or "")
    if not errors and said and not said.startswith("Validation failed for"):
        # Litestar names what is missing or malformed (a required header, query
        # parameter, unreadable JSON) in its message, and gives no errors list.
        what = said.split(" for path ")[0].rstrip(".")
        detail = f"{detail} {what}."[:VALIDATION_DETAIL_CHARS_MAX]
    return answer(request, 422, "request_invalid", detail, numbers={"errors": errors})


_HTTP_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "request_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


# Litestar's words when a client hangs up while its body is read; no distinct type exists.
_CLIENT_GONE = "client disconnected prematurely"
# As nginx logs it: the client closed the request, so nobody reads this answer.
CLIENT_CLOSED_REQUEST = 499


def _on_http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    if status >= 500:
        log.error("HTTP %s: %s", status, exc.detail)
        return answer(request, status, "internal_error", headers=exc.headers)
    if status == 400:  # Litestar's bad-input errors: malformed JSON, bad parameters
        return answer(request, 422, "request_invalid", str(exc.detail)[:200])
    code = _HTTP_CODES.get(status, "http_error")
    return answer(request, status, code, str(exc.detail)[:200], exc.headers)


def _on_busy(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    seconds = RETRY_AFTER_BUSY_SECONDS
    code = "ledger_busy" if isinstance(exc, LedgerBusy) else "ledger_unavailable"
    return answer(
        request,
        503,
        code,
        "The ledger cannot take this request now; retry with the same Idempotency-Key.",
        headers={"Retry-After": str(seconds)},
        numbers={"retry_after_seconds": seconds},
    )


def _on_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if isinstance(exc, HTTPException) and exc.detail == _CLIENT_GONE:
        # Not our fault and nothing to debug: no traceback, no 5xx in the metrics.
        log.info("client hung up before its body was read")
        return answer(request, CLIENT_CLOSED_REQUEST, "client_disconnected", exc.detail)
    if database_unreachable(exc):
        # PostgreSQL restarting or failing over: the client retries, nothing to debug.
        log.warning("database unreachable: %r", exc)
        seconds = RETRY_AFTER_BUSY_SECONDS
        return answer(
            request,
            503,
            "database_unavailable",
            "The database cannot be reached now; retry with the same Idempotency-Key.",
            {"Retry-After": str(seconds)},
            {"retry_after_seconds": seconds},
        )
    log.exception("unexpected error", exc_info=exc)
    return answer(request, 500, "internal_error", "Something went wrong on our side.")


EXCEPTION_HANDLERS: dict[Any, Any] = {
    ProblemError: _on_problem,
    ValidationException: _on_validation,
    HTTPException: _on_http,
    LedgerBusy: _on_busy,
    LedgerUnavailable: _on_busy,
    500: _on_unexpected,
}


def not_found(code: str, detail: str = "") -> ProblemError:
    return ProblemError(404, code, detail)


def forbidden(code: str = "forbidden", detail: str = "") -> ProblemError:
    return ProblemError(403, code, detail)


def invalid(code: str, detail: str = "", **numbers: Any) -> ProblemError:
    return ProblemError(422, code, detail, **numbers)


def conflict(code: str, detail: str = "", **numbers: Any) -> ProblemError:
    return ProblemError(409, code, detail, **numbers)
