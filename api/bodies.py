"""Strict JSON request bodies, and no control characters where no one types them.

Litestar converts request data leniently (``"1e3"`` becomes the integer 1000),
which is no way to read amounts of money. Before a handler's arguments are
parsed, this hook checks the raw body of every route that takes JSON:

- it must be sent as JSON (``application/json`` or a ``+json`` type), or the
  request is a 415 problem: a form or ``text/plain`` post is not a JSON body;
- it may nest at most ``JSON_DEPTH_MAX`` arrays and objects, checked before
  anything decodes it (the decoder recurses, and a deep body would exhaust
  the stack), or the request is a 422 problem ``json_too_deep``;
- it is decoded strictly against the handler's declared body type: JSON types
  must match exactly, or the request is a 422 problem.

Routes that take no body are left alone. Routes that take a URL-encoded form (the phone
pages) get it as it is, but for control characters, which no one types into a page
and which PostgreSQL refuses to store (NUL) or the journal refuses as text. For every
route, so that no page or route has to remember it:

- a path or query string holding a NUL is a 422 problem ``request_invalid``, as the
  API answered a NUL in a query parameter it checks against a pattern;
- a form body holding a C0 control character other than tab, LF and CR (raw or
  percent-encoded) is a 422 problem ``text_invalid``, as the API answers text that is
  not printable in a JSON body.

The JSON path pays for two byte searches of the query string and one of the path.
"""

from __future__ import annotations

import re
import weakref
from typing import Any, get_args, get_origin

import msgspec
from litestar import Request
from litestar.enums import RequestEncodingType
from litestar.exceptions import SerializationException, ValidationException
from litestar.handlers import HTTPRouteHandler

from api import limits
from api.problems import ProblemError

_NO_BODY = object()
_FORM = object()  # a URL-encoded form, checked for control characters only
_FORM_TYPES = frozenset({RequestEncodingType.URL_ENCODED, RequestEncodingType.MULTI_PART})
# C0 control characters but tab, LF and CR, raw or percent-encoded (either case).
_FORM_CONTROL = re.compile(rb"%(?:0[0-8BCEFbcef]|1[0-9A-Fa-f])|[\x00-\x08\x0b\x0c\x0e-\x1f]")
# Methods that never carry a body this API reads (Litestar answers OPTIONS itself).
_BODYLESS_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})
# Keyed by the handler object itself (never by id(), which a later app could reuse).
_types: weakref.WeakKeyDictionary[HTTPRouteHandler, Any] = weakref.WeakKeyDictionary()

# Every byte but the brackets (deleted), and the brackets as one kind each way.
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_BRACKETS = bytes.maketrans(b"{}", b"[]")
_OPEN = ord("[")


def nests_deeper_than(body: bytes, depth_max: int) -> bool:
    """Whether ``body``'s arrays and objects nest more than ``depth_max`` deep, without
    decoding it. Brackets inside strings do not count; for malformed JSON the
    answer is what a decoder would meet before failing, or more.

    Bytes operations (in C) drop escapes, strings and all but the brackets; only
    the brackets outside strings are walked one by one, and only while the body
    could still be valid JSON (a closer without an opener ends the walk).
    """
    # Most bodies hold fewer brackets than the bound: two counts decide them.
    if body.count(b"[") + body.count(b"{") <= depth_max:
        return False
    # Escaped backslashes first, so that in ``\\"`` the quote still ends the string.
    unescaped = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    outside_strings = b"".join(unescaped.split(b'"')[::2])
    brackets = outside_strings.translate(_BRACKETS, _NOT_BRACKETS)
    depth = 0
    for byte in brackets:
        depth = depth + 1 if byte == _OPEN else depth - 1
        if depth > depth_max:
            return True
        if depth < 0:
            return False  # a decoder stops here
    return False


def _is_json(request: Request[Any, Any, Any]) -> bool:
    """Whether the request says its body is JSON (``application/json`` or ``+json``)."""
    # Straight from the raw ASGI headers: ``request.headers`` would parse them all.
    content_type = next((v for k, v in request.scope["headers"] if k == b"content-type"), b"")
    media_type = content_type.partition(b";")[0].strip().lower()
    return media_type == b"application/json" or (
        media_type.startswith(b"application/") and media_type.endswith(b"+json")
    )


def _body_type(handler: HTTPRouteHandler) -> Any:
    try:
        cached = _types.get(handler)
    except TypeError:  # a handler Litestar made itself and that cannot be weakly referenced
        return _NO_BODY
    if cached is None:
        parameter = handler.parsed_fn_signature.parameters.get("data")
        cached = _NO_BODY
        media_type = getattr(getattr(parameter, "kwarg_definition", None), "media_type", None)
        if parameter is not None and media_type in _FORM_TYPES:
            # A page's form, not a JSON body (a multipart one carries a photo's bytes).
            cached = _FORM if media_type == RequestEncodingType.URL_ENCODED else _NO_BODY
        elif parameter is not None:
            annotation = parameter.annotation
            if get_origin(annotation) is not None and hasattr(annotation, "__metadata__"):
                annotation = get_args(annotation)[0]
            cached = annotation
        _types[handler] = cached
    return cached


def _nul(where: str) -> ValidationException:
    return ValidationException(f"The {where} holds a NUL character")


async def strict_json_body(request: Request[Any, Any, Any]) -> None:
    """A ``before_request`` hook: refuse bodies that only a lenient conversion would
    accept, and control characters in a path, query string or form body."""
    scope = request.scope
    query: bytes = scope["query_string"]
    if b"%00" in query or b"\x00" in query:
        raise _nul("query string")
    if "\x00" in scope["path"]:
        raise _nul("path")
    if scope["method"] in _BODYLESS_METHODS:
        return
    handler = request.route_handler
    if not isinstance(handler, HTTPRouteHandler):
        return
    body_type = _body_type(handler)
    if body_type is _NO_BODY:
        return
    if body_type is _FORM:
        # Read once: Litestar parses the form from these same bytes.
        if _FORM_CONTROL.search(await request.body()):
            raise ProblemError(
                422, "text_invalid", "The form holds a control character: send printable text."
            )
        return
    if not _is_json(request):
        raise ProblemError(
            415,
            "unsupported_media_type",
            "Send the body as JSON, with 'Content-Type: application/json'.",
        )
    if nests_deeper_than(await request.body(), limits.JSON_DEPTH_MAX):
        raise ProblemError(
            422,
            "json_too_deep",
            f"The body nests more than {limits.JSON_DEPTH_MAX} arrays and objects.",
            depth_max=limits.JSON_DEPTH_MAX,
        )
    # Parsed once: Litestar keeps what ``json()`` parsed for the handler's ``data``.
    try:
        parsed = await request.json()
    except SerializationException:
        raise ValidationException("The body is not JSON.") from None
    try:
        msgspec.convert(parsed, type=body_type, strict=True)
    except msgspec.ValidationError as error:
        raise ValidationException(str(error), extra=[{"message": str(error)}]) from None
