"""Accounts and their history: members see their own, staff according to role."""

from __future__ import annotations

from litestar import Controller, get

from api import shop_payments
from api.access import Action, Principal, may_see_account
from api.auth import community_of
from api.directory import account_name
from api.problems import forbidden, invalid, not_found
from api.routes.markers import (
    AccountIdPath,
    CursorQuery,
    LimitQuery,
    PrincipalDep,
    ReadsDep,
    RuntimeDep,
    route,
)
from api.schemas.ledger import AccountOut, EntryOut, EntryPage
from ledger import limits
from ledger.model import AccountType
from ledger.shape import journal_position
from ledger.sql.store import SqlStore
from ledger.store import AccountRow


async def visible_account(
    store: SqlStore, principal: Principal, account_id: str
) -> tuple[str, AccountRow]:
    community = community_of(principal)
    row = await store.account(community, account_id)
    if row is None:
        raise not_found("account_not_found", f"No account {account_id!r}.")
    if not may_see_account(principal, account_id, row.spec.type):
        raise forbidden("account_not_visible", "This is not an account you may see.")
    return community, row


def parse_cursor(cursor: str | None) -> int | None:
    """A page's cursor: a position in the journal (ASCII digits, at most ``TREE_SIZE_MAX``)."""
    if cursor is None:
        return None
    position = journal_position(cursor)
    if position is None:
        raise invalid("cursor_invalid", "Pass the next_cursor of the previous page.")
    return position


class AccountController(Controller):
    path = "/api/v1/accounts/{account_id:str}"
    tags = ["accounts"]

    @get(
        "/",
        summary="An account's balance and this month's total",
        **route(Action.ACCOUNT_READ, 404),
    )
    async def read(
        self, account_id: AccountIdPath, rt: RuntimeDep, principal: PrincipalDep
    ) -> AccountOut:
        community, row = await visible_account(rt.store, principal, account_id)
        month = rt.month()
        month_minutes = 0
        if row.spec.type in (AccountType.MEMBER, AccountType.ORGANISATION):
            month_minutes = await rt.store.monthly_total(community, account_id, month)
        elif row.spec.type is AccountType.SHOP:
            # The ledger keeps no month counter for shops: add up the month's entries.
            month_minutes = await shop_payments.month_minutes(rt, community, account_id, month)
        # Whoever may see the account may see its name (a member only their own).
        async with rt.db.read() as session:
            name = await account_name(session, community, account_id)
        return AccountOut.from_row(row, month, month_minutes, name)

    @get(
        "/entries", summary="The account's entries, newest first", **route(Action.ACCOUNT_READ, 404)
    )
    async def entries(
        self,
        account_id: AccountIdPath,
        reads: ReadsDep,
        principal: PrincipalDep,
        cursor: CursorQuery = None,
        limit: LimitQuery = limits.PAGE_SIZE_DEFAULT,
    ) -> EntryPage:
        community, _ = await visible_account(reads.store, principal, account_id)
        before = parse_cursor(cursor)
        entries = await reads.store.account_entries(community, account_id, before, limit)
        next_cursor = (
            str(entries[-1].seq) if len(entries) == limit and entries[-1].seq > 0 else None
        )
        return EntryPage(items=[EntryOut.from_entry(e) for e in entries], next_cursor=next_cursor)
