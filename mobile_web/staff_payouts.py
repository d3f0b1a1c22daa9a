"""A shop's payout, recorded by the community admin: the municipality pays the shop for the
hours it took, outside Buurtmunt, and the admin records it here, from the shops on the
administration screen. A confirm page names the shop and the hours; the record is one
``settle`` entry of exactly those hours (``api.shop_payments.settle``, as
``POST /api/v1/settlements``), and the page's key makes a second send record nothing more.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post

from api import shop_payments
from api.access import Role
from api.problems import ProblemError
from api.routes.markers import RuntimeDep
from api.schemas.shop_payments import SettlementIn
from ledger.amounts import format_hours
from mobile_web.forms import AmountInvalid, FormBody, minutes_from
from mobile_web.render import N_, moment
from mobile_web.staff import IdPath, Staff, key_ok, screen, staff_for, staff_form, staff_message
from mobile_web.staff_admin import DID_NOT_WORK, HOME

NOTHING_TO_PAY_OUT = N_("This shop holds no hours to pay out.")
# The API's refusals of a settlement, in the admin's words.
SETTLEMENT_TEXTS = {
    "shop_not_found": N_("We cannot find this shop."),
    "nothing_to_settle": NOTHING_TO_PAY_OUT,
    "exceeds_balance": N_(
        "The shop holds fewer hours than this page showed: it gave some back, or a payout was "
        "recorded, in the meantime. Look at the shops on the administration screen again."
    ),
    "idempotency_key_reused": N_(
        "This page was sent before with other hours. Look at the shops on the administration "
        "screen again."
    ),
}
SETTLED_MEANWHILE = N_(
    "A payout of %(hours)s to this shop was recorded on %(when)s, after this page was opened, "
    "so this one was not. Look at the shops on the administration screen again."
)
PAID_OUT_BEFORE = N_(
    "This shop holds no hours to pay out. Its last payout, of %(hours)s, was recorded on %(when)s."
)
# The confirm page's word for "the shop had no payout yet".
NO_PAYOUT = "none"


def _settle_path(account_id: str) -> str:
    return f"{HOME}/shops/{account_id}/settle"


@get(_settle_path("{account_id:str}"), include_in_schema=False)
async def settle_shop_confirm(
    request: Request[Any, Any, Any], account_id: IdPath, rt: RuntimeDep
) -> Response[str]:
    """Asks before recording a shop's payout, naming the shop and the hours paid for: all
    it holds now (at most what one entry moves)."""
    staff = await staff_for(request, rt, Role.ADMIN)
    if not isinstance(staff, Staff):
        return staff
    try:
        shop = await shop_payments.shop_to_settle(rt, staff.community, account_id)
    except ProblemError as problem:
        return _settlement_refused(staff, problem)
    newest = await shop_payments.newest_settlement(rt, staff.community, account_id)
    minutes = shop_payments.settlement_minutes(shop.balance_minutes or 0)
    if minutes <= 0:
        if newest is None:
            return _refused(staff, NOTHING_TO_PAY_OUT, 409)
        # Most often Back to a payout just recorded: nothing went wrong.
        words = _payout_words(staff, newest.draft.postings[0].amount_minutes, newest.time)
        return staff_message(
            staff, N_("Administration"), PAID_OUT_BEFORE, 409, problem=False, link=HOME,
            words=words,
        )  # fmt: skip
    return screen(
        "staff_settle_confirm.html", staff, shop=shop, minutes=minutes,
        hours=format_hours(minutes, staff.page.language),
        payout_seen=NO_PAYOUT if newest is None else newest.id,
    )  # fmt: skip


@post(_settle_path("{account_id:str}"), include_in_schema=False, status_code=200)
async def settle_shop(
    request: Request[Any, Any, Any], account_id: IdPath, rt: RuntimeDep, data: FormBody
) -> Response[str]:
    """Records the payout the confirm page named: a settle entry of exactly those minutes,
    so hours the shop took since are left for the next payout. The page's key makes a
    second send record nothing more."""
    staff = await staff_form(request, rt, Role.ADMIN, data)
    if not isinstance(staff, Staff):
        return staff
    key = data.get("key", "")
    try:
        minutes = minutes_from(data, required=True)
    except AmountInvalid:
        minutes = None
    seen = data.get("payout_seen", "")
    if not key_ok(key) or minutes is None or not key_ok(seen):
        return _refused(staff, DID_NOT_WORK, 422)
    asked = SettlementIn(shop=account_id, amount_minutes=minutes)
    try:
        shop = await shop_payments.shop_to_settle(rt, staff.community, account_id)
        settled = await shop_payments.settle(
            rt, staff.session.principal, staff.community, key, asked,
            payout_seen=None if seen == NO_PAYOUT else seen,
        )  # fmt: skip
    except ProblemError as problem:
        if problem.code == "settled_meanwhile":
            words = _payout_words(staff, problem.numbers["amount_minutes"], problem.numbers["time"])
            return _refused(staff, SETTLED_MEANWHILE, problem.status, words=words)
        return _settlement_refused(staff, problem)
    hours = format_hours(settled.amount_minutes, staff.page.language)
    return staff_message(
        staff, N_("Administration"), N_("Recorded: %(shop)s has been paid for %(hours)s."),
        200, problem=False, link=HOME, words={"shop": shop.name, "hours": hours},
    )  # fmt: skip


def _settlement_refused(staff: Staff, problem: ProblemError) -> Response[str]:
    return _refused(staff, SETTLEMENT_TEXTS.get(problem.code, DID_NOT_WORK), problem.status)


def _payout_words(staff: Staff, minutes: int, time: str) -> dict[str, str]:
    language = staff.page.language
    return {"hours": format_hours(minutes, language), "when": moment(time, language)}


def _refused(
    staff: Staff, text: str, status: int, words: dict[str, str] | None = None
) -> Response[str]:
    return staff_message(staff, N_("Sorry"), text, status, link=HOME, words=words)


ROUTES = [settle_shop_confirm, settle_shop]
