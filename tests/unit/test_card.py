"""Printed cards' signed claims: the format, a fixed vector, and every way a payload fails."""

from __future__ import annotations

import base64
from datetime import date

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.card import (
    PAYLOAD_LENGTH_MAX,
    PAYLOAD_PREFIX,
    CardClaims,
    CardError,
    decode_card,
    encode_card,
    signed_message,
)
from ledger.note import NoteError, NoteSigner, NoteVerifier, open_note

# The vector was made with:
#   python -c "from datetime import date; from cryptography.hazmat.primitives.asymmetric.ed25519 \
#   import Ed25519PrivateKey as K; from ledger.card import *; print(encode_card(CardClaims('oost', \
#   'mbr_k3j5x7q2m4n6p8r1', 'crd_a2b3c4d5e6f7g2h3', date(2026, 11, 28)), \
#   K.from_private_bytes(bytes(range(32)))))"
# and checked by hand: base32-decode everything after "BMC1:", the last 64 bytes
# are an Ed25519 signature by the seed 00..1f over "buurtmunt card v1" 0x00 ||
# the bytes before them, which read "oost mbr_k3j5x7q2m4n6p8r1 crd_a2b3c4d5e6f7g2h3 2026-11-28".
SEED = bytes(range(32))
PUBLIC_KEY = bytes.fromhex("03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8")
CLAIMS = CardClaims("oost", "mbr_k3j5x7q2m4n6p8r1", "crd_a2b3c4d5e6f7g2h3", date(2026, 11, 28))
VECTOR = (
    "BMC1:N5XXG5BANVRHEX3LGNVDK6BXOEZG2NDOGZYDQ4RREBRXEZC7MEZGEM3DGRSDKZJWMY3WOMTIGMQDEMBSGYWTCMJN"
    "GI4MLU7KV6QW5BVT5NAF2TJ2QCU3VGTGS2YIZLNEWMHXEJ6BGOVATOKYYQFQBL7CKK6Q7O55W3FTTSD5KQLYUBM5A6SP"
    "QBQILFL2PQXLBY"
)


def a_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(SEED)


def raw_of(payload: str) -> bytes:
    body = payload[len(PAYLOAD_PREFIX) :]
    return base64.b32decode(body + "=" * (-len(body) % 8))


def payload_of(raw: bytes) -> str:
    return PAYLOAD_PREFIX + base64.b32encode(raw).decode("ascii").rstrip("=")


def test_the_vector_encodes_and_verifies_with_the_public_key_alone() -> None:
    payload = encode_card(CLAIMS, a_key())

    assert a_key().public_key().public_bytes_raw() == PUBLIC_KEY
    assert payload == VECTOR
    assert decode_card(VECTOR, PUBLIC_KEY) == CLAIMS


def test_the_payload_is_qr_alphanumeric_text_within_its_bound() -> None:
    longest = CardClaims("a" * 40, "m" * 40, "c" * 40, date(9999, 12, 31))

    payload = encode_card(longest, a_key())

    alphanumeric = set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")
    assert set(VECTOR) <= alphanumeric
    assert len(payload) == PAYLOAD_LENGTH_MAX
    assert decode_card(payload, PUBLIC_KEY) == longest


@pytest.mark.parametrize("position", range(len(raw_of(VECTOR))))
def test_one_changed_byte_anywhere_makes_the_card_invalid(position: int) -> None:
    raw = bytearray(raw_of(VECTOR))
    raw[position] ^= 0x01

    with pytest.raises(CardError):
        decode_card(payload_of(bytes(raw)), PUBLIC_KEY)


def test_a_card_signed_by_another_key_is_refused() -> None:
    forged = encode_card(CLAIMS, Ed25519PrivateKey.generate())

    with pytest.raises(CardError) as refused:
        decode_card(forged, PUBLIC_KEY)

    assert refused.value.reason == "invalid_signature"


@pytest.mark.parametrize(
    "payload",
    [
        "",
        VECTOR.replace("BMC1:", "BMC2:"),
        VECTOR.lower(),
        VECTOR + "=",
        VECTOR[:-1] + "Z",  # a non-zero unused trailing bit: not the canonical form
        VECTOR + "A" * 400,
        "BMC1:" + "A" * 100,
    ],
)
def test_payloads_out_of_shape_are_refused(payload: str) -> None:
    with pytest.raises(CardError):
        decode_card(payload, PUBLIC_KEY)


def test_claims_out_of_shape_cannot_be_made() -> None:
    with pytest.raises(CardError):
        CardClaims("oost", "mbr with space", "crd_x", date(2026, 1, 1))


def test_a_card_signature_can_never_pass_as_a_checkpoint_signature() -> None:
    message = signed_message(CLAIMS)
    signer = NoteSigner("buurtmunt.test", a_key())
    signature = a_key().sign(message)
    blob = signer.key_id.to_bytes(4, "big") + signature
    note = f"{message.decode('ascii')}\n\n— buurtmunt.test {base64.b64encode(blob).decode()}\n"

    # The signed message holds a NUL byte, which no signed note's text may contain.
    assert b"\x00" in message
    with pytest.raises(NoteError):
        open_note(note, [NoteVerifier("buurtmunt.test", PUBLIC_KEY)])
    with pytest.raises(NoteError):
        signer.sign(message.decode("ascii") + "\n")
