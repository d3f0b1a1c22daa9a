"""Device sessions and API tokens: revoking a lost phone, issuing tokens for scripts,
and redeeming an enrolment link from an app (the page flow is in ``mobile_web``)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.params import JSONBody

from api import limits, provisioning
from api.access import Action, Principal, Role
from api.auth import community_of
from api.directory import community_credentials, person_in, roles_of
from api.idempotency import IdempotencyKeyHeader, draft_id, fingerprint, once
from api.problems import ProblemError, forbidden, not_found, problem_responses
from api.provisioning import KIND_API, KIND_DEVICE, LinkState
from api.ratelimit import refuse_unknown_enrolment
from api.routes.markers import IdPath, PrincipalDep, RuntimeDep, route
from api.routes.people import check_manageable, credential_out
from api.runtime import Runtime
from api.schemas.common import rfc3339
from api.schemas.people import (
    CredentialOut,
    CredentialPage,
    RedeemIn,
    SessionOut,
    TokenCreatedOut,
    TokenIn,
)
from api.tables import CredentialRow
from api.tokens import Prefix, new_id

ENROL_SCOPE = "-enrolment"


async def _credential(
    rt: Runtime, principal: Principal, credential_id: str, kind: str
) -> CredentialRow:
    community = community_of(principal)
    async with rt.db.read() as session:
        row = await session.get(CredentialRow, credential_id)
        if row is None or row.kind != kind or row.community != community:
            noun = "device" if kind == KIND_DEVICE else "token"
            raise not_found(f"{noun}_not_found", f"No {noun} {credential_id!r}.")
        roles = await roles_of(session, row.person_id)
    check_manageable(principal, roles)
    return row


class DeviceController(Controller):
    path = "/api/v1/devices"
    tags = ["devices"]

    @post(
        "/{device_id:str}/revoke",
        summary="Sign a device out for good (a lost phone)",
        status_code=200,
        **route(Action.DEVICE_REVOKE, 404),
    )
    async def revoke(
        self,
        device_id: IdPath,
        rt: RuntimeDep,
        principal: PrincipalDep,
        idempotency_key: IdempotencyKeyHeader,
    ) -> CredentialOut:
        draft_id(idempotency_key)
        row = await _credential(rt, principal, device_id, KIND_DEVICE)
        return credential_out(await provisioning.revoke_credential(rt, row, principal.staff_actor))


class TokenController(Controller):
    path = "/api/v1/tokens"
    tags = ["tokens"]

    @post(
        "/", summary="Issue an API token for a person and role", **route(Action.TOKEN_CREATE, 404)
    )
    async def create(
        self,
        data: JSONBody[TokenIn],
        rt: RuntimeDep,
        principal: PrincipalDep,
        idempotency_key: IdempotencyKeyHeader,
    ) -> Response[TokenCreatedOut]:
        community = community_of(principal)
        async with rt.db.read() as session:
            person = await person_in(session, community, data.person_id)

        async def work(plan: dict[str, str]) -> tuple[int, TokenCreatedOut]:
            expires_at = int(plan["expires_at"]) if plan.get("expires_at") else None
            row, token = await provisioning.issue_credential(
                rt, person, kind=KIND_API, role=Role(data.role.value), label=data.label,
                created_by=principal.staff_actor, credential_id=plan["credential"],
                expires_at=expires_at,
            )  # fmt: skip
            out = TokenCreatedOut(
                id=row.id, person_id=person.id, role=data.role.value, label=row.label,
                token=token, expires_at=rfc3339(row.expires_at),
            )  # fmt: skip
            return 201, out

        def plan() -> dict[str, str]:
            made = {"credential": new_id(Prefix.API_TOKEN)}
            expires_at = provisioning.token_expires_at(rt.now_seconds(), data.expires_in_days)
            if expires_at is not None:
                made["expires_at"] = str(expires_at)
            return made

        status, out = await once(
            rt.db,
            scope=community,
            key=idempotency_key,
            fingerprint=fingerprint("tokens.create", principal.person_id, data),
            now=rt.now_seconds,
            make_plan=plan,
            out_type=TokenCreatedOut,
            work=work,
        )
        return Response(out, status_code=status)

    @get("/", summary="The community's API tokens", **route(Action.TOKEN_READ))
    async def list_all(self, rt: RuntimeDep, principal: PrincipalDep) -> CredentialPage:
        community = community_of(principal)
        async with rt.db.read() as session:
            rows = await community_credentials(session, community, KIND_API, limits.LIST_SIZE_MAX)
        return CredentialPage(items=[credential_out(r) for r in rows])

    @post(
        "/{token_id:str}/revoke",
        summary="Revoke an API token",
        status_code=200,
        **route(Action.TOKEN_REVOKE, 404),
    )
    async def revoke(
        self,
        token_id: IdPath,
        rt: RuntimeDep,
        principal: PrincipalDep,
        idempotency_key: IdempotencyKeyHeader,
    ) -> CredentialOut:
        draft_id(idempotency_key)
        row = await _credential(rt, principal, token_id, KIND_API)
        if row.person_id == principal.person_id and row.id == principal.credential_id:
            raise forbidden("cannot_revoke_own_token", "Use another admin's token for this.")
        return credential_out(await provisioning.revoke_credential(rt, row, principal.staff_actor))


def client_bucket(request: Request[Any, Any, Any]) -> str:
    host = request.client.host if request.client is not None else "unknown"
    return f"enrol:{host}"[:100]


async def redeem_or_count(
    rt: Runtime, bucket: str, token: str, label: str
) -> tuple[CredentialRow, str]:
    """Redeem an enrolment token; unknown tokens count toward the address's lockout."""
    redeemed = await provisioning.redeem_enrolment(rt, token, label)
    if redeemed is None:
        if await provisioning.enrolment_link_state(rt, token) is LinkState.UNKNOWN:
            await refuse_unknown_enrolment(rt.db, bucket, rt.now_seconds())
        raise ProblemError(404, "enrolment_link_invalid", "This link is unknown, used or expired.")
    return redeemed


class EnrolmentController(Controller):
    path = "/api/v1/enrolment"
    tags = ["devices"]

    @post(
        "/redeem",
        summary="Redeem an enrolment link from an app: bind this device, get a session token",
        responses=problem_responses(404),
    )
    async def redeem(
        self, request: Request[Any, Any, Any], data: JSONBody[RedeemIn], rt: RuntimeDep,
        idempotency_key: IdempotencyKeyHeader,
    ) -> Response[SessionOut]:  # fmt: skip
        bucket = client_bucket(request)
        label = data.label or request.headers.get("user-agent", "")[: limits.USER_AGENT_LABEL_MAX]

        async def work(plan: dict[str, str]) -> tuple[int, SessionOut]:
            credential, token = await redeem_or_count(rt, bucket, data.token, label)
            out = SessionOut(
                device_id=credential.id, person_id=credential.person_id,
                community=credential.community or "", session_token=token,
            )  # fmt: skip
            return 201, out

        status, out = await once(
            rt.db,
            scope=ENROL_SCOPE,
            key=idempotency_key,
            fingerprint=fingerprint("enrolment.redeem", bucket, data),
            now=rt.now_seconds,
            make_plan=dict,
            out_type=SessionOut,
            work=work,
        )
        return Response(out, status_code=status)
