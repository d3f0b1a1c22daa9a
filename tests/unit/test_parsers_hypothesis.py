"""Every parser of outside text, fed anything: it answers or raises its own error, nothing else.

For each format read from outside the process (signed notes and note keys,
checkpoints, receipts, card payloads, canonical entry bytes, pay codes, payment
request ids in QR links), two kinds of input: arbitrary text or bytes (lone
surrogates, controls and all), and a valid value with one random edit (a
character changed, a run deleted, something inserted or repeated, the end cut
off). The parser must either refuse with its documented error or accept; where
what it reads is signed, an accepted edit must read back what was signed.
Valid values round-trip where the format's own tests do not already show it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import TypeVar, get_args

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from api import limits as api_limits
from api import pay_codes
from api.payment_requests import new_request_id
from api.qr import image, payment_url, version
from api.routes.payment_requests import RequestIdPath
from ledger import limits
from ledger.canonical import NotCanonical, decode_entry
from ledger.card import CardClaims, CardError, decode_card, encode_card
from ledger.checkpoint import (
    Checkpoint,
    CheckpointError,
    open_checkpoint,
    parse_checkpoint_body,
    sign_checkpoint,
)
from ledger.merkle import BatchNodes, Frontier, leaf_hash
from ledger.note import NoteError, NoteSigner, NoteVerifier, open_note
from ledger.receipt import Receipt, ReceiptError, parse_receipt, verify_receipt
from tests.support.qr_codes import decode_png
from tests.support.strategies import account_ids, any_text

ORIGIN = "buurtmunt.test/oost"
# Fixed keys, so that a failure reproduces from its seed.
SIGNER = NoteSigner(ORIGIN, Ed25519PrivateKey.from_private_bytes(bytes(range(32))))
VERIFIER = SIGNER.verifier()
CARD_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32, 64)))
CARD_PUBLIC_KEY = CARD_KEY.public_key().public_bytes_raw()
ENTRIES = [f"entry {n}".encode() for n in range(7)]
HASHES = st.binary(min_size=32, max_size=32)
# These tests are about answers, not speed: a pause of the shared machine is no failure.
NO_DEADLINE = settings(deadline=None)
T = TypeVar("T")

# -- what the parsers are fed


def texts() -> st.SearchStrategy[str]:
    """Any Python text a caller could hand over: Unicode, controls, and lone surrogates
    (bytes decoded with ``surrogateescape``, as a file read carelessly would give)."""
    return st.one_of(
        any_text(max_size=200),
        st.binary(max_size=200).map(lambda raw: raw.decode("utf-8", "surrogateescape")),
        st.text(max_size=200),
    )


@st.composite
def edited(draw: st.DrawFn, valid: str) -> str:
    """``valid`` with one edit: a character changed, a run deleted, text inserted,
    a run repeated, or the end cut off."""
    at = draw(st.integers(0, len(valid)))
    end = draw(st.integers(at, min(len(valid), at + 8)))
    edit = draw(st.sampled_from(["change", "delete", "insert", "repeat", "cut"]))
    if edit == "change" and at < len(valid):
        return valid[:at] + draw(st.characters(codec="utf-8")) + valid[at + 1 :]
    if edit == "delete":
        return valid[:at] + valid[end:]
    if edit == "insert":
        return (
            valid[:at]
            + draw(st.one_of(texts(), st.sampled_from(["\n", " ", "+", "="])))
            + valid[at:]
        )
    if edit == "repeat":
        return valid[:end] + valid[at:]
    return valid[:at]


def refused_or(
    parse: Callable[[], T], error: type[Exception] | tuple[type[Exception], ...]
) -> T | None:
    """``parse()``'s answer, or None when it raised ``error``; any other exception fails."""
    try:
        return parse()
    except error:
        return None


# -- signed notes and keys


NOTE = SIGNER.sign("buurtmunt.test/oost\n12\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n")


@NO_DEADLINE
@given(texts())
def test_any_text_as_a_signed_note_opens_or_is_refused_with_a_note_error(text: str) -> None:
    refused_or(lambda: open_note(text, [VERIFIER]), NoteError)


@NO_DEADLINE
@given(edited(NOTE))
def test_an_edited_note_is_refused_or_opens_to_the_text_that_was_signed(note: str) -> None:
    opened = refused_or(lambda: open_note(note, [VERIFIER]), NoteError)

    assert opened is None or opened.text == open_note(NOTE, [VERIFIER]).text


