"""Shapes for people, their roles, devices, API tokens and enrolment links."""

from __future__ import annotations

import enum
from typing import Annotated

import msgspec
from msgspec import Meta

from api import limits as api_limits
from api.access import Role
from api.schemas.common import Label, Name, RowId, Scope

Phone = Annotated[str, Meta(min_length=1, max_length=api_limits.PHONE_LENGTH_MAX)]
Email = Annotated[str, Meta(min_length=3, max_length=api_limits.EMAIL_LENGTH_MAX)]
Neighbourhood = Annotated[str, Meta(min_length=1, max_length=api_limits.NEIGHBOURHOOD_LENGTH_MAX)]
Token = Annotated[str, Meta(min_length=1, max_length=100)]


class Language(enum.StrEnum):
    NL = "nl"
    EN = "en"
    TR = "tr"
    AR = "ar"


class StaffRole(enum.StrEnum):
    """Roles an admin may grant.

    Member comes with a member account; operator is deployment-wide.
    """

    SHOP = "shop"
    COORDINATOR = "coordinator"
    AUDITOR = "auditor"
    ADMIN = "admin"


class TokenRole(enum.StrEnum):
    """Roles an API token may be issued for, within a community."""

    MEMBER = "member"
    SHOP = "shop"
    COORDINATOR = "coordinator"
    AUDITOR = "auditor"
    ADMIN = "admin"


class RoleIn(msgspec.Struct, forbid_unknown_fields=True):
    role: StaffRole
    # The organisation (coordinator) or shop (shop) account the role applies to.
    scope: Scope = ""


class RoleOut(msgspec.Struct):
    role: Role
    scope: str


class PersonIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    phone: Phone | None = None
    email: Email | None = None
    language: Language = Language.NL
    neighbourhood: Neighbourhood | None = None


class StaffIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    roles: Annotated[list[RoleIn], Meta(min_length=1, max_length=api_limits.ROLES_PER_REQUEST_MAX)]
    phone: Phone | None = None
    email: Email | None = None
    language: Language = Language.NL


class PersonOut(msgspec.Struct):
    id: str
    name: str
    language: str
    roles: list[RoleOut]
    created_at: str
    erased: bool
    phone: str | None = None
    email: str | None = None
    neighbourhood: str | None = None
    member_account: str | None = None
    staff_id: str | None = None


class PersonPage(msgspec.Struct):
    items: list[PersonOut]
    next_cursor: str | None


class MeOut(msgspec.Struct):
    person_id: str
    community: str | None
    name: str
    language: str
    roles: list[RoleOut]
    credential_id: str
    member_account: str | None = None
    balance_minutes: int | None = None
    staff_id: str | None = None


class EnrolmentLinkOut(msgspec.Struct):
    """A one-time sign-in link for a phone; ``url`` is shown only in this response."""

    id: str
    person_id: str
    url: str
    expires_at: str
    qr_svg: str


class CredentialOut(msgspec.Struct):
    id: str
    kind: str
    person_id: str
    label: str
    created_at: str
    role: str | None = None
    last_used_at: str | None = None
    revoked_at: str | None = None
    expires_at: str | None = None


class CredentialPage(msgspec.Struct):
    items: list[CredentialOut]


class TokenIn(msgspec.Struct, forbid_unknown_fields=True):
    person_id: RowId
    role: TokenRole
    label: Label = ""
    # The token is refused this many days after it is made; omitted: it does not expire.
    expires_in_days: Annotated[int, Meta(ge=1, le=api_limits.TOKEN_LIFETIME_DAYS_MAX)] | None = None


class TokenCreatedOut(msgspec.Struct):
    """An API token; ``token`` is shown only in this response."""

    id: str
    person_id: str
    role: str
    label: str
    token: str
    expires_at: str | None = None


class RedeemIn(msgspec.Struct, forbid_unknown_fields=True):
    token: Token
    label: Label = ""


class SessionOut(msgspec.Struct):
    """A device session; use ``session_token`` as ``Authorization: Bearer``."""

    device_id: str
    person_id: str
    community: str
    session_token: str
