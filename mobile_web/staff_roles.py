"""Where each staff role starts, and which staff screens a person may open (the staff
menu, and the resident home's routing after sign-in)."""

from __future__ import annotations

from api.access import Role
from mobile_web.render import N_
from mobile_web.session import Session

# Each staff role's start screen and its name in the menu, in the menu's order.
START = {
    Role.COORDINATOR: ("/s/coordinator", N_("Coordinator")),
    Role.AUDITOR: ("/s/municipality", N_("Municipality")),
    Role.ADMIN: ("/s/admin", N_("Administration")),
    Role.SHOP: ("/till", N_("Till")),
}


def screens(session: Session) -> list[tuple[str, str]]:
    """(path, name) of the staff screens this person may open."""
    return [START[role] for role in START if session.principal.has(role)]


def start_path(session: Session) -> str | None:
    """Where a person without a member account starts: one screen (shop staff: the till),
    the choice, or None."""
    found = screens(session)
    if not found:
        return None
    return found[0][0] if len(found) == 1 else "/s"
