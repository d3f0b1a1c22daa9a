"""Printed cards with a PIN, for residents without a smartphone.

A coordinator issues a card for a member account: its QR code carries claims
signed with the deployment's key (``ledger.card``), and the resident chooses a
PIN, kept only as a scrypt hash. At the shop the card is scanned and the PIN
typed; the payment is then booked like a pay code's (``api.offline_payments``).

The PIN is short, so the lockout is what protects it: each try is counted
*before* the PIN is checked (a burst of concurrent guesses cannot get past the
limit), a right PIN resets the count, and the ``CARD_PIN_FAILURES_MAX``-th
wrong PIN locks the card for good (replace it: revoke and issue). While the
count is full the card refuses as locked, even before the lock is written. The scrypt
input is the PIN under an HMAC keyed from the signing key, so a database
dump alone is not enough to try all 10^6 PINs offline.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import unicodedata
from datetime import UTC, datetime

import msgspec
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from api import limits, offline_payments
from api.access import Principal
from api.auth import community_of
from api.directory import person_of_account
from api.idempotency import Plan, fingerprint, once
from api.offline_payments import METHOD_CARD, Claim, Payment
from api.problems import ProblemError, conflict, invalid, not_found
from api.runtime import Runtime
from api.tables import CardRow, PersonRow
from api.tokens import Prefix, new_id
from ledger import card
from ledger.model import AccountType, Entry

# About 40 ms and 16 MiB per PIN on one core of the machines in the design notes.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
SALT_BYTES = 16
PIN_HASH_BYTES = 32
assert card.PAYLOAD_LENGTH_MAX <= limits.CARD_PAYLOAD_LENGTH_MAX, "every card fits the request"


# -- PINs


def pin_digits(typed: str) -> str | None:
    """The PIN ``typed`` as ASCII digits (digits of any script, such as Arabic-Indic, read
    as their values), or None if it is not 4 to 6 digits."""
    typed = typed.strip()
    if not (limits.CARD_PIN_LENGTH_MIN <= len(typed) <= limits.CARD_PIN_LENGTH_MAX):
        return None
    if not typed.isdecimal():
        return None
    return "".join(str(unicodedata.decimal(c)) for c in typed)


def _pepper(signing_key: Ed25519PrivateKey) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"buurtmunt card pins v1")
    return hkdf.derive(signing_key.private_bytes_raw())


def hash_pin(signing_key: Ed25519PrivateKey, pin: str, salt: bytes) -> bytes:
    """scrypt of the peppered PIN; slow on purpose, so call it in a thread."""
    peppered = hmac.new(_pepper(signing_key), pin.encode("ascii"), hashlib.sha256).digest()
    kdf = Scrypt(salt=salt, length=PIN_HASH_BYTES, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P)
    return kdf.derive(peppered)


def pin_matches(signing_key: Ed25519PrivateKey, row: CardRow, pin: str) -> bool:
    return hmac.compare_digest(hash_pin(signing_key, pin, row.pin_salt), row.pin_hash)


# -- issuing and managing


async def member_person(rt: Runtime, community: str, member: str) -> PersonRow:
    """The person who holds member account ``member``, or a 404 problem."""
    account = await rt.store.account(community, member)
    async with rt.db.read() as session:
        person = await person_of_account(session, community, member)
    if account is None or account.spec.type is not AccountType.MEMBER or person is None:
        raise not_found("member_not_found", f"No member account {member!r}.")
    if person.erased_at is not None:
        raise conflict("person_erased", "This person's data was erased.")
    return person


def payload_of(rt: Runtime, row: CardRow) -> str:
    """The card's QR text (the same every time: Ed25519 signatures are deterministic)."""
    issued_on = datetime.fromtimestamp(row.issued_at, UTC).date()
    claims = card.CardClaims(row.community, row.member, row.id, issued_on)
    return card.encode_card(claims, rt.ledger.signer.private_key)


