"""Cosignatures (c2sp.org/tlog-cosignature) and add-checkpoint bodies (c2sp.org/tlog-witness)."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.cosignature import (
    AddCheckpoint,
    CosignatureError,
    CosignatureVerifier,
    Cosigner,
    cosigned_message,
    generate_cosigner,
    parse_add_checkpoint,
    parse_cosignature_line,
)
from ledger.note import NoteError, generate_signer

# The checkpoint of the spec's example (c2sp.org/tlog-cosignature).
SPEC_TEXT = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
SEED = bytes(range(32))
# Made by: Cosigner("witness.example/w1", Ed25519PrivateKey.from_private_bytes(bytes(range(32))))
#          .cosign(SPEC_TEXT, 1679315147).line()
VECTOR_LINE = (
    "— witness.example/w1 "
    "519lMgAAAABkGFDLBuRDazBLVac2NE+Y+IjbjQOcXLfF9CSDZVUIoS83rE1nFZsVE8YiWV6Ngr7lV8H6bdoBQGP/l73euDMQ9k+bBQ==\n"
)


def a_cosigner() -> Cosigner:
    return Cosigner("witness.example/w1", Ed25519PrivateKey.from_private_bytes(SEED))


def test_the_signed_message_is_the_header_the_time_line_and_the_note_text() -> None:
    assert cosigned_message(SPEC_TEXT, 1679315147) == (
        b"cosignature/v1\ntime 1679315147\n" + SPEC_TEXT.encode()
    )


def test_the_key_id_hashes_the_name_a_newline_the_type_byte_4_and_the_key() -> None:
    verifier = a_cosigner().verifier()
    expected = hashlib.sha256(b"witness.example/w1\n\x04" + verifier.public_key).digest()[:4]
    assert verifier.key_id == int.from_bytes(expected, "big")


def test_a_cosignature_line_carries_key_id_then_eight_byte_timestamp_then_signature() -> None:
    cosignature = a_cosigner().cosign(SPEC_TEXT, 1679315147)
    line = cosignature.line()
    name, encoded = line[2:-1].split(" ")
    raw = base64.b64decode(encoded)
    assert name == "witness.example/w1"
    assert len(raw) == 4 + 8 + 64
    assert int.from_bytes(raw[4:12], "big") == 1679315147
    assert parse_cosignature_line(line[:-1]) == cosignature


def test_the_pinned_vector_is_reproduced() -> None:
    assert a_cosigner().cosign(SPEC_TEXT, 1679315147).line() == VECTOR_LINE


def test_a_cosignature_verifies_on_its_note_and_on_no_other() -> None:
    log = generate_signer("example.com")
    note = log.sign(SPEC_TEXT)
    cosigner = a_cosigner()
    cosigned = note + cosigner.cosign(SPEC_TEXT, 1679315147).line()
    verifier = cosigner.verifier()
    assert verifier.cosignature_on(cosigned).timestamp == 1679315147
    other_text = SPEC_TEXT.replace("20852163", "20852164")
    moved = log.sign(other_text) + cosigner.cosign(SPEC_TEXT, 1679315147).line()
    with pytest.raises(CosignatureError, match="no_cosignature"):
        verifier.cosignature_on(moved)
    with pytest.raises(CosignatureError, match="no_cosignature"):
        generate_cosigner("witness.example/w1").verifier().cosignature_on(cosigned)


def test_the_log_signature_is_not_taken_for_a_cosignature() -> None:
    note = generate_signer("example.com").sign(SPEC_TEXT)
    line = note.rstrip("\n").rsplit("\n", 1)[1]
    assert parse_cosignature_line(line) is None


def test_a_timestamp_of_zero_is_refused() -> None:
    with pytest.raises(CosignatureError, match="invalid_timestamp"):
        a_cosigner().cosign(SPEC_TEXT, 0)


def test_keys_round_trip_and_a_log_key_is_not_a_witness_key() -> None:
    cosigner = a_cosigner()
    assert Cosigner.from_key_string(cosigner.key_string()).verifier() == cosigner.verifier()
    vkey = cosigner.verifier().key_string()
    assert CosignatureVerifier.from_key_string(vkey) == cosigner.verifier()
    with pytest.raises(NoteError, match="unknown_key_algorithm"):
        CosignatureVerifier.from_key_string(generate_signer("example.com").verifier().key_string())


def test_an_add_checkpoint_body_round_trips() -> None:
    note = generate_signer("example.com").sign(SPEC_TEXT)
    request = AddCheckpoint(20852014, (b"\x01" * 32, b"\x02" * 32), note)
    text = request.encode()
    assert text.startswith("old 20852014\nAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\n")
    assert parse_add_checkpoint(text) == request


@pytest.mark.parametrize(
    "body",
    [
        "old 01\n\nx\n",
        "old -1\n\nx\n",
        "new 1\n\nx\n",
        "old 1\nnot base64\n\nx\n",
        "old 1\nAQID\n\nx\n",
        "old 1\n",
        "old 1\n" + "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\n" * 64 + "\nx\n",
    ],
)
def test_a_malformed_add_checkpoint_body_is_refused(body: str) -> None:
    with pytest.raises(CosignatureError):
        parse_add_checkpoint(body)


def test_the_timestamp_is_read_as_transparency_dev_formats_reads_it() -> None:
    # Signatures from transparency-dev/formats note/note_cosigv1_test.go (TestCoSigV1Timestamp).
    cosigned = (
        "ZGhGuQAAAABm/qTPeyKXD+R2rzyQsxPiP8mXum7qq/iF0u4v"
        "anlqJyocWODBt97w9uL+8qT7S5gxEHWWOworDcFiEBYJXORmnFBOBA=="
    )
    plain = (
        "eQjRQm6eSKzFoiYalgwCPXu2y3ijtg68is9M46JKxuZB+dRf"
        "TmeQeDBoXnvxZx2ugnkyV+MUMLXpWs1hPb/W/4xkNQY="
    )
    parsed = parse_cosignature_line(f"— w {cosigned}")
    assert parsed is not None and parsed.timestamp == 1727964367
    assert parse_cosignature_line(f"— w {plain}") is None
