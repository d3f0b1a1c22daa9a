"""C2SP tlog-proof receipts: exact text, strict parsing and verification."""

from __future__ import annotations

import base64

import pytest

from ledger import limits
from ledger.checkpoint import Checkpoint, CheckpointError, sign_checkpoint
from ledger.merkle import BatchNodes, Frontier, leaf_hash
from ledger.note import NoteError, NoteSigner, generate_signer
from ledger.receipt import Receipt, ReceiptError, parse_receipt, verify_receipt

ORIGIN = "buurtmunt.example/demo"
ENTRIES = [f"entry {n}".encode() for n in range(7)]
HASH = bytes(range(32))
HASH_B64 = base64.b64encode(HASH).decode()


def a_log() -> tuple[NoteSigner, BatchNodes]:
    tree = BatchNodes(Frontier.empty(), [leaf_hash(entry) for entry in ENTRIES])
    return generate_signer(ORIGIN), tree


def a_receipt(index: int = 3, extra: bytes | None = None) -> tuple[Receipt, NoteSigner]:
    signer, tree = a_log()
    note = sign_checkpoint(Checkpoint(ORIGIN, tree.size, tree.root()), signer)
    proof = tuple(tree.inclusion_proof(index))
    return Receipt(index=index, proof=proof, checkpoint_note=note, extra=extra), signer


def reason_of(error: pytest.ExceptionInfo[ReceiptError]) -> str:
    return error.value.reason


# Text form.


def test_a_receipt_encodes_as_header_index_hashes_blank_line_and_checkpoint() -> None:
    receipt, _ = a_receipt(index=3)

    text = receipt.encode()

    hashes = [base64.b64encode(h).decode() for h in receipt.proof]
    expected = "\n".join(["c2sp.org/tlog-proof@v1", "index 3", *hashes]) + "\n\n"
    assert text == expected + receipt.checkpoint_note


def test_extra_data_goes_on_the_second_line() -> None:
    receipt, _ = a_receipt(index=3, extra=b"context")

    lines = receipt.encode().split("\n")

    assert lines[:3] == ["c2sp.org/tlog-proof@v1", "extra Y29udGV4dA==", "index 3"]


@pytest.mark.parametrize("extra", [None, b"context", b"\x00" * limits.RECEIPT_EXTRA_BYTES_MAX])
@pytest.mark.parametrize("index", range(len(ENTRIES)))
def test_a_receipt_round_trips_through_its_text(index: int, extra: bytes | None) -> None:
    receipt, _ = a_receipt(index=index, extra=extra)

    assert parse_receipt(receipt.encode()) == receipt


def test_a_receipt_without_proof_hashes_round_trips() -> None:
    # A one-leaf tree: the leaf hash is the root, and the proof is empty.
    signer = generate_signer(ORIGIN)
    note = sign_checkpoint(Checkpoint(ORIGIN, 1, leaf_hash(b"only")), signer)
    receipt = Receipt(index=0, proof=(), checkpoint_note=note)

    parsed = parse_receipt(receipt.encode())

    assert parsed == receipt
    assert verify_receipt(parsed, b"only", signer.verifier()).size == 1


# Verification.


@pytest.mark.parametrize("index", range(len(ENTRIES)))
def test_a_receipt_verifies_for_its_entry(index: int) -> None:
    receipt, signer = a_receipt(index=index)

    checkpoint = verify_receipt(receipt, ENTRIES[index], signer.verifier(), expected_origin=ORIGIN)

    assert (checkpoint.origin, checkpoint.size) == (ORIGIN, len(ENTRIES))


def test_a_receipt_does_not_verify_for_another_entry() -> None:
    receipt, signer = a_receipt(index=3)

    with pytest.raises(ReceiptError) as error:
        verify_receipt(receipt, ENTRIES[4], signer.verifier())

    assert reason_of(error) == "inclusion_proof_failed"