async def issue(
    rt: Runtime, person: PersonRow, member: str, pin: str, actor: str, card_id: str
) -> CardRow:
    """A new card ``card_id`` for ``member``; a retry with the same id finds it again."""
    assert person.community is not None, "members belong to a community"
    async with rt.db.read() as session:
        existing = await session.get(CardRow, card_id)
    if existing is not None:
        return existing
    salt = secrets.token_bytes(SALT_BYTES)
    pin_hash = await asyncio.to_thread(hash_pin, rt.ledger.signer.private_key, pin, salt)
    row = CardRow(
        id=card_id, community=person.community, member=member, person_id=person.id,
        pin_salt=salt, pin_hash=pin_hash, issued_at=rt.now_seconds(), issued_by=actor,
    )  # fmt: skip
    async with rt.db.write() as session:
        if await session.get(CardRow, card_id) is None:
            session.add(row)
    return row


async def cards_of(rt: Runtime, community: str, member: str) -> list[CardRow]:
    async with rt.db.read() as session:
        rows = await session.exec(
            select(CardRow)
            .where(CardRow.community == community, CardRow.member == member)
            .order_by(col(CardRow.issued_at).desc(), col(CardRow.id))
            .limit(limits.LIST_SIZE_MAX)
        )
        return list(rows.all())


async def card_in(rt: Runtime, community: str, card_id: str) -> CardRow:
    async with rt.db.read() as session:
        row = await session.get(CardRow, card_id)
    if row is None or row.community != community:
        raise not_found("card_not_found", f"No card {card_id!r}.")
    return row


async def revoke(rt: Runtime, row: CardRow, actor: str) -> CardRow:
    """Stop the card for good (lost, stolen, or being replaced); revoking twice is a no-op."""
    async with rt.db.write() as session:
        fresh = await session.get(CardRow, row.id, populate_existing=True)
        assert fresh is not None
        if fresh.revoked_at is None:
            fresh.revoked_at, fresh.revoked_by = rt.now_seconds(), actor
            session.add(fresh)
    return fresh


class Replaced(msgspec.Struct):
    """Which card replacing a member's cards issued, kept to answer the same request again."""

    card_id: str


async def replace_once(
    rt: Runtime, principal: Principal, person: PersonRow, member: str, pin: str, key: str
) -> CardRow:
    """A new card for ``member`` with ``pin`` (ASCII digits: ``pin_digits``) and their other
    cards revoked, once per Idempotency-Key ``key``: the same request again (a double tap,
    a reload) revokes nothing and gets the same card."""
    assert pin_digits(pin) == pin, "a PIN checked by the caller"

    async def work(plan: Plan) -> tuple[int, Replaced]:
        for old in await cards_of(rt, community, member):
            if old.revoked_at is None and old.id != plan["card"]:
                await revoke(rt, old, principal.staff_actor)
        row = await issue(rt, person, member, pin, principal.staff_actor, plan["card"])
        return 201, Replaced(row.id)

    community = community_of(principal)
    # The PIN is fingerprinted with the request's key, which is not stored: the stored
    # fingerprint cannot be reversed to the PIN.
    _, out = await once(
        rt.db,
        scope=community,
        key=key,
        fingerprint=fingerprint("cards.replace", principal.person_id, [member, key, pin]),
        now=rt.now_seconds,
        make_plan=lambda: {"card": new_id(Prefix.CARD), "person": person.id},
        out_type=Replaced,
        work=work,
    )
    return await card_in(rt, community, out.card_id)


# -- paying with a card


def _invalid() -> ProblemError:
    return invalid("card_invalid", "This is not a valid card of this community.")


def _refusal(row: CardRow) -> ProblemError:
    if row.revoked_at is not None:
        return conflict("card_revoked", "This card was revoked; a coordinator can issue a new one.")
    return conflict(
        "card_locked", "Too many wrong PINs locked this card; a coordinator can issue a new one."
    )


def claims_of(rt: Runtime, community: str, payload: str) -> card.CardClaims:
    """The card's claims if our key signed them for this community, or ``card_invalid``."""
    try:
        claims = card.decode_card(payload, rt.ledger.verifier.public_key)
    except card.CardError:
        raise _invalid() from None
    if claims.community != community:
        raise _invalid()
    return claims