@NO_DEADLINE
@given(st.one_of(texts(), edited(VERIFIER.key_string())))
def test_any_text_as_a_verifier_key_parses_only_to_the_key_it_spells(text: str) -> None:
    verifier = refused_or(lambda: NoteVerifier.from_key_string(text), NoteError)

    assert verifier is None or verifier.key_string() == text


@NO_DEADLINE
@given(st.one_of(texts(), edited(SIGNER.key_string())))
def test_any_text_as_a_signer_key_parses_only_to_the_key_it_spells(text: str) -> None:
    signer = refused_or(lambda: NoteSigner.from_key_string(text), NoteError)

    assert signer is None or signer.key_string() == text


# -- checkpoints


origins = st.from_regex(r"[a-z0-9.-]{1,40}/[a-z][a-z0-9-]{1,39}", fullmatch=True)


@NO_DEADLINE
@given(origins, st.integers(0, limits.TREE_SIZE_MAX), HASHES)
def test_a_checkpoint_round_trips_through_its_signed_note(
    origin: str, size: int, root: bytes
) -> None:
    checkpoint = Checkpoint(origin, size, root)
    signer = NoteSigner(origin, Ed25519PrivateKey.from_private_bytes(bytes(range(32))))

    assert open_checkpoint(sign_checkpoint(checkpoint, signer), signer.verifier()) == checkpoint


@NO_DEADLINE
@given(texts())
def test_any_text_as_a_checkpoint_body_parses_or_is_refused_with_a_checkpoint_error(
    text: str,
) -> None:
    refused_or(lambda: parse_checkpoint_body(text), CheckpointError)


@NO_DEADLINE
@given(edited(sign_checkpoint(Checkpoint(ORIGIN, 7, bytes(range(32))), SIGNER)))
def test_an_edited_checkpoint_is_refused_or_opens_to_the_checkpoint_that_was_signed(
    note: str,
) -> None:
    opened = refused_or(
        lambda: open_checkpoint(note, VERIFIER, expected_origin=ORIGIN),
        (NoteError, CheckpointError),
    )

    assert opened is None or opened == Checkpoint(ORIGIN, 7, bytes(range(32)))


# -- receipts (inclusion proofs against a signed checkpoint)


def a_receipt(index: int) -> Receipt:
    tree = BatchNodes(Frontier.empty(), [leaf_hash(entry) for entry in ENTRIES])
    note = sign_checkpoint(Checkpoint(ORIGIN, tree.size, tree.root()), SIGNER)
    return Receipt(index, tuple(tree.inclusion_proof(index)), note)


RECEIPT = a_receipt(3).encode()


@NO_DEADLINE
@given(texts())
def test_any_text_as_a_receipt_parses_or_is_refused_with_a_receipt_error(text: str) -> None:
    refused_or(lambda: parse_receipt(text), ReceiptError)


@NO_DEADLINE
@given(edited(RECEIPT), st.sampled_from(range(len(ENTRIES))))
def test_an_edited_receipt_is_refused_or_still_proves_only_its_own_entry(
    text: str, entry: int
) -> None:
    def verified() -> Checkpoint:
        return verify_receipt(parse_receipt(text), ENTRIES[entry], VERIFIER, expected_origin=ORIGIN)

    checkpoint = refused_or(verified, (ReceiptError, NoteError, CheckpointError))

    assert checkpoint is None or entry == 3


@NO_DEADLINE
@given(st.integers(0, limits.TREE_SIZE_MAX - 1), st.lists(HASHES, max_size=limits.PROOF_HASHES_MAX))
def test_any_index_and_proof_round_trip_through_a_receipts_text(
    index: int, proof: list[bytes]
) -> None:
    receipt = Receipt(index, tuple(proof), a_receipt(0).checkpoint_note)

    assert parse_receipt(receipt.encode()) == receipt


# -- printed cards


claims = st.builds(
    CardClaims,
    community=st.from_regex(r"[a-z][a-z0-9-]{1,39}", fullmatch=True),
    member=account_ids,
    card_id=account_ids,
    issued_on=st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)),
)
CARD = encode_card(
    CardClaims("oost", "mbr_k3j5x7q2m4n6p8r1", "crd_a2b3c4d5e6f7g2h3", date(2026, 11, 28)), CARD_KEY
)


