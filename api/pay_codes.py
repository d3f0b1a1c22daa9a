"""Resident pay codes: a phone shows a code offline, the shop types it in (RFC 6238).

Each linked phone of a member gets a secret (20 random bytes) and a device
number (6 digits, unique in the community) when it is linked. The code it
shows is the device number followed by the 6-digit TOTP (HMAC-SHA1, 30-second
steps) of the current step, 12 digits in all; its QR code holds just those
digits. The shop redeems a code once: the step it matched becomes the
device's ``last_step``, and only a later step works after that. The current
step and one either side are accepted, for clocks that drift.

Wrong codes count per device; ``PAY_CODE_FAILURES_MAX`` in a row lock that
device's codes for ``PAY_CODE_LOCK_SECONDS``. A number that belongs to no
device (or to a signed-out one) answers exactly like a wrong code, and is
counted and locked the same way, so the answers never tell which numbers exist.

Secrets are stored sealed (AES-GCM) under a key derived from the deployment's
signing key, so a database dump alone does not let anyone make codes. After
the signing key is rotated, a phone's sealed secret no longer opens, and the
phone gets a fresh secret the next time it asks (``device_of``).
"""

from __future__ import annotations

import base64
import hmac
import logging
import secrets
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.twofactor.totp import TOTP
from sqlalchemy import or_, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from api import limits, offline_payments
from api.access import Principal
from api.offline_payments import METHOD_CODE, Claim, Payment
from api.problems import ProblemError, forbidden, invalid, not_found
from api.ratelimit import too_many
from api.runtime import Runtime
from api.tables import CredentialRow, LockoutRow, PayCodeDeviceRow
from ledger.model import Entry

log = logging.getLogger(__name__)

SECRET_BYTES = 20
DEVICE_NUMBER_DIGITS = 6
TOTP_DIGITS = 6
CODE_DIGITS = DEVICE_NUMBER_DIGITS + TOTP_DIGITS
CODE_LAYOUT = "device number (6 digits), then the TOTP (6 digits)"
# Random draws for a free device number before giving up (a community would
# need most of the million numbers in use for this to matter).
DEVICE_NUMBER_ATTEMPTS_MAX = 20
_NONCE_BYTES = 12


# -- the pure parts: codes from secrets and times


def step_of(unix_seconds: float) -> int:
    """The RFC 6238 time step (T) of a moment."""
    return int(unix_seconds // limits.PAY_CODE_STEP_SECONDS)


def totp(secret: bytes, step: int) -> str:
    """The 6-digit TOTP (HMAC-SHA1) of ``step``."""
    generator = TOTP(secret, TOTP_DIGITS, SHA1(), limits.PAY_CODE_STEP_SECONDS)
    return generator.generate(step * limits.PAY_CODE_STEP_SECONDS).decode("ascii")


def code_at(device_number: str, secret: bytes, unix_seconds: float) -> str:
    """The 12-digit pay code a phone shows at this moment."""
    return device_number + totp(secret, step_of(unix_seconds))


def split_code(code: str) -> tuple[str, str] | None:
    """(device number, TOTP) of a 12-digit code, or None if it is not one."""
    if len(code) != CODE_DIGITS or not (code.isascii() and code.isdigit()):
        return None
    return code[:DEVICE_NUMBER_DIGITS], code[DEVICE_NUMBER_DIGITS:]


def matching_step(secret: bytes, otp: str, now_step: int) -> int | None:
    """The latest step within the allowed skew whose TOTP is ``otp``, or None.

    Every candidate is compared (in constant time), so the time taken does not
    depend on which one matched.
    """
    found: int | None = None
    skew = limits.PAY_CODE_SKEW_STEPS
    for step in range(now_step - skew, now_step + skew + 1):
        if hmac.compare_digest(totp(secret, step), otp):
            found = step
    return found


def secret_base32(secret: bytes) -> str:
    """The secret as authenticator apps take it: RFC 4648 base32 without padding."""
    return base64.b32encode(secret).decode("ascii").rstrip("=")


# -- sealed secrets


def _aead(signing_key: Ed25519PrivateKey) -> AESGCM:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"buurtmunt pay codes v1")
    return AESGCM(hkdf.derive(signing_key.private_bytes_raw()))


