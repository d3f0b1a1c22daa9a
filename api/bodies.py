"""Strict JSON request bodies.

Litestar converts request data leniently (``"1e3"`` becomes the integer 1000),
which is no way to read amounts of money. Before a handler's arguments are
parsed, this hook decodes the raw body strictly against the handler's declared
body type: JSON types must match exactly, or the request is a 422 problem.
"""

from __future__ import annotations

import weakref
from typing import Any, get_args, get_origin

import msgspec
from litestar import Request
from litestar.enums import RequestEncodingType
from litestar.exceptions import SerializationException, ValidationException
from litestar.handlers import HTTPRouteHandler

_NO_BODY = object()
_FORM_TYPES = frozenset({RequestEncodingType.URL_ENCODED, RequestEncodingType.MULTI_PART})
# Keyed by the handler object itself (never by id(), which a later app could reuse).
_types: weakref.WeakKeyDictionary[HTTPRouteHandler, Any] = weakref.WeakKeyDictionary()


def _body_type(handler: HTTPRouteHandler) -> Any:
    cached = _types.get(handler)
    if cached is None:
        parameter = handler.parsed_fn_signature.parameters.get("data")
        cached = _NO_BODY
        kwarg = getattr(parameter, "kwarg_definition", None)
        if parameter is not None and getattr(kwarg, "media_type", None) in _FORM_TYPES:
            parameter = None  # a page's form, not a JSON body
        if parameter is not None:
            annotation = parameter.annotation
            if get_origin(annotation) is not None and hasattr(annotation, "__metadata__"):
                annotation = get_args(annotation)[0]
            cached = annotation
        _types[handler] = cached
    return cached


async def strict_json_body(request: Request[Any, Any, Any]) -> None:
    """A ``before_request`` hook: refuse bodies that only a lenient conversion would accept."""
    handler = request.route_handler
    if not isinstance(handler, HTTPRouteHandler):
        return
    body_type = _body_type(handler)
    if body_type is _NO_BODY:
        return
    # Parsed once: Litestar keeps what ``json()`` parsed for the handler's ``data``.
    try:
        parsed = await request.json()
    except SerializationException:
        raise ValidationException("The body is not JSON.") from None
    try:
        msgspec.convert(parsed, type=body_type, strict=True)
    except msgspec.ValidationError as error:
        raise ValidationException(str(error), extra=[{"message": str(error)}]) from None
