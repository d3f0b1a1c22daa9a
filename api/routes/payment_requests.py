"""Payment requests: a shop's till (or a member) asks to be paid; a member pays by its QR.

Thin: each handler parses, calls ``api.payment_requests`` and shapes the answer.
The QR images are drawn once per request and cached; the event stream tells the
till ``paid``, ``cancelled`` or ``expired`` the moment it happens, with a
heartbeat in between.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from typing import Annotated

import msgspec
from litestar import Controller, Response, get, post
from litestar.params import JSONBody, PathParameter

from api import payment_requests as service
from api.access import Action, Principal
from api.event_stream import Chunk, EventStream, encode_event
from api.events import TooManyStreams
from api.idempotency import IdempotencyKeyHeader
from api.problems import ProblemError
from api.qr import Format, image, payment_url
from api.routes.markers import PrincipalDep, RuntimeDep, route
from api.runtime import Runtime
from api.schemas.payment_requests import PayIn, PaymentOut, PaymentRequestIn, PaymentRequestOut

RequestIdPath = Annotated[
    str,
    PathParameter(
        title="Payment request id (RID)",
        pattern="^[A-Z2-7]{26}$",
        min_length=26,
        max_length=26,
    ),
]
_IMAGE_CACHE = {"Cache-Control": "private, max-age=86400, immutable"}
# Tell proxies not to buffer the stream: the till must hear "paid" at once.
_STREAM_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}


class PaymentRequestController(Controller):
    path = "/api/v1/payment-requests"
    tags = ["payment requests"]

    @post(
        "/",
        summary="Ask to be paid: a shop's till, or a member asking a neighbour",
        **route(Action.PAYMENT_REQUEST_CREATE, 409),
    )
    async def create(
        self,
        data: JSONBody[PaymentRequestIn],
        rt: RuntimeDep,
        principal: PrincipalDep,
        idempotency_key: IdempotencyKeyHeader,
    ) -> Response[PaymentRequestOut]:
        row = await service.create(
            rt, principal, key=idempotency_key, amount_minutes=data.amount_minutes,
            memo=data.memo, shop=data.shop,
        )  # fmt: skip
        view = await service.view(rt, principal, row.id)
        return Response(PaymentRequestOut.from_view(view), status_code=201)

    @get(
        "/{request_id:str}",
        summary="A payment request: what the payer needs, or the whole record for the payee",
        **route(Action.PAYMENT_REQUEST_READ, 404),
    )
    async def read(
        self, request_id: RequestIdPath, rt: RuntimeDep, principal: PrincipalDep
    ) -> PaymentRequestOut:
        return PaymentRequestOut.from_view(await service.view(rt, principal, request_id))

    @get(
        "/{request_id:str}/qr.svg",
        summary="The request's QR code (SVG): <PUBLIC_URL>/P/<RID>",
        media_type="image/svg+xml",
        **route(Action.PAYMENT_REQUEST_READ, 404),
    )
    async def qr_svg(
        self, request_id: RequestIdPath, rt: RuntimeDep, principal: PrincipalDep
    ) -> Response[bytes]:
        return await _qr(rt, principal, request_id, "svg")

    @get(
        "/{request_id:str}/qr.png",
        summary="The request's QR code (PNG): <PUBLIC_URL>/P/<RID>",
        media_type="image/png",
        **route(Action.PAYMENT_REQUEST_READ, 404),
    )
    async def qr_png(
        self, request_id: RequestIdPath, rt: RuntimeDep, principal: PrincipalDep
    ) -> Response[bytes]:
        return await _qr(rt, principal, request_id, "png")

    @get(
        "/{request_id:str}/events",
        summary="Server-sent events for the payee: paid, cancelled, expired, heartbeat",
        media_type="text/event-stream",
        **route(Action.PAYMENT_REQUEST_WATCH, 404),
    )
    async def events(
        self, request_id: RequestIdPath, rt: RuntimeDep, principal: PrincipalDep
    ) -> EventStream:
        events = await service.watch(rt, principal, request_id)
        return EventStream(_messages(events), headers=_STREAM_HEADERS)

    @post(
        "/{request_id:str}/pay",
        summary="Pay the request from your member account, exactly once",
        status_code=200,
        **route(Action.PAYMENT_REQUEST_PAY, 404, 409, 410),
    )
    async def pay(
        self,
        request_id: RequestIdPath,
        data: JSONBody[PayIn],
        rt: RuntimeDep,
        principal: PrincipalDep,
        idempotency_key: IdempotencyKeyHeader,
    ) -> PaymentOut:
        # The request itself is the idempotency scope: a payer's retry gets the same payment.
        payment = await service.pay(rt, principal, request_id, data.amount_minutes)
        return PaymentOut.from_payment(payment)

    @post(
        "/{request_id:str}/cancel",
        summary="Withdraw an open request (the payee's side)",
        status_code=200,
        **route(Action.PAYMENT_REQUEST_CANCEL, 404, 409, 410),
    )
    async def cancel(
        self,
        request_id: RequestIdPath,
        rt: RuntimeDep,
        principal: PrincipalDep,
        idempotency_key: IdempotencyKeyHeader,
    ) -> PaymentRequestOut:
        return PaymentRequestOut.from_view(await service.cancel(rt, principal, request_id))


_IMAGE_TYPES = {"svg": "image/svg+xml", "png": "image/png"}


async def _qr(
    rt: Runtime, principal: Principal, request_id: str, format: Format
) -> Response[bytes]:
    """The request's QR image, for whoever may see the request (drawn once, then kept)."""
    await service.view(rt, principal, request_id)
    data = image(payment_url(rt.settings.public_url, request_id), format)
    return Response(data, media_type=_IMAGE_TYPES[format], headers=_IMAGE_CACHE)


async def _messages(events: AsyncIterator[service.Event]) -> AsyncGenerator[Chunk, None]:
    try:
        async for event in events:
            data = encode_event(event.kind, msgspec.json.encode(event.data))
            yield Chunk(data, last=event.kind in service.FINAL_EVENTS)
    except TooManyStreams:
        yield Chunk(encode_event("unavailable", b'{"status":"unavailable"}'), last=True)
    except ProblemError as problem:
        yield Chunk(encode_event("error", msgspec.json.encode({"code": problem.code})), last=True)
