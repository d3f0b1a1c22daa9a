"""The coordinator finds a resident by their printed card: the camera (or a photo) reads the
card's QR code, our key's signature on it is checked (``api.cards.claims_of``), and the
coordinator lands on that resident's page.

The scanner is the pay screens' (``static/js/scan.js``, ``data-mode="card"``): frames
are read by the browser's BarcodeDetector or on the server here, as the till's are.
A card that was replaced or locked still finds its resident: the coordinator is the one
who replaces it.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect

from api import cards
from api.access import Role
from api.problems import ProblemError
from api.routes.markers import RuntimeDep
from api.runtime import Runtime
from ledger.card import PAYLOAD_LENGTH_MAX, PAYLOAD_PREFIX
from mobile_web.forms import FormBody
from mobile_web.pay import NO_CODE, wants_json
from mobile_web.qr_images import texts_of_upload
from mobile_web.render import N_, translate
from mobile_web.staff import Staff, screen, staff_for, staff_form, staff_message
from mobile_web.staff_coordinator import HOME

PhotoBody = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART)]
CARD_PATH = f"{HOME}/card"
NOT_A_CARD = N_("This QR code is not a card of this community.")


async def member_page_of(rt: Runtime, staff: Staff, payload: str) -> str | None:
    """The coordinator's page of the resident whose card says ``payload``, if our key signed
    it for this community and the card is on record."""
    payload = payload.strip()
    if not payload.startswith(PAYLOAD_PREFIX) or len(payload) > PAYLOAD_LENGTH_MAX:
        return None
    try:
        claims = cards.claims_of(rt, staff.community, payload)
        row = await cards.card_in(rt, staff.community, claims.card_id)
        person = await cards.member_person(rt, staff.community, row.member)
    except ProblemError:
        return None
    return f"{HOME}/member/{person.id}"


def _not_a_card(staff: Staff, text: str = NOT_A_CARD) -> Response[str]:
    return staff_message(staff, N_("Find by card"), text, 422, link=CARD_PATH)


@get(CARD_PATH, include_in_schema=False)
async def card_scanner(request: Request[Any, Any, Any], rt: RuntimeDep) -> Response[str]:
    staff = await staff_for(request, rt, Role.COORDINATOR)
    if not isinstance(staff, Staff):
        return staff
    not_ours = translate(staff.page.language, NOT_A_CARD)
    return screen("staff_card_scan.html", staff, not_ours=not_ours)


@post(f"{CARD_PATH}/scan", include_in_schema=False, status_code=200)
async def scan_card(
    request: Request[Any, Any, Any], rt: RuntimeDep, data: PhotoBody
) -> Response[Any] | Redirect:
    """A photo or camera frame of a card: the resident's page (JSON for the scanner)."""
    form = {"csrf": str(data.get("csrf", ""))}
    staff = await staff_form(request, rt, Role.COORDINATOR, form)
    if not isinstance(staff, Staff):
        return staff
    texts = await texts_of_upload(data.get("photo"))
    found = None
    for text in texts:
        found = await member_page_of(rt, staff, text)
        if found is not None:
            break
    text = NOT_A_CARD if texts else NO_CODE
    if wants_json(request):
        outcome = "found" if found else ("foreign" if texts else "none")
        message = translate(staff.page.language, text)
        return Response({"outcome": outcome, "next": found, "message": message})
    if found is None:
        return _not_a_card(staff, text)
    return Redirect(found, status_code=303)


@post(CARD_PATH, include_in_schema=False, status_code=303)
async def find_by_card(
    request: Request[Any, Any, Any], rt: RuntimeDep, data: FormBody
) -> Response[str] | Redirect:
    """A card's code, as the scanner read it (or a card reader typed it)."""
    staff = await staff_form(request, rt, Role.COORDINATOR, data)
    if not isinstance(staff, Staff):
        return staff
    found = await member_page_of(rt, staff, data.get("card", ""))
    if found is None:
        return _not_a_card(staff)
    return Redirect(found, status_code=303)


ROUTES = [card_scanner, scan_card, find_by_card]
