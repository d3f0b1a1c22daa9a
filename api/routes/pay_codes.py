"""Pay codes (a phone shows a code, the shop types it in) and members' reports of
payments taken without a scan ("this was not me"), which coordinators follow up.

The logic is in ``api.pay_codes`` and ``api.offline_payments``; these handlers
only check the request's shape and who is asking.
"""

from __future__ import annotations

from litestar import Controller, Response, get, post
from litestar.datastructures import CacheControlHeader
from litestar.params import JSONBody

from api import limits, offline_payments, pay_codes
from api.access import Action
from api.auth import community_of
from api.idempotency import IdempotencyKeyHeader
from api.offline_payments import METHOD_CODE
from api.problems import invalid
from api.qr import svg
from api.routes.markers import PrincipalDep, RuntimeDep, route
from api.schemas.common import text_ok
from api.schemas.payments_offline import (
    OfflinePaymentOut,
    PayCodeDeviceOut,
    PayCodeRedeemIn,
    PaymentReportIn,
    PaymentReportOut,
    PaymentReportPage,
)


class PayCodeController(Controller):
    path = "/api/v1/pay-codes"
    tags = ["pay codes"]

    @get(
        "/device",
        summary="This phone's pay-code secret, to show codes offline (a member's phone only)",
        cache_control=CacheControlHeader(no_store=True),
        **route(Action.PAY_CODE_DEVICE, 404),
    )
    async def device(self, rt: RuntimeDep, principal: PrincipalDep) -> PayCodeDeviceOut:
        codes = await pay_codes.device_of(rt, principal)
        code = pay_codes.code_at(codes.row.device_number, codes.secret, rt.now().timestamp())
        return PayCodeDeviceOut(
            device_number=codes.row.device_number,
            secret=pay_codes.secret_base32(codes.secret),
            algorithm="SHA1",
            digits=pay_codes.TOTP_DIGITS,
            step_seconds=limits.PAY_CODE_STEP_SECONDS,
            code_digits=pay_codes.CODE_DIGITS,
            code_layout=pay_codes.CODE_LAYOUT,
            code=code,
            qr_svg=svg(code),
        )

    @post(
        "/redeem",
        summary="Take a payment with the code a member's phone shows",
        **route(Action.PAY_CODE_REDEEM, 404, 409),
    )
    async def redeem(
        self,
        data: JSONBody[PayCodeRedeemIn],
        rt: RuntimeDep,
        principal: PrincipalDep,
        idempotency_key: IdempotencyKeyHeader,
    ) -> Response[OfflinePaymentOut]:
        till = await offline_payments.till(rt, principal, idempotency_key, data.shop, data.memo)
        payment = pay_codes.redeem(
            rt, principal, community=till.community, shop=till.shop, entry_id=till.entry_id,
            key=till.key,
            code=data.code, amount_minutes=data.amount_minutes, memo=data.memo,
        )  # fmt: skip
        entry = await offline_payments.counting_refusals(rt, principal, payment)
        return Response(OfflinePaymentOut.from_entry(entry, METHOD_CODE), status_code=201)


class PaymentReportController(Controller):
    path = "/api/v1/payment-reports"
    tags = ["pay codes"]

    @post(
        "/",
        summary='Report a payment by pay code or card as "this was not me"',
        **route(Action.PAYMENT_REPORT_CREATE, 404),
    )
    async def create(
        self,
        data: JSONBody[PaymentReportIn],
        rt: RuntimeDep,
        principal: PrincipalDep,
        idempotency_key: IdempotencyKeyHeader,
    ) -> Response[PaymentReportOut]:
        if data.note is not None and not text_ok(data.note):
            raise invalid("text_invalid", "The note must be printable text.")
        out = await offline_payments.report(
            rt, principal, idempotency_key, data.entry_id, data.note
        )
        return Response(out, status_code=201)

    @get(
        "/",
        summary="Payments members reported as not theirs, newest first (for coordinators)",
        **route(Action.PAYMENT_REPORT_READ),
    )
    async def list_all(self, rt: RuntimeDep, principal: PrincipalDep) -> PaymentReportPage:
        rows = await offline_payments.reports(rt, community_of(principal))
        return PaymentReportPage(items=[PaymentReportOut.from_row(r) for r in rows])
