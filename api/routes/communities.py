"""Communities: created by an operator, configured by their admin."""

from __future__ import annotations

from litestar import Controller, Response, get, post
from litestar.params import JSONBody
from sqlmodel import col, select

from api import provisioning
from api.access import Action, Role
from api.auth import community_of
from api.directory import community_row
from api.idempotency import IdempotencyKeyHeader, fingerprint, once, scoped_key
from api.problems import forbidden, invalid
from api.routes.markers import PrincipalDep, RuntimeDep, SlugPath, route
from api.runtime import Runtime
from api.schemas.common import text_ok
from api.schemas.community import CommunityIn, CommunityOut, CommunityPage, SettingsIn
from api.schemas.ledger import EntryOut
from api.tables import CommunityRow
from ledger import limits
from ledger.model import Settings as LedgerSettings

OPERATOR_SCOPE = "-operator"


async def community_out(rt: Runtime, row: CommunityRow) -> CommunityOut:
    settings = await rt.store.settings(row.slug)
    return CommunityOut(
        slug=row.slug,
        name=row.name,
        currency_name=row.currency_name,
        community_account=row.community_account,
        members_may_transfer=settings.members_may_transfer,
        member_earning_cap_minutes_per_month=settings.member_earning_cap_minutes_per_month,
        origin=await rt.ledger.origin(row.slug),
        verifier_key=(await rt.ledger.log_verifier(row.slug)).key_string(),
        offline_payment_minutes_max=row.offline_payment_minutes_max,
        offline_day_minutes_max=row.offline_day_minutes_max,
    )


class CommunityController(Controller):
    path = "/api/v1/communities"
    tags = ["communities"]

    @post("/", summary="Create a community (operators)", **route(Action.COMMUNITY_CREATE, 409))
    async def create(
        self,
        data: JSONBody[CommunityIn],
        rt: RuntimeDep,
        principal: PrincipalDep,
        idempotency_key: IdempotencyKeyHeader,
    ) -> Response[CommunityOut]:
        if not (text_ok(data.name) and text_ok(data.currency_name)):
            raise invalid("text_invalid", "Names must be printable text.")

        async def work(plan: dict[str, str]) -> tuple[int, CommunityOut]:
            row = await provisioning.create_community(
                rt,
                slug=data.slug,
                name=data.name,
                currency_name=data.currency_name,
                settings=LedgerSettings(
                    data.members_may_transfer, data.member_earning_cap_minutes_per_month
                ),
                actor=principal.staff_actor,
                plan=plan,
            )
            return 201, await community_out(rt, row)

        status, out = await once(
            rt.db,
            scope=OPERATOR_SCOPE,
            key=idempotency_key,
            fingerprint=fingerprint("communities.create", principal.person_id, data),
            now=rt.now_seconds,
            make_plan=provisioning.community_plan,
            out_type=CommunityOut,
            work=work,
        )
        return Response(out, status_code=status)

    @get("/", summary="All communities (operators)", **route(Action.COMMUNITY_LIST))
    async def list_all(self, rt: RuntimeDep) -> CommunityPage:
        async with rt.db.read() as session:
            rows = (
                await session.exec(
                    select(CommunityRow)
                    .order_by(col(CommunityRow.slug))
                    .limit(limits.PAGE_SIZE_MAX)
                )
            ).all()
        return CommunityPage(items=[await community_out(rt, row) for row in rows])

    @get("/{slug:str}", summary="One community", **route(Action.COMMUNITY_READ, 404))
    async def read(self, slug: SlugPath, rt: RuntimeDep, principal: PrincipalDep) -> CommunityOut:
        if not principal.has(Role.OPERATOR) and principal.community != slug:
            raise forbidden("not_your_community")
        async with rt.db.read() as session:
            row = await community_row(session, slug)
        return await community_out(rt, row)

    @post(
        "/{slug:str}/settings",
        summary="Change the community's rules (a configure entry); what is left out stays",
        **route(Action.COMMUNITY_CONFIGURE, 404, 409),
    )
    async def configure(
        self,
        slug: SlugPath,
        data: JSONBody[SettingsIn],
        rt: RuntimeDep,
        principal: PrincipalDep,
        idempotency_key: IdempotencyKeyHeader,
    ) -> EntryOut:
        if community_of(principal) != slug:
            raise forbidden("not_your_community")
        change = provisioning.RulesChange(
            members_may_transfer=data.members_may_transfer,
            member_earning_cap_minutes_per_month=data.member_earning_cap_minutes_per_month,
            offline_payment_minutes_max=data.offline_payment_minutes_max,
            offline_day_minutes_max=data.offline_day_minutes_max,
        )
        key = scoped_key(principal.credential_id, idempotency_key)
        entry = await provisioning.change_rules(rt, slug, principal.staff_actor, key, change)
        return EntryOut.from_entry(entry)
