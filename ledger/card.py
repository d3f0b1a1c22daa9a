"""Printed cards: the signed claims a card's QR code carries, encoded and checked.

A card lets a resident without a phone pay at a shop: the shop scans the card
and the resident types a PIN. The QR code holds claims (community, member
account, card id, issue date) signed with the deployment's Ed25519 key, so
anyone with the published verifier key can tell a real card from a forged one
without the server. The format (``docs/cards-and-pay-codes.md``)::

    payload = "BMC1:" BASE32(claims || signature)
    claims  = community " " member " " card_id " " issued_on     (ASCII, YYYY-MM-DD)
    signature = Ed25519(key, "buurtmunt card v1" 0x00 || claims)

BASE32 is RFC 4648's alphabet in upper case without ``=`` padding, so the whole
payload is QR alphanumeric text (a smaller code than bytes). The NUL byte in
the signed message keeps card signatures and checkpoint signatures apart: a
signed note's text may not contain control characters, so no card signature
can ever pass as a checkpoint's, nor a checkpoint's as a card's.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from dataclasses import dataclass
from datetime import date
from typing import Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ledger import limits
from ledger.shape import ACCOUNT_ID_PATTERN

PAYLOAD_PREFIX = "BMC1:"
SIGNATURE_CONTEXT = b"buurtmunt card v1\x00"
SIGNATURE_BYTES = 64
PUBLIC_KEY_BYTES = 32

_COMMUNITY = re.compile(r"[a-z][a-z0-9-]{1,39}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_BASE32 = re.compile(r"[A-Z2-7]+")
_FIELDS = 4
# The longest claims: three ids at their maximum length, a date, three spaces.
CLAIMS_BYTES_MAX = limits.COMMUNITY_SLUG_LENGTH_MAX + 2 * limits.ACCOUNT_ID_LENGTH_MAX + 10 + 3
PAYLOAD_LENGTH_MAX = len(PAYLOAD_PREFIX) + math.ceil((CLAIMS_BYTES_MAX + SIGNATURE_BYTES) * 8 / 5)

CardErrorReason = Literal["malformed_card", "invalid_signature"]


class CardError(ValueError):
    """A card payload was refused; ``reason`` is a stable short code."""

    def __init__(self, reason: CardErrorReason, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason: CardErrorReason = reason


@dataclass(frozen=True, slots=True)
class CardClaims:
    """What a card says: whose it is, where, and since when."""

    community: str
    member: str
    card_id: str
    issued_on: date

    def __post_init__(self) -> None:
        if not (
            _COMMUNITY.fullmatch(self.community)
            and ACCOUNT_ID_PATTERN.fullmatch(self.member)
            and ACCOUNT_ID_PATTERN.fullmatch(self.card_id)
        ):
            raise CardError("malformed_card", "community, member or card id out of shape")

    def text(self) -> bytes:
        fields = (self.community, self.member, self.card_id, self.issued_on.isoformat())
        return " ".join(fields).encode("ascii")


def signed_message(claims: CardClaims) -> bytes:
    """The exact bytes a card's signature signs."""
    return SIGNATURE_CONTEXT + claims.text()


def encode_card(claims: CardClaims, private_key: Ed25519PrivateKey) -> str:
    """The QR payload of a card: the claims and their signature (Ed25519 is deterministic,
    so the same claims and key always give the same payload)."""
    signature = private_key.sign(signed_message(claims))
    raw = claims.text() + signature
    payload = PAYLOAD_PREFIX + base64.b32encode(raw).decode("ascii").rstrip("=")
    assert len(payload) <= PAYLOAD_LENGTH_MAX, "claims are bounded by their fields' shapes"
    return payload


def _parse_claims(text: bytes) -> CardClaims:
    try:
        fields = text.decode("ascii").split(" ")
    except UnicodeDecodeError:
        raise CardError("malformed_card", "claims are not ASCII") from None
    if len(fields) != _FIELDS or _DATE.fullmatch(fields[3]) is None:
        raise CardError("malformed_card", "claims are not four fields")
    try:
        issued_on = date.fromisoformat(fields[3])
    except ValueError:
        raise CardError("malformed_card", "no such date") from None
    return CardClaims(fields[0], fields[1], fields[2], issued_on)


def _decode_base32(text: str) -> bytes:
    """Upper-case RFC 4648 base32 without padding; only its one canonical form."""
    if _BASE32.fullmatch(text) is None:
        raise CardError("malformed_card", "not upper-case base32")
    try:
        raw = base64.b32decode(text + "=" * (-len(text) % 8))
    except binascii.Error:
        raise CardError("malformed_card", "not base32") from None
    # Unused trailing bits must be zero, so that each card has exactly one payload.
    if base64.b32encode(raw).decode("ascii").rstrip("=") != text:
        raise CardError("malformed_card", "not canonical base32")
    return raw


def decode_card(payload: str, public_key: bytes) -> CardClaims:
    """The claims of a card whose signature ``public_key`` (raw Ed25519) verifies.

    Raises ``CardError`` for anything else: a wrong prefix, bad base32, claims
    out of shape, or a signature that does not verify (one changed byte is enough).
    """
    if len(public_key) != PUBLIC_KEY_BYTES:
        raise ValueError("an Ed25519 public key is 32 bytes")
    if len(payload) > PAYLOAD_LENGTH_MAX or not payload.startswith(PAYLOAD_PREFIX):
        raise CardError("malformed_card", "not a version 1 card")
    raw = _decode_base32(payload[len(PAYLOAD_PREFIX) :])
    if len(raw) <= SIGNATURE_BYTES:
        raise CardError("malformed_card", "too short")
    text, signature = raw[:-SIGNATURE_BYTES], raw[-SIGNATURE_BYTES:]
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, SIGNATURE_CONTEXT + text)
    except InvalidSignature:
        raise CardError("invalid_signature") from None
    return _parse_claims(text)
