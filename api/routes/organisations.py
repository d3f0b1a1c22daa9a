"""Organisations (issuing accounts with monthly budgets) and shops."""

from __future__ import annotations

import msgspec
from litestar import Controller, Response, get, post
from litestar.params import JSONBody

from api import drafts, provisioning, shop_payments
from api.access import Action, Principal, may_see_account
from api.auth import community_of
from api.directory import named_accounts
from api.idempotency import IdempotencyKeyHeader, fingerprint, once, scoped_key
from api.problems import invalid, not_found
from api.routes.markers import AccountIdPath, PrincipalDep, RuntimeDep, route
from api.runtime import Runtime
from api.schemas.common import text_ok
from api.schemas.community import (
    BudgetIn,
    OrganisationIn,
    OrganisationOut,
    OrganisationPage,
    ShopIn,
    ShopOut,
    ShopPage,
)
from api.schemas.ledger import EntryOut
from api.tables import NamedAccountRow
from ledger.ids import new_entry_id
from ledger.model import AccountType


async def organisation_out(rt: Runtime, community: str, named: NamedAccountRow) -> OrganisationOut:
    account = await rt.store.account(community, named.account_id)
    assert account is not None, "named accounts are opened in the ledger first"
    month = rt.month()
    issued = await rt.store.monthly_total(community, named.account_id, month)
    return OrganisationOut(
        account_id=named.account_id,
        name=named.name,
        budget_minutes_per_month=account.spec.budget_minutes_per_month or 0,
        balance_minutes=account.balance_minutes,
        month=month,
        issued_minutes=issued,
    )


def _shown_to(principal: Principal, out: OrganisationOut) -> OrganisationOut:
    """``out`` without the account's own figures (balance, issued this month) unless
    ``principal`` may see the account."""
    if may_see_account(principal, out.account_id, AccountType.ORGANISATION):
        return out
    return msgspec.structs.replace(out, balance_minutes=None, issued_minutes=None)


async def _named(
    rt: Runtime, community: str, account_id: str, type: AccountType
) -> NamedAccountRow:
    async with rt.db.read() as session:
        named = await session.get(NamedAccountRow, (community, account_id))
    if named is None or named.type != type.value:
        raise not_found(f"{type.value}_not_found", f"No {type.value} {account_id!r}.")
    return named


class OrganisationController(Controller):
    path = "/api/v1/organisations"
    tags = ["organisations"]

    @post(
        "/", summary="Open an organisation's issuing account", **route(Action.ORGANISATION_CREATE)
    )
    async def create(
        self,
        data: JSONBody[OrganisationIn],
        rt: RuntimeDep,
        principal: PrincipalDep,
        idempotency_key: IdempotencyKeyHeader,
    ) -> Response[OrganisationOut]:
        community = community_of(principal)
        if not text_ok(data.name):
            raise invalid("text_invalid", "Names must be printable text.")

        async def work(plan: dict[str, str]) -> tuple[int, OrganisationOut]:
            named = await provisioning.open_named_account(
                rt, community, AccountType.ORGANISATION, data.name, principal.staff_actor, plan,
                budget_minutes_per_month=data.budget_minutes_per_month,
            )  # fmt: skip
            return 201, await organisation_out(rt, community, named)

        status, out = await once(
            rt.db,
            scope=community,
            key=idempotency_key,
            fingerprint=fingerprint("organisations.create", principal.person_id, data),
            now=rt.now_seconds,
            make_plan=lambda: provisioning.account_plan(AccountType.ORGANISATION),
            out_type=OrganisationOut,
            work=work,
        )
        return Response(out, status_code=status)

    @get("/", summary="The community's organisations", **route(Action.ORGANISATION_READ))
    async def list_all(self, rt: RuntimeDep, principal: PrincipalDep) -> OrganisationPage:
        community = community_of(principal)
        async with rt.db.read() as session:
            rows = await named_accounts(session, community, AccountType.ORGANISATION)
        return OrganisationPage(
            items=[_shown_to(principal, await organisation_out(rt, community, r)) for r in rows]
        )

    @get("/{account_id:str}", summary="One organisation", **route(Action.ORGANISATION_READ, 404))
    async def read(
        self, account_id: AccountIdPath, rt: RuntimeDep, principal: PrincipalDep
    ) -> OrganisationOut:
        community = community_of(principal)
        named = await _named(rt, community, account_id, AccountType.ORGANISATION)
        return _shown_to(principal, await organisation_out(rt, community, named))

    @post(
        "/{account_id:str}/budget",
        summary="Set the monthly budget (a budget entry)",
        **route(Action.ORGANISATION_BUDGET, 404, 409),
    )
    async def set_budget(
        self,
        account_id: AccountIdPath,
        data: JSONBody[BudgetIn],
        rt: RuntimeDep,
        principal: PrincipalDep,
        idempotency_key: IdempotencyKeyHeader,
    ) -> EntryOut:
        community = community_of(principal)
        await _named(rt, community, account_id, AccountType.ORGANISATION)
        draft = drafts.budget(
            new_entry_id(),
            principal.staff_actor,
            account_id,
            data.budget_minutes_per_month,
            key=scoped_key(principal.credential_id, idempotency_key),
        )
        return EntryOut.from_entry(await drafts.append(rt.ledger, community, draft))


class ShopController(Controller):
    path = "/api/v1/shops"
    tags = ["shops"]

    @post("/", summary="Open a shop's account", **route(Action.SHOP_CREATE))
    async def create(
        self,
        data: JSONBody[ShopIn],
        rt: RuntimeDep,
        principal: PrincipalDep,
        idempotency_key: IdempotencyKeyHeader,
    ) -> Response[ShopOut]:
        community = community_of(principal)
        if not text_ok(data.name):
            raise invalid("text_invalid", "Names must be printable text.")

        async def work(plan: dict[str, str]) -> tuple[int, ShopOut]:
            named = await provisioning.open_named_account(
                rt, community, AccountType.SHOP, data.name, principal.staff_actor, plan
            )
            return 201, ShopOut(account_id=named.account_id, name=named.name, balance_minutes=0)

        status, out = await once(
            rt.db,
            scope=community,
            key=idempotency_key,
            fingerprint=fingerprint("shops.create", principal.person_id, data),
            now=rt.now_seconds,
            make_plan=lambda: provisioning.account_plan(AccountType.SHOP),
            out_type=ShopOut,
            work=work,
        )
        return Response(out, status_code=status)

    @get("/", summary="The community's shops", **route(Action.SHOP_READ))
    async def list_all(self, rt: RuntimeDep, principal: PrincipalDep) -> ShopPage:
        items = await shop_payments.shops(rt, principal, community_of(principal))
        return ShopPage(items=items)
