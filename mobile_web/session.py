"""What a member's home page shows, read for the session in the cookie."""

from __future__ import annotations

from dataclasses import dataclass

from api.runtime import Runtime
from api.tables import PersonRow
from ledger.model import Entry

RECENT_ENTRIES = 10
TOKEN_LENGTH_MAX = 100


@dataclass(frozen=True, slots=True)
class MemberView:
    name: str
    language: str
    roles: list[str]
    account_id: str | None
    balance_minutes: int | None
    recent: list[Entry]


async def member_view(rt: Runtime, token: str | None) -> MemberView | None:
    if not token or len(token) > TOKEN_LENGTH_MAX:
        return None
    principal = await rt.authenticator.principal(token)
    if principal is None or principal.community is None:
        return None
    async with rt.db.read() as session:
        person = await session.get(PersonRow, principal.person_id)
    if person is None:
        return None
    account_id = principal.member_account
    balance = None
    recent: list[Entry] = []
    if account_id is not None:
        row = await rt.store.account(principal.community, account_id)
        balance = None if row is None else row.balance_minutes
        recent = await rt.store.account_entries(
            principal.community, account_id, None, RECENT_ENTRIES
        )
    return MemberView(
        name=person.name,
        language=person.language,
        roles=sorted(r.value for r in principal.roles),
        account_id=account_id,
        balance_minutes=balance,
        recent=recent,
    )