def test_a_receipt_with_a_tampered_proof_hash_does_not_verify() -> None:
    receipt, signer = a_receipt(index=3)
    first = bytes([receipt.proof[0][0] ^ 1]) + receipt.proof[0][1:]
    tampered = Receipt(3, (first, *receipt.proof[1:]), receipt.checkpoint_note)

    with pytest.raises(ReceiptError) as error:
        verify_receipt(tampered, ENTRIES[3], signer.verifier())

    assert reason_of(error) == "inclusion_proof_failed"


def test_a_receipt_with_a_changed_index_does_not_verify() -> None:
    receipt, signer = a_receipt(index=3)
    moved = Receipt(2, receipt.proof, receipt.checkpoint_note)

    with pytest.raises(ReceiptError) as error:
        verify_receipt(moved, ENTRIES[3], signer.verifier())

    assert reason_of(error) == "inclusion_proof_failed"


def test_a_receipt_with_a_dropped_proof_hash_does_not_verify() -> None:
    receipt, signer = a_receipt(index=3)
    short = Receipt(3, receipt.proof[:-1], receipt.checkpoint_note)

    with pytest.raises(ReceiptError) as error:
        verify_receipt(short, ENTRIES[3], signer.verifier())

    assert reason_of(error) == "inclusion_proof_failed"


def test_a_receipt_whose_index_is_beyond_the_tree_is_refused() -> None:
    receipt, signer = a_receipt(index=3)
    beyond = Receipt(len(ENTRIES), receipt.proof, receipt.checkpoint_note)

    with pytest.raises(ReceiptError) as error:
        verify_receipt(beyond, ENTRIES[3], signer.verifier())

    assert reason_of(error) == "index_out_of_range"


def test_a_receipt_with_a_tampered_checkpoint_is_refused() -> None:
    receipt, signer = a_receipt(index=3)
    note = receipt.checkpoint_note.replace(f"\n{len(ENTRIES)}\n", f"\n{len(ENTRIES) + 1}\n", 1)
    tampered = Receipt(3, receipt.proof, note)

    with pytest.raises(NoteError) as error:
        verify_receipt(tampered, ENTRIES[3], signer.verifier())

    assert error.value.reason == "invalid_signature"


def test_a_receipt_checked_with_the_wrong_log_key_is_refused() -> None:
    receipt, _ = a_receipt(index=3)

    with pytest.raises(NoteError) as error:
        verify_receipt(receipt, ENTRIES[3], generate_signer(ORIGIN).verifier())

    assert error.value.reason == "unverified_note"


def test_a_receipt_from_another_log_is_refused_when_an_origin_is_expected() -> None:
    receipt, signer = a_receipt(index=3)

    with pytest.raises(CheckpointError) as error:
        verify_receipt(receipt, ENTRIES[3], signer.verifier(), expected_origin="other/log")

    assert error.value.reason == "origin_mismatch"


def test_a_receipt_with_one_character_of_a_hash_line_changed_does_not_verify() -> None:
    receipt, signer = a_receipt(index=3)
    text = receipt.encode()
    line = base64.b64encode(receipt.proof[1]).decode()
    changed = ("B" if line[0] == "A" else "A") + line[1:]

    tampered = parse_receipt(text.replace(line, changed, 1))

    with pytest.raises(ReceiptError) as error:
        verify_receipt(tampered, ENTRIES[3], signer.verifier())
    assert reason_of(error) == "inclusion_proof_failed"


# Malformed text.

NOTE = "o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n\u2014 o AAAAAAAAAA==\n"
HEADER = "c2sp.org/tlog-proof@v1"