async def redeem(
    rt: Runtime,
    principal: Principal,
    *,
    community: str,
    shop: str,
    entry_id: str,
    key: str,
    payload: str,
    pin: str,
    amount_minutes: int,
    memo: str,
) -> Entry:
    """Book a payment from the card's member to ``shop``, if the PIN is right. A PIN
    that is no PIN at all (not 4 to 6 digits) is refused before it counts as a try."""
    claims = claims_of(rt, community, payload)
    digits = pin_digits(pin)
    payment = Payment(
        community=community, entry_id=entry_id, key=key, actor=principal.staff_actor,
        member=claims.member, shop=shop, amount_minutes=amount_minutes, memo=memo,
        method=METHOD_CARD, instrument=claims.card_id,
    )  # fmt: skip
    if await offline_payments.earlier(rt, community, key) is not None:
        # A retry: the PIN was checked the first time. Should that booking have
        # been refused meanwhile, this key cannot be used again without a PIN check.
        return await offline_payments.book(rt, payment, _already_failed)
    async with rt.db.read() as session:
        row = await session.get(CardRow, claims.card_id)
        person = None if row is None else await session.get(PersonRow, row.person_id)
    if row is None or row.community != community or row.member != claims.member:
        raise _invalid()
    if person is None or person.erased_at is not None:
        # Erasing a person signs them out everywhere; their cards stop with their phones.
        raise conflict("card_revoked", "This card was revoked.")
    if digits is None:
        raise invalid(
            "card_pin_invalid",
            f"A PIN is {limits.CARD_PIN_LENGTH_MIN} to {limits.CARD_PIN_LENGTH_MAX} digits.",
        )
    await _count_try(rt, row.id)
    if not await asyncio.to_thread(pin_matches, rt.ledger.signer.private_key, row, digits):
        raise await _wrong_pin(rt, row.id)
    await _right_pin(rt, row.id)
    return await offline_payments.book(rt, payment, _still_usable(row.id))


async def _already_failed(_: AsyncSession) -> ProblemError | None:
    return conflict("id_already_failed", "This payment was refused; try again with a new key.")


async def _count_try(rt: Runtime, card_id: str) -> None:
    """Count this try before checking the PIN, or refuse a locked or revoked card."""
    async with rt.db.write() as session:
        counted = await session.exec(
            update(CardRow)
            .where(
                col(CardRow.id) == card_id,
                col(CardRow.locked_at).is_(None),
                col(CardRow.revoked_at).is_(None),
                col(CardRow.failures) < limits.CARD_PIN_FAILURES_MAX,
            )
            .values(failures=col(CardRow.failures) + 1)
        )
        if counted.rowcount == 1:
            return
        row = await session.get(CardRow, card_id, populate_existing=True)
        assert row is not None
    # Revoked, locked, or as many tries counted as are allowed: while those are
    # being checked (or if one died half-way) the card takes no more.
    raise _refusal(row)


async def _wrong_pin(rt: Runtime, card_id: str) -> ProblemError:
    async with rt.db.write() as session:
        row = await session.get(CardRow, card_id, with_for_update=True, populate_existing=True)
        assert row is not None
        left = max(0, limits.CARD_PIN_FAILURES_MAX - row.failures)
        if left == 0 and row.locked_at is None:
            row.locked_at = rt.now_seconds()
            session.add(row)
    detail = "Wrong PIN." if left else "Wrong PIN; the card is now locked."
    return invalid("card_pin_wrong", detail, pin_attempts_left=left)


async def _right_pin(rt: Runtime, card_id: str) -> None:
    async with rt.db.write() as session:
        reset = await session.exec(
            update(CardRow)
            .where(
                col(CardRow.id) == card_id,
                col(CardRow.locked_at).is_(None),
                col(CardRow.revoked_at).is_(None),
            )
            .values(failures=0)
        )
        if reset.rowcount == 1:
            return
        row = await session.get(CardRow, card_id, populate_existing=True)
        assert row is not None
    raise _refusal(row)


def _still_usable(card_id: str) -> Claim:
    """Inside the booking transaction: the card was not revoked while the PIN was checked."""

    async def claim(session: AsyncSession) -> ProblemError | None:
        row = await session.get(CardRow, card_id, populate_existing=True)
        assert row is not None
        if row.revoked_at is not None or row.locked_at is not None:
            return _refusal(row)
        return None

    return claim