def seal_secret(signing_key: Ed25519PrivateKey, credential_id: str, secret: bytes) -> bytes:
    nonce = secrets.token_bytes(_NONCE_BYTES)
    return nonce + _aead(signing_key).encrypt(nonce, secret, credential_id.encode())


def open_secret(signing_key: Ed25519PrivateKey, row: PayCodeDeviceRow) -> bytes | None:
    """The device's secret, or None if it was sealed under another signing key
    (after a key rotation a phone must be linked again to pay with codes)."""
    sealed = row.secret
    nonce, body = sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:]
    try:
        return _aead(signing_key).decrypt(nonce, body, row.credential_id.encode())
    except InvalidTag:
        return None


# -- devices


async def add_device(
    session: AsyncSession,
    signing_key: Ed25519PrivateKey,
    credential: CredentialRow,
    member: str,
    now: int,
) -> PayCodeDeviceRow | None:
    """Give a newly linked phone its pay-code secret, in the caller's transaction.

    None (and a warning) if no free device number was found: the phone then
    works without pay codes rather than not at all.
    """
    assert credential.community is not None, "members belong to a community"
    for _ in range(DEVICE_NUMBER_ATTEMPTS_MAX):
        number = f"{secrets.randbelow(10**DEVICE_NUMBER_DIGITS):0{DEVICE_NUMBER_DIGITS}d}"
        taken = await session.exec(
            select(PayCodeDeviceRow.credential_id).where(
                PayCodeDeviceRow.community == credential.community,
                PayCodeDeviceRow.device_number == number,
            )
        )
        if taken.first() is not None:
            continue
        row = PayCodeDeviceRow(
            credential_id=credential.id, community=credential.community, member=member,
            device_number=number, created_at=now,
            secret=seal_secret(signing_key, credential.id, secrets.token_bytes(SECRET_BYTES)),
        )  # fmt: skip
        try:
            # A savepoint: a concurrent link that drew the same number costs one draw.
            async with session.begin_nested():
                session.add(row)
        except IntegrityError:
            continue
        return row
    log.warning("no free pay-code device number in %s", credential.community)
    return None


@dataclass(frozen=True, slots=True)
class DeviceCodes:
    row: PayCodeDeviceRow
    secret: bytes


async def device_of(rt: Runtime, principal: Principal) -> DeviceCodes:
    """The caller's own phone's pay-code secret; API tokens and staff have none.

    A phone linked before pay codes existed, or whose secret no longer opens
    (the signing key was replaced), gets a fresh secret now: the phone shows
    codes from the new one at once, and codes of the old one stop working.
    """
    async with rt.db.read() as session:
        row = await session.get(PayCodeDeviceRow, principal.credential_id)
        credential = await session.get(CredentialRow, principal.credential_id)
    secret = None if row is None else open_secret(rt.ledger.signer.private_key, row)
    if row is not None and secret is not None:
        return DeviceCodes(row, secret)
    if credential is None or credential.role is not None:
        raise forbidden(
            "device_session_required",
            "Pay codes belong to a phone linked with an enrolment link, not to an API token.",
        )
    if principal.member_account is None:
        raise not_found("pay_code_device_not_found", "Only members' phones have pay codes.")
    fresh = await _renew_device(rt, credential, principal.member_account)
    if fresh is None:
        raise not_found(
            "pay_code_device_not_found",
            "This phone has no pay codes; link it again with a new enrolment link.",
        )
    opened = open_secret(rt.ledger.signer.private_key, fresh)
    assert opened is not None, "a secret sealed just now opens"
    return DeviceCodes(fresh, opened)


async def _renew_device(
    rt: Runtime, credential: CredentialRow, member: str
) -> PayCodeDeviceRow | None:
    async with rt.db.write() as session:
        stale = await session.get(PayCodeDeviceRow, credential.id)
        if stale is not None:
            await session.delete(stale)
            await session.flush()
        return await add_device(
            session, rt.ledger.signer.private_key, credential, member, rt.now_seconds()
        )


# -- redeeming


def _invalid() -> ProblemError:
    return invalid("pay_code_invalid", "This code is not valid. Ask for the code on the phone.")


def _locked(seconds: int) -> ProblemError:
    problem = too_many(seconds, "pay_code_locked")
    problem.detail = "Too many wrong codes for this phone; wait before trying again."
    return problem


