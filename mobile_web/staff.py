"""What every staff screen shares: who may open it, its menu, and where each role starts.

A staff screen is personal (``no-store``) and opens only for a signed-in person
holding its role; anyone else gets a page in plain words. The resident home
sends a person without a member account to their role's start screen, or to
``/s`` to choose when they hold several.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Request, Response, get
from litestar.params import PathParameter

from api.access import Role
from api.routes.markers import RuntimeDep
from api.runtime import Runtime
from ledger.shape import ID_PATTERN
from mobile_web.forms import fresh_key
from mobile_web.render import N_, Page, render, translate
from mobile_web.resident import FORM_EXPIRED, message_page, not_signed_in
from mobile_web.session import Session, form_token_ok
from mobile_web.staff_roles import START, screens
from mobile_web.visitor import html, page_for, signed_in

IdPath = Annotated[str, PathParameter(max_length=64)]


@dataclass(frozen=True, slots=True)
class Staff:
    """A signed-in staff member on one of their screens."""

    session: Session
    page: Page
    community: str

    @property
    def actor(self) -> str:
        return self.session.principal.staff_actor


async def staff_for(
    request: Request[Any, Any, Any], rt: Runtime, role: Role
) -> Staff | Response[str]:
    """The staff member holding ``role``, or the page that says why not."""
    session = await signed_in(request, rt)
    if session is None:
        return not_signed_in(request)
    page = page_for(request, session)
    community = session.principal.community
    if not session.principal.has(role) or community is None:
        return message_page(page, N_("Sorry"), N_("This screen is not for your role."), 403)
    return Staff(session, page, community)


async def staff_form(
    request: Request[Any, Any, Any], rt: Runtime, role: Role, data: dict[str, str]
) -> Staff | Response[str]:
    """As ``staff_for``, for a posted form: its form token must be right (else a staff
    page says the form expired, with a way back to ``role``'s screen)."""
    staff = await staff_for(request, rt, role)
    if not isinstance(staff, Staff):
        return staff
    if form_token_ok(staff.session, data.get("csrf")):
        return staff
    back = START[role][0] if role in START else "/s"
    return staff_message(staff, N_("Sorry"), FORM_EXPIRED, 403, link=back)


def key_ok(key: str | None) -> bool:
    """A form's one-time key (``form_key``) is a valid Idempotency-Key."""
    return key is not None and ID_PATTERN.fullmatch(key) is not None


def screen(template: str, staff: Staff, status: int = 200, **context: Any) -> Response[str]:
    """A staff screen, with the staff menu."""
    menu = screens(staff.session)
    body = render(template, staff.page, menu=menu, form_key=fresh_key(), **context)
    return html(body, status)


def staff_message(
    staff: Staff,
    title: str,
    text: str,
    status: int,
    *,
    link: str,
    problem: bool = True,
    words: Mapping[str, str] | None = None,
    hint: str | None = None,
) -> Response[str]:
    """A staff screen that says one thing (``title``, ``text`` and ``hint``, what to do
    next, are message ids; ``words`` fill ``text``'s fields), with the staff menu and a
    way back to ``link``."""
    return message_page(
        staff.page, title, text, status, problem=problem, link=link, words=words,
        hint=translate(staff.page.language, hint) if hint else None,
        layout="staff_base.html", menu=screens(staff.session),
    )  # fmt: skip


@get("/s", include_in_schema=False)
async def choose_screen(request: Request[Any, Any, Any], rt: RuntimeDep) -> Response[str]:
    session = await signed_in(request, rt)
    if session is None:
        return not_signed_in(request)
    page = page_for(request, session)
    member = session.principal.member_account is not None
    body = render("staff_choice.html", page, menu=screens(session), member=member)
    return html(body)


ROUTES = [choose_screen]