@NO_DEADLINE
@given(claims)
def test_any_card_round_trips_through_its_qr_payload(card: CardClaims) -> None:
    payload = encode_card(card, CARD_KEY)

    assert re.fullmatch(r"BMC1:[A-Z2-7]+", payload)
    assert decode_card(payload, CARD_PUBLIC_KEY) == card


@NO_DEADLINE
@given(
    st.one_of(
        texts(),
        edited(CARD),
        st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ234567=").map("BMC1:".__add__),
    )
)
def test_any_text_as_a_card_payload_is_refused_or_reads_the_signed_claims(payload: str) -> None:
    card = refused_or(lambda: decode_card(payload, CARD_PUBLIC_KEY), CardError)

    assert card is None or payload == CARD


# -- canonical entry bytes


@NO_DEADLINE
@given(st.binary(max_size=400))
def test_any_bytes_as_an_entry_decode_or_are_refused_as_not_canonical(data: bytes) -> None:
    refused_or(lambda: decode_entry(data), NotCanonical)


# -- pay codes

# Time steps of 30 s from well after the epoch (a step before it has no TOTP) to far ahead.
STEPS = st.integers(2 * api_limits.PAY_CODE_SKEW_STEPS, 2**40)


@NO_DEADLINE
@given(texts())
def test_any_text_as_a_pay_code_splits_only_when_it_is_twelve_ascii_digits(text: str) -> None:
    parts = pay_codes.split_code(text)

    assert (parts is not None) == (re.fullmatch(r"[0-9]{12}", text) is not None)
    assert parts is None or "".join(parts) == text


@NO_DEADLINE
@given(
    st.binary(min_size=20, max_size=20),
    st.from_regex(r"[0-9]{6}", fullmatch=True),
    STEPS,
    st.integers(-api_limits.PAY_CODE_SKEW_STEPS, api_limits.PAY_CODE_SKEW_STEPS),
)
def test_a_pay_code_splits_into_its_device_number_and_totp_which_matches_within_the_skew(
    secret: bytes, device_number: str, step: int, skew: int
) -> None:
    code = pay_codes.code_at(device_number, secret, step * api_limits.PAY_CODE_STEP_SECONDS)
    parts = pay_codes.split_code(code)

    assert parts == (device_number, pay_codes.totp(secret, step))
    assert pay_codes.matching_step(secret, parts[1], step + skew) == step


@NO_DEADLINE
@given(st.binary(min_size=20, max_size=20), texts(), STEPS)
def test_the_otp_of_any_split_text_is_checked_without_raising(
    secret: bytes, text: str, step: int
) -> None:
    parts = pay_codes.split_code(text)
    if parts is not None:
        assert pay_codes.matching_step(secret, parts[1], step) in {
            None,
            *range(
                step - api_limits.PAY_CODE_SKEW_STEPS, step + api_limits.PAY_CODE_SKEW_STEPS + 1
            ),
        }


# -- payment request ids in QR links


RID_PATTERN = re.compile(get_args(RequestIdPath)[1].pattern)  # what the route declares


rids = st.from_regex(RID_PATTERN, fullmatch=True)


def test_every_new_request_id_is_one_the_route_accepts() -> None:
    for _ in range(1000):
        assert RID_PATTERN.fullmatch(new_request_id())


@settings(max_examples=25, deadline=None)  # each fits a QR code: ~50 ms
@given(rids)
def test_a_payment_link_is_qr_alphanumeric_text_that_fits_a_version_4_code(request_id: str) -> None:
    url = payment_url("https://buurtmunt.example", request_id)

    assert url == f"HTTPS://BUURTMUNT.EXAMPLE/P/{request_id}"
    # QR alphanumeric mode: upper case, digits and " $%*+-./:" only.
    assert re.fullmatch(r"[0-9A-Z $%*+\-./:]+", url)
    assert version(url) <= 4


@NO_DEADLINE
@given(texts())
def test_the_route_takes_as_a_request_id_only_26_upper_case_base32_characters(text: str) -> None:
    accepted = RID_PATTERN.fullmatch(text) is not None

    assert accepted == (len(text) == 26 and set(text) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"))


@settings(max_examples=10, deadline=None)
@given(rids)
def test_a_payment_links_qr_code_reads_back_as_the_link(request_id: str) -> None:
    url = payment_url("https://buurtmunt.example", request_id)

    assert decode_png(image(url, "png")) == [url]
