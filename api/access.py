"""Who may do what: the roles, the actions, and the authorization matrix as data.

Every API route names one ``Action`` (in its handler's ``opt``); the middleware in
``api.auth`` allows the request when the caller holds a role that ``MATRIX``
lists for that action. Finer rules that depend on the resource (a member sees
only their own account, a coordinator books only for their own organisation)
are the scope functions below; routes call them after loading the resource.
The test suite walks every role against every route and compares with
``MATRIX``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from ledger.model import AccountType, Entry


class Role(enum.StrEnum):
    MEMBER = "member"  # a resident with a member account
    SHOP = "shop"  # staff of a shop (scope: the shop's account)
    COORDINATOR = "coordinator"  # of an organisation (scope: its issuing account)
    AUDITOR = "auditor"  # the municipality: reads everything, changes nothing
    ADMIN = "admin"  # of a community
    OPERATOR = "operator"  # of the deployment: creates communities


# Roles with a scope name the account they apply to; the others have scope "".
SCOPED_ROLES = frozenset({Role.MEMBER, Role.SHOP, Role.COORDINATOR})
STAFF_ROLES = frozenset({Role.SHOP, Role.COORDINATOR, Role.AUDITOR, Role.ADMIN, Role.OPERATOR})
COMMUNITY_ROLES = frozenset(Role) - {Role.OPERATOR}


class Action(enum.StrEnum):
    ME_READ = "me.read"
    COMMUNITY_CREATE = "community.create"
    COMMUNITY_LIST = "community.list"
    COMMUNITY_READ = "community.read"
    COMMUNITY_CONFIGURE = "community.configure"
    ORGANISATION_CREATE = "organisation.create"
    ORGANISATION_READ = "organisation.read"
    ORGANISATION_BUDGET = "organisation.budget"
    SHOP_CREATE = "shop.create"
    SHOP_READ = "shop.read"
    MEMBER_CREATE = "member.create"
    MEMBER_READ = "member.read"
    STAFF_CREATE = "staff.create"
    STAFF_READ = "staff.read"
    ROLE_GRANT = "role.grant"
    ROLE_REVOKE = "role.revoke"
    PERSON_ERASE = "person.erase"
    ENROLMENT_CREATE = "enrolment.create"
    DEVICE_READ = "device.read"
    DEVICE_REVOKE = "device.revoke"
    TOKEN_CREATE = "token.create"
    TOKEN_READ = "token.read"
    TOKEN_REVOKE = "token.revoke"
    EARNING_CREATE = "earning.create"
    EARNING_READ = "earning.read"
    EARNING_DECIDE = "earning.decide"
    TRANSFER_CREATE = "transfer.create"
    CORRECTION_CREATE = "correction.create"
    ACCOUNT_READ = "account.read"
    LEDGER_CHECKPOINT = "ledger.checkpoint"
    LEDGER_ENTRIES = "ledger.entries"
    LEDGER_INCLUSION = "ledger.inclusion"
    LEDGER_CONSISTENCY = "ledger.consistency"
    RECEIPT_READ = "receipt.read"
    PAYMENT_REQUEST_CREATE = "payment_request.create"
    PAYMENT_REQUEST_READ = "payment_request.read"
    PAYMENT_REQUEST_PAY = "payment_request.pay"
    PAYMENT_REQUEST_CANCEL = "payment_request.cancel"
    PAYMENT_REQUEST_WATCH = "payment_request.watch"
    PAY_CODE_DEVICE = "pay_code.device"
    PAY_CODE_REDEEM = "pay_code.redeem"
    CARD_CREATE = "card.create"
    CARD_READ = "card.read"
    CARD_REVOKE = "card.revoke"
    CARD_REDEEM = "card.redeem"
    PAYMENT_REPORT_CREATE = "payment_report.create"
    PAYMENT_REPORT_READ = "payment_report.read"
    REFUND_CREATE = "refund.create"
    SETTLEMENT_CREATE = "settlement.create"
    SHOP_STATEMENT = "shop.statement"
    STATEMENT_READ = "statement.read"
    EXPORT_READ = "export.read"


M, S, C, A, AD, OP = (
    Role.MEMBER, Role.SHOP, Role.COORDINATOR, Role.AUDITOR, Role.ADMIN, Role.OPERATOR
)  # fmt: skip
EVERYONE = frozenset(COMMUNITY_ROLES)

MATRIX: Mapping[Action, frozenset[Role]] = {
    Action.ME_READ: frozenset(Role),
    Action.COMMUNITY_CREATE: frozenset({OP}),
    Action.COMMUNITY_LIST: frozenset({OP}),
    Action.COMMUNITY_READ: frozenset(Role),
    Action.COMMUNITY_CONFIGURE: frozenset({AD}),
    Action.ORGANISATION_CREATE: frozenset({AD}),
    Action.ORGANISATION_READ: frozenset({C, A, AD}),
    Action.ORGANISATION_BUDGET: frozenset({AD}),
    Action.SHOP_CREATE: frozenset({AD}),
    Action.SHOP_READ: EVERYONE,
    Action.MEMBER_CREATE: frozenset({C, AD}),
    Action.MEMBER_READ: frozenset({C, AD}),
    Action.STAFF_CREATE: frozenset({AD}),
    Action.STAFF_READ: frozenset({AD}),
    Action.ROLE_GRANT: frozenset({AD}),
    Action.ROLE_REVOKE: frozenset({AD}),
    Action.PERSON_ERASE: frozenset({AD}),
    Action.ENROLMENT_CREATE: frozenset({C, AD}),
    Action.DEVICE_READ: frozenset({C, AD}),
    Action.DEVICE_REVOKE: frozenset({C, AD}),
    Action.TOKEN_CREATE: frozenset({AD}),
    Action.TOKEN_READ: frozenset({AD}),
    Action.TOKEN_REVOKE: frozenset({AD}),
    Action.EARNING_CREATE: frozenset({C}),
    Action.EARNING_READ: frozenset({C, AD}),
    Action.EARNING_DECIDE: frozenset({C}),
    Action.TRANSFER_CREATE: frozenset({M}),
    Action.CORRECTION_CREATE: frozenset({AD}),
    Action.ACCOUNT_READ: EVERYONE,
    Action.LEDGER_CHECKPOINT: EVERYONE,
    Action.LEDGER_ENTRIES: frozenset({A, AD}),
    Action.LEDGER_INCLUSION: EVERYONE,  # the route checks that the entry concerns the caller
    Action.LEDGER_CONSISTENCY: EVERYONE,
    Action.RECEIPT_READ: EVERYONE,
    # A member asks to be paid (neighbour to neighbour), shop staff at the till.
    Action.PAYMENT_REQUEST_CREATE: frozenset({M, S}),
    Action.PAYMENT_REQUEST_READ: EVERYONE,
    Action.PAYMENT_REQUEST_PAY: frozenset({M}),
    Action.PAYMENT_REQUEST_CANCEL: frozenset({M, S}),
    Action.PAYMENT_REQUEST_WATCH: frozenset({M, S}),
    Action.PAY_CODE_DEVICE: frozenset({M}),
    Action.PAY_CODE_REDEEM: frozenset({S}),
    Action.CARD_CREATE: frozenset({C, AD}),
    Action.CARD_READ: frozenset({C, AD}),
    Action.CARD_REVOKE: frozenset({C, AD}),
    Action.CARD_REDEEM: frozenset({S}),
    Action.PAYMENT_REPORT_CREATE: frozenset({M}),
    Action.PAYMENT_REPORT_READ: frozenset({C, AD}),
    Action.REFUND_CREATE: frozenset({S}),
    Action.SETTLEMENT_CREATE: frozenset({AD}),
    Action.SHOP_STATEMENT: frozenset({S, A, AD}),
    # The municipality's downloads: the community's statement, CSVs and bundle.
    Action.STATEMENT_READ: frozenset({A, AD}),
    Action.EXPORT_READ: frozenset({A, AD}),
}
assert set(MATRIX) == set(Action), "every action has a row in the matrix"


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller, as the routes see them.

    ``roles`` are the roles this credential carries (all of a device session's
    person, or the one an API token was issued for). ``actor`` ids: staff act
    under ``staff_id``, members under their ``member_account``.
    """

    person_id: str
    community: str | None
    roles: frozenset[Role]
    credential_id: str
    staff_id: str | None = None
    member_account: str | None = None
    organisations: frozenset[str] = frozenset()
    shops: frozenset[str] = frozenset()
    # The person's display name and language, as they were when the credential was resolved.
    name: str = ""
    language: str = "nl"

    def may(self, action: Action) -> bool:
        return not self.roles.isdisjoint(MATRIX[action])

    def has(self, role: Role) -> bool:
        return role in self.roles

    @property
    def sees_everything(self) -> bool:
        return bool(self.roles & {Role.ADMIN, Role.AUDITOR})

    @property
    def staff_actor(self) -> str:
        assert self.staff_id is not None, "staff roles come with a staff id"
        return self.staff_id