async def redeem(
    rt: Runtime,
    principal: Principal,
    *,
    community: str,
    shop: str,
    entry_id: str,
    key: str,
    code: str,
    amount_minutes: int,
    memo: str,
) -> Entry:
    """Book a payment from the member whose phone shows ``code`` to ``shop``."""
    parts = split_code(code)
    if parts is None:
        raise _invalid()
    number, otp = parts
    earlier = await offline_payments.earlier(rt, community, key)
    if earlier is not None:
        member = earlier.member
    else:
        async with rt.db.read() as session:
            device = (
                await session.exec(
                    select(PayCodeDeviceRow).where(
                        PayCodeDeviceRow.community == community,
                        PayCodeDeviceRow.device_number == number,
                    )
                )
            ).first()
        if device is None:
            raise await _unknown_number(rt, community, number)
        member = device.member
    payment = Payment(
        community=community, entry_id=entry_id, key=key, actor=principal.staff_actor, member=member,
        shop=shop, amount_minutes=amount_minutes, memo=memo, method=METHOD_CODE,
        instrument=number,
    )  # fmt: skip
    return await offline_payments.book(rt, payment, _claim(rt, community, number, otp))


def _claim(rt: Runtime, community: str, number: str, otp: str) -> Claim:
    """Inside the booking transaction: check the code and take its step, once."""

    async def claim(session: AsyncSession) -> ProblemError | None:
        now = rt.now_seconds()
        device = (
            await session.exec(
                select(PayCodeDeviceRow)
                .where(
                    PayCodeDeviceRow.community == community,
                    PayCodeDeviceRow.device_number == number,
                )
                .with_for_update()
                .execution_options(populate_existing=True)
            )
        ).first()
        if device is None:  # a retry whose first try was refused, with another number
            return _invalid()
        if device.locked_until is not None and device.locked_until > now:
            return _locked(device.locked_until - now)
        credential = await session.get(CredentialRow, device.credential_id)
        signed_in = credential is not None and credential.revoked_at is None
        secret = open_secret(rt.ledger.signer.private_key, device)
        step = None if secret is None else matching_step(secret, otp, step_of(now))
        if step is None or not signed_in:
            await _count_wrong(session, device, now)
            return _invalid()
        taken = await session.exec(
            update(PayCodeDeviceRow)
            .where(
                col(PayCodeDeviceRow.credential_id) == device.credential_id,
                or_(
                    col(PayCodeDeviceRow.last_step).is_(None),
                    col(PayCodeDeviceRow.last_step) < step,
                ),
            )
            .values(last_step=step, failures=0, locked_until=None)
        )
        if taken.rowcount != 1:
            return ProblemError(409, "pay_code_used", "This code was used; show the next one.")
        return None

    return claim


async def _count_wrong(session: AsyncSession, device: PayCodeDeviceRow, now: int) -> None:
    failures = device.failures + 1
    locked_until = None
    if failures >= limits.PAY_CODE_FAILURES_MAX:
        failures, locked_until = 0, now + limits.PAY_CODE_LOCK_SECONDS
    await session.exec(
        update(PayCodeDeviceRow)
        .where(col(PayCodeDeviceRow.credential_id) == device.credential_id)
        .values(failures=failures, locked_until=locked_until)
    )


_CREATE_BUCKET = text(
    "INSERT INTO lockouts (bucket, failures, window_started_at) VALUES (:b, 0, :now) "
    "ON CONFLICT (bucket) DO NOTHING"
)


async def _unknown_number(rt: Runtime, community: str, number: str) -> ProblemError:
    """Count a try with a number no device has, as a device counts wrong codes."""
    now = rt.now_seconds()
    bucket = f"paycode:{community}:{number}"
    async with rt.db.write() as session:
        await (await session.connection()).execute(_CREATE_BUCKET, {"b": bucket, "now": now})
        row = await session.get(LockoutRow, bucket, with_for_update=True, populate_existing=True)
        assert row is not None
        if row.locked_until is not None and row.locked_until > now:
            return _locked(row.locked_until - now)
        row.failures += 1
        if row.failures >= limits.PAY_CODE_FAILURES_MAX:
            row.failures, row.locked_until = 0, now + limits.PAY_CODE_LOCK_SECONDS
        session.add(row)
    return _invalid()