MALFORMED_RECEIPTS = {
    "wrong header": (f"c2sp.org/tlog-proof@v2\nindex 0\n\n{NOTE}", "malformed_receipt"),
    "no header": (f"index 0\n\n{NOTE}", "malformed_receipt"),
    "missing index": (f"{HEADER}\n{HASH_B64}\n\n{NOTE}", "malformed_receipt"),
    "no blank line": (f"{HEADER}\nindex 0\n", "malformed_receipt"),
    "blank line after header": (f"{HEADER}\n\nindex 0\n\n{NOTE}", "malformed_receipt"),
    "index before extra": (f"{HEADER}\nindex 0\nextra AA==\n\n{NOTE}", "invalid_proof_hash"),
    "index without space": (f"{HEADER}\nindex0\n\n{NOTE}", "malformed_receipt"),
    "index with leading zero": (f"{HEADER}\nindex 01\n\n{NOTE}", "invalid_index"),
    "negative index": (f"{HEADER}\nindex -1\n\n{NOTE}", "invalid_index"),
    "empty index": (f"{HEADER}\nindex \n\n{NOTE}", "invalid_index"),
    "index at the tree size maximum": (
        f"{HEADER}\nindex {limits.TREE_SIZE_MAX}\n\n{NOTE}",
        "invalid_index",
    ),
    "empty extra": (f"{HEADER}\nextra \nindex 0\n\n{NOTE}", "invalid_extra"),
    "extra not canonical": (f"{HEADER}\nextra AB==\nindex 0\n\n{NOTE}", "invalid_extra"),
    "extra too long": (
        f"{HEADER}\nextra "
        + base64.b64encode(bytes(limits.RECEIPT_EXTRA_BYTES_MAX + 1)).decode()
        + f"\nindex 0\n\n{NOTE}",
        "invalid_extra",
    ),
    "hash of 31 bytes": (
        f"{HEADER}\nindex 0\n{base64.b64encode(bytes(31)).decode()}\n\n{NOTE}",
        "invalid_proof_hash",
    ),
    "hash not base64": (f"{HEADER}\nindex 0\n{'!' * 44}\n\n{NOTE}", "invalid_proof_hash"),
    "hash with trailing space": (f"{HEADER}\nindex 0\n{HASH_B64} \n\n{NOTE}", "invalid_proof_hash"),
    "too many hashes": (
        f"{HEADER}\nindex 0\n" + f"{HASH_B64}\n" * (limits.PROOF_HASHES_MAX + 1) + f"\n{NOTE}",
        "too_many_proof_hashes",
    ),
    "checkpoint without final newline": (f"{HEADER}\nindex 0\n\n{NOTE[:-1]}", "malformed_receipt"),
    "empty checkpoint": (f"{HEADER}\nindex 0\n\n", "malformed_receipt"),
    "far too long": (f"{HEADER}\nindex 0\n\n" + "x" * 100_000 + "\n", "receipt_too_large"),
}


@pytest.mark.parametrize(
    ("text", "reason"), MALFORMED_RECEIPTS.values(), ids=MALFORMED_RECEIPTS.keys()
)
def test_a_malformed_receipt_is_refused_with_its_reason(text: str, reason: str) -> None:
    with pytest.raises(ReceiptError) as error:
        parse_receipt(text)

    assert reason_of(error) == reason


def test_a_receipt_with_the_maximum_number_of_hashes_parses() -> None:
    text = f"{HEADER}\nindex 0\n" + f"{HASH_B64}\n" * limits.PROOF_HASHES_MAX + f"\n{NOTE}"

    assert len(parse_receipt(text).proof) == limits.PROOF_HASHES_MAX


@pytest.mark.parametrize(
    ("index", "proof", "note", "extra", "reason"),
    [
        (-1, (), NOTE, None, "invalid_index"),
        (limits.TREE_SIZE_MAX, (), NOTE, None, "invalid_index"),
        (0, (HASH[:31],), NOTE, None, "invalid_proof_hash"),
        (0, (HASH,) * (limits.PROOF_HASHES_MAX + 1), NOTE, None, "too_many_proof_hashes"),
        (0, (), "", None, "malformed_receipt"),
        (0, (), NOTE, b"", "invalid_extra"),
        (0, (), NOTE, bytes(limits.RECEIPT_EXTRA_BYTES_MAX + 1), "invalid_extra"),
    ],
)
def test_a_receipt_cannot_be_built_from_invalid_fields(
    index: int, proof: tuple[bytes, ...], note: str, extra: bytes | None, reason: str
) -> None:
    with pytest.raises(ReceiptError) as error:
        Receipt(index=index, proof=proof, checkpoint_note=note, extra=extra)

    assert reason_of(error) == reason


def test_a_receipt_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"^malformed_receipt"):
        parse_receipt("not a receipt")
