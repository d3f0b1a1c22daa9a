"""Shapes for communities, their settings, organisations and shops."""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import UNSET, Meta, UnsetType

from api import limits as api_limits
from api.schemas.common import BudgetMinutes, CapMinutes, Name
from ledger import limits

Slug = Annotated[
    str,
    Meta(
        pattern="^[a-z][a-z0-9-]{1,39}$",
        max_length=limits.COMMUNITY_SLUG_LENGTH_MAX,
        description="Lower-case letters, digits and '-'; the journal's name.",
        examples=["oost"],
    ),
]
CurrencyName = Annotated[str, Meta(min_length=1, max_length=api_limits.CURRENCY_NAME_LENGTH_MAX)]
OfflineCapMinutes = Annotated[
    int,
    Meta(
        ge=1,
        le=api_limits.OFFLINE_PAYMENT_MINUTES_MAX,
        description="A cap on payments taken with a pay code or card, in minutes.",
    ),
]


class CommunityIn(msgspec.Struct, forbid_unknown_fields=True):
    slug: Slug
    name: Name
    currency_name: CurrencyName = "Buurtmunt"
    members_may_transfer: bool = True
    member_earning_cap_minutes_per_month: CapMinutes | None = None


class CommunityOut(msgspec.Struct):
    slug: str
    name: str
    currency_name: str
    community_account: str
    members_may_transfer: bool
    member_earning_cap_minutes_per_month: int | None
    origin: str
    verifier_key: str
    # Caps on payments a shop takes with a pay code or a card (no scan by the member).
    offline_payment_minutes_max: int
    offline_day_minutes_max: int


class CommunityPage(msgspec.Struct):
    items: list[CommunityOut]


class SettingsIn(msgspec.Struct, forbid_unknown_fields=True):
    """A change of the community's rules: a field left out is unchanged."""

    members_may_transfer: bool | UnsetType = UNSET
    # null: no cap.
    member_earning_cap_minutes_per_month: CapMinutes | UnsetType | None = UNSET
    # Per payment, and per member per day (UTC).
    offline_payment_minutes_max: OfflineCapMinutes | UnsetType = UNSET
    offline_day_minutes_max: OfflineCapMinutes | UnsetType = UNSET


class OrganisationIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    budget_minutes_per_month: BudgetMinutes


class OrganisationOut(msgspec.Struct):
    """An organisation; its balance and what it issued this month are null for a caller
    who may not see its account (a coordinator of another organisation)."""

    account_id: str
    name: str
    budget_minutes_per_month: int
    balance_minutes: int | None
    month: str
    issued_minutes: int | None


class OrganisationPage(msgspec.Struct):
    items: list[OrganisationOut]


class BudgetIn(msgspec.Struct, forbid_unknown_fields=True):
    budget_minutes_per_month: BudgetMinutes


class ShopIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Name


class ShopOut(msgspec.Struct):
    """A shop; its balance is null for a caller who may not see its account (members,
    another shop's staff)."""

    account_id: str
    name: str
    balance_minutes: int | None


class ShopPage(msgspec.Struct):
    items: list[ShopOut]
