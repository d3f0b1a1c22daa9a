"""People enrolled and welcomed, each step once per Idempotency-Key.

Shared by the people routes (``POST /api/v1/members``, ``/staff``,
``/people/{id}/enrolment-links``) and the coordinator's screens, so that a form
sent twice (a double tap, a reload, Back after a lost answer) does what the API
does for a retried request: the first does the work, a retry gets its answer
again (``api.idempotency.once``).
"""

from __future__ import annotations

import hashlib

import msgspec
from sqlmodel import col, select

from api import provisioning
from api.access import Principal, Role
from api.auth import community_of
from api.directory import credentials_of, person_out
from api.idempotency import Plan, fingerprint, once
from api.problems import invalid
from api.provisioning import KIND_DEVICE, PersonDetails
from api.qr import svg
from api.runtime import Runtime
from api.schemas.common import rfc3339, text_ok
from api.schemas.people import EnrolmentLinkOut, PersonIn, PersonOut, StaffIn
from api.tables import EnrolmentLinkRow, PersonRow
from api.tokens import Prefix, new_id


def check_texts(*values: str | None) -> None:
    if not all(text_ok(v) for v in values if v is not None):
        raise invalid("text_invalid", "Text fields must be printable.")


async def create_person_once(
    rt: Runtime,
    principal: Principal,
    key: str,
    route_name: str,
    payload: PersonIn | StaffIn,
    member: bool,
    roles: list[tuple[Role, str]],
) -> tuple[int, PersonOut]:
    """The person ``payload`` describes, made once per Idempotency-Key ``key``
    (``api.idempotency.once``): a retry gets the same person. Refuses text that is not
    printable (``text_invalid``) before anything is made. For ``POST /api/v1/members``
    and ``/staff``, and the coordinator's enrol form."""
    community = community_of(principal)
    neighbourhood = payload.neighbourhood if isinstance(payload, PersonIn) else None
    check_texts(payload.name, payload.phone, payload.email, neighbourhood)
    details = PersonDetails(
        payload.name, payload.phone, payload.email, payload.language.value, neighbourhood
    )

    async def work(plan: dict[str, str]) -> tuple[int, PersonOut]:
        person, held = await provisioning.create_person(
            rt, community, details, member=member, roles=roles, actor=principal.staff_actor,
            plan=plan,
        )  # fmt: skip
        return 201, person_out(person, held)

    return await once(
        rt.db,
        scope=community,
        key=key,
        fingerprint=fingerprint(route_name, principal.person_id, payload),
        now=rt.now_seconds,
        make_plan=lambda: provisioning.person_plan(member),
        out_type=PersonOut,
        work=work,
    )


async def enrolment_link_once(
    rt: Runtime, principal: Principal, person: PersonRow, key: str
) -> tuple[int, EnrolmentLinkOut]:
    """A one-time sign-in link for ``person``, issued once per Idempotency-Key ``key``: a
    retry gets the same link back, and issues (and retires) none. For
    ``POST /api/v1/people/{id}/enrolment-links`` and the staff screens' welcome cards."""

    async def work(plan: dict[str, str]) -> tuple[int, EnrolmentLinkOut]:
        link, url = await provisioning.issue_enrolment_link(
            rt, person, principal.staff_actor, link_id=plan["link"]
        )
        out = EnrolmentLinkOut(
            id=link.id, person_id=person.id, url=url,
            expires_at=rfc3339(link.expires_at) or "", qr_svg=svg(url),
        )  # fmt: skip
        return 201, out

    return await once(
        rt.db,
        scope=community_of(principal),
        key=key,
        fingerprint=fingerprint("enrolment.create", principal.person_id, person.id),
        now=rt.now_seconds,
        make_plan=lambda: {"link": new_id(Prefix.ENROLMENT), "person": person.id},
        out_type=EnrolmentLinkOut,
        work=work,
    )


def _part_key(key: str, part: str) -> str:
    """The Idempotency-Key of one ``part`` of a request's work (its welcome link, after its
    person), derived from the request's ``key``: the request sent again finds each part
    again, and only who knows the request's key knows the part's."""
    return f"{part}-" + hashlib.sha256(f"{part}\0{key}".encode()).hexdigest()[:40]


async def welcome_link_once(rt: Runtime, principal: Principal, person: PersonRow, key: str) -> str:
    """The URL of ``person``'s welcome link for the request (a staff screen's form) whose
    key is ``key``, issued once for it: the form sent again prints the same card and
    leaves no second link."""
    _, link = await enrolment_link_once(rt, principal, person, _part_key(key, "welcome"))
    return link.url


async def newest_link_at(rt: Runtime, person: PersonRow) -> int | None:
    """When ``person``'s newest sign-in link was issued (Unix seconds), if ever: a new
    welcome card makes the one printed before useless."""
    async with rt.db.read() as session:
        newest = (
            await session.exec(
                select(EnrolmentLinkRow.created_at)
                .where(EnrolmentLinkRow.person_id == person.id)
                .order_by(col(EnrolmentLinkRow.created_at).desc())
                .limit(1)
            )
        ).first()
    return newest


class NewPhone(msgspec.Struct):
    """What replacing a lost phone did, kept to answer the same request again."""

    url: str


async def replace_phone_once(
    rt: Runtime, principal: Principal, person: PersonRow, key: str
) -> NewPhone:
    """A lost phone: every device of ``person`` signed out and a new welcome link, once per
    Idempotency-Key ``key``.

    Their unused links are retired first, before the devices are signed out, so that a
    welcome card lost with the phone cannot link a device that stays signed in. The same
    request again (a double tap, a reload after the resident linked their new phone)
    signs nothing out and gets the same link.
    """

    async def work(plan: Plan) -> tuple[int, NewPhone]:
        await provisioning.retire_enrolment_links(rt, person)
        async with rt.db.read() as session:
            devices = await credentials_of(session, person.id, KIND_DEVICE)
        for device in devices:
            if device.revoked_at is None:
                await provisioning.revoke_credential(rt, device, principal.staff_actor)
        _, url = await provisioning.issue_enrolment_link(
            rt, person, principal.staff_actor, link_id=plan["link"]
        )
        return 201, NewPhone(url)

    _, out = await once(
        rt.db,
        scope=community_of(principal),
        key=key,
        fingerprint=fingerprint("pages.phone.replace", principal.person_id, person.id),
        now=rt.now_seconds,
        make_plan=lambda: {"link": new_id(Prefix.ENROLMENT), "person": person.id},
        out_type=NewPhone,
        work=work,
    )
    return out