def may_see_account(principal: Principal, account_id: str, account_type: AccountType) -> bool:
    """Members see their own account; shop staff their shop; coordinators members and
    their organisations; admins and auditors every account."""
    if principal.sees_everything:
        return True
    if principal.has(Role.COORDINATOR) and (
        account_type is AccountType.MEMBER or account_id in principal.organisations
    ):
        return True
    if principal.has(Role.SHOP) and account_id in principal.shops:
        return True
    return principal.has(Role.MEMBER) and account_id == principal.member_account


def may_see_entry(principal: Principal, entry: Entry, types: Mapping[str, AccountType]) -> bool:
    """An entry is visible to whoever may see one of the accounts it touches.

    ``types`` maps the entry's account ids to their types (unknown ids are skipped).
    """
    if principal.sees_everything:
        return True
    if principal.staff_id is not None and entry.draft.actor == principal.staff_id:
        return True
    return any(
        may_see_account(principal, account, types[account])
        for account in entry_accounts(entry)
        if account in types
    )


def entry_accounts(entry: Entry) -> list[str]:
    draft = entry.draft
    accounts = [a for p in draft.postings for a in (p.payer, p.payee)]
    if draft.account is not None:
        accounts.append(draft.account.id)
    if draft.budget is not None:
        accounts.append(draft.budget.organisation)
    return accounts
