"""C2SP signed notes: the reference vectors, round trips and every refusal."""

from __future__ import annotations

import base64
import hashlib

import pytest

from ledger import limits
from ledger.note import (
    NoteError,
    NoteSigner,
    NoteVerifier,
    SignedNote,
    base64_decode_canonical,
    generate_signer,
    key_id_for,
    open_note,
)

# Known-answer vectors copied verbatim from the reference implementation's tests,
# golang.org/x/mod/sumdb/note/note_test.go (TestNewVerifier, TestNewSigner,
# TestSign, TestOpen); the same note appears in the package documentation.
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_SIG = (
    "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqf"
    "qdngotpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_SIG = (
    "\u2014 EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTG"
    "wnWLox33WWd1RvMc+QQ=\n"
)
PETER_NOTE = TEXT + "\n" + PETER_SIG


def peter() -> NoteVerifier:
    return NoteVerifier.from_key_string(PETER_VKEY)


def enoch() -> NoteVerifier:
    return NoteVerifier.from_key_string(ENOCH_VKEY)


def reason_of(error: pytest.ExceptionInfo[NoteError]) -> str:
    return error.value.reason


# Known answers.


def test_signing_the_reference_text_with_the_reference_key_reproduces_the_reference_note() -> None:
    signer = NoteSigner.from_key_string(PETER_SKEY)

    note = signer.sign(TEXT)

    assert note == PETER_NOTE


def test_the_reference_verifier_key_has_the_reference_name_and_key_id() -> None:
    verifier = peter()

    assert (verifier.name, verifier.key_id) == ("PeterNeumann", 0xC74F20A3)
    assert verifier.key_string() == PETER_VKEY


def test_the_reference_signer_key_round_trips_and_matches_the_reference_verifier() -> None:
    signer = NoteSigner.from_key_string(PETER_SKEY)

    assert signer.key_string() == PETER_SKEY
    assert signer.verifier() == peter()
    assert signer.key_id == 0xC74F20A3


def test_the_reference_note_opens_with_the_reference_verifier() -> None:
    opened = open_note(PETER_NOTE, [peter()])

    assert opened.text == TEXT
    assert opened.verified_by == ("PeterNeumann",)
    assert [(s.name, s.key_id) for s in opened.signatures] == [("PeterNeumann", 0xC74F20A3)]


def test_a_note_signed_by_both_reference_keys_verifies_with_both() -> None:
    note = TEXT + "\n" + PETER_SIG + ENOCH_SIG

    opened = open_note(note, [peter(), enoch()])

    assert opened.verified_by == ("PeterNeumann", "EnochRoot")


# Unknown signers.


def test_a_signature_from_an_unknown_key_is_ignored_when_a_known_one_verifies() -> None:
    note = TEXT + "\n" + PETER_SIG + ENOCH_SIG

    opened = open_note(note, [peter()])

    assert opened.verified_by == ("PeterNeumann",)
    assert [s.name for s in opened.signatures] == ["PeterNeumann", "EnochRoot"]


def test_an_unknown_signature_sharing_only_the_name_of_a_known_key_is_ignored() -> None:
    impostor = generate_signer("PeterNeumann")
    impostor_line = impostor.sign(TEXT).split("\n\n")[-1]
    note = PETER_NOTE + impostor_line

    opened = open_note(note, [peter()])

    assert opened.verified_by == ("PeterNeumann",)
    assert len(opened.signatures) == 2


def test_an_unknown_signature_sharing_only_the_key_id_of_a_known_key_is_ignored() -> None:
    misnamed = PETER_SIG.replace("PeterNeumann", "CarmenSandiego")
    note = PETER_NOTE + misnamed

    opened = open_note(note, [peter()])

    assert opened.verified_by == ("PeterNeumann",)


def test_a_note_signed_only_by_unknown_keys_is_refused() -> None:
    note = TEXT + "\n" + PETER_SIG + ENOCH_SIG

    with pytest.raises(NoteError) as error:
        open_note(note, [])

    assert reason_of(error) == "unverified_note"


def test_a_note_opened_with_the_wrong_key_is_refused() -> None:
    with pytest.raises(NoteError) as error:
        open_note(PETER_NOTE, [enoch(), generate_signer("PeterNeumann").verifier()])

    assert reason_of(error) == "unverified_note"


def test_a_signature_line_with_a_changed_key_id_no_longer_counts_as_the_known_key() -> None:
    wrong_id = PETER_SIG.replace("x08g", "xxxx")

    with pytest.raises(NoteError) as error:
        open_note(TEXT + "\n" + wrong_id, [peter()])

    assert reason_of(error) == "unverified_note"


# Tampering.


def test_a_tampered_text_is_refused_as_an_invalid_signature() -> None:
    tampered = PETER_NOTE.replace("cryptography", "cryptographY")

    with pytest.raises(NoteError) as error:
        open_note(tampered, [peter()])

    assert reason_of(error) == "invalid_signature"


def test_a_tampered_signature_is_refused_as_an_invalid_signature() -> None:
    raw = bytearray(base64.b64decode(PETER_SIG.split(" ")[2]))
    raw[10] ^= 0x01
    tampered = f"\u2014 PeterNeumann {base64.b64encode(raw).decode()}\n"

    with pytest.raises(NoteError) as error:
        open_note(TEXT + "\n" + tampered, [peter()])

    assert reason_of(error) == "invalid_signature"


def test_a_lengthened_signature_from_a_known_key_is_refused() -> None:
    # From TestOpen: four base64 characters spliced into Peter's signature.
    lengthened = PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]

    with pytest.raises(NoteError) as error:
        open_note(TEXT + "\n" + lengthened, [peter()])

    assert reason_of(error) == "invalid_signature"


def test_a_bad_signature_from_a_known_key_fails_the_note_even_beside_a_good_one() -> None:
    lengthened = PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]

    with pytest.raises(NoteError) as error:
        open_note(PETER_NOTE + lengthened, [peter()])

    assert reason_of(error) == "invalid_signature"


def test_repeated_good_signatures_and_repeated_unknown_ones_are_accepted() -> None:
    # From TestOpen ("Duplicated verified and unverified signatures").
    enoch_abcd = ENOCH_SIG[:60] + "ABCD" + ENOCH_SIG[60:]
    note = TEXT + "\n" + PETER_SIG + PETER_SIG + ENOCH_SIG + ENOCH_SIG + enoch_abcd

    opened = open_note(note, [peter()])

    assert opened.verified_by == ("PeterNeumann",)
    assert len(opened.signatures) == 5


# Malformed notes.

MALFORMED_NOTES = {
    # The first seven are TestOpen's badMsgs.
    "text without signatures": TEXT,
    "text and blank line only": TEXT + "\n",
    "signature line without newline": TEXT + "\n" + PETER_SIG[:-1],
    "control character": "\x01" + TEXT + "\n" + PETER_SIG,
    "name with a space": TEXT + "\n" + PETER_SIG.replace("PeterNeumann", "Bad Name"),
    "trailing non-signature line": TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
    "carriage return": TEXT.replace("\n", "\r\n", 1) + "\n" + PETER_SIG,
    "lone surrogate": "\ud800" + TEXT + "\n" + PETER_SIG,
    "hyphen instead of em dash": TEXT + "\n" + PETER_SIG.replace("\u2014", "-"),
    "no space after name": TEXT + "\n" + "\u2014 PeterNeumann\n",
    "two spaces after name": TEXT + "\n" + PETER_SIG.replace("Neumann ", "Neumann  "),
    "name with a plus": TEXT + "\n" + PETER_SIG.replace("PeterNeumann", "Peter+Neumann"),
    "signature not base64": TEXT + "\n" + "\u2014 PeterNeumann !!!!\n",
    "signature without padding": TEXT + "\n" + PETER_SIG.replace("AM=\n", "AM\n"),
    "signature with non-zero pad bits": TEXT + "\n" + PETER_SIG.replace("AM=\n", "AN=\n"),
    "signature shorter than five bytes": TEXT + "\n" + "\u2014 PeterNeumann AAAAAA==\n",
    "empty text": "\n" + PETER_SIG,
}


@pytest.mark.parametrize("note", MALFORMED_NOTES.values(), ids=MALFORMED_NOTES.keys())
def test_a_malformed_note_is_refused_as_malformed(note: str) -> None:
    with pytest.raises(NoteError) as error:
        open_note(note, [peter()])

    assert reason_of(error) == "malformed_note"


def test_signature_lines_before_the_last_blank_line_are_part_of_the_text() -> None:
    # The spec splits text from signatures at the *last* blank line.
    witness = generate_signer("witness.example")
    note = witness.sign(TEXT + "\n" + PETER_SIG)

    opened = open_note(note, [peter(), witness.verifier()])

    assert opened.text == TEXT + "\n" + PETER_SIG
    assert opened.verified_by == ("witness.example",)


def test_a_note_with_the_maximum_number_of_signatures_opens() -> None:
    note = PETER_NOTE + ENOCH_SIG * (limits.NOTE_SIGNATURES_MAX - 1)

    opened = open_note(note, [peter()])

    assert len(opened.signatures) == limits.NOTE_SIGNATURES_MAX


def test_a_note_with_one_signature_too_many_is_refused() -> None:
    note = PETER_NOTE + ENOCH_SIG * limits.NOTE_SIGNATURES_MAX

    with pytest.raises(NoteError) as error:
        open_note(note, [peter()])

    assert reason_of(error) == "too_many_signatures"


def test_a_note_over_the_size_limit_is_refused() -> None:
    text = "x" * limits.NOTE_BYTES_MAX + "\n"

    with pytest.raises(NoteError) as error:
        open_note(text + "\n" + PETER_SIG, [peter()])

    assert reason_of(error) == "note_too_large"


def test_a_note_over_the_size_limit_only_in_utf8_bytes_is_refused() -> None:
    # Under the limit in characters, over it in bytes: the bound is on bytes.
    text = "\u00e9" * (limits.NOTE_BYTES_MAX // 2) + "\n"

    with pytest.raises(NoteError) as error:
        open_note(text + "\n" + PETER_SIG, [peter()])

    assert reason_of(error) == "note_too_large"


# Signing.


@pytest.mark.parametrize(
    "text",
    [
        "",
        "no final newline",
        "control \x07 character\n",
        "carriage return\r\n",
        "lone \ud800 surrogate\n",
    ],
)
def test_signing_a_text_the_spec_forbids_is_refused(text: str) -> None:
    signer = generate_signer("buurtmunt.example")

    with pytest.raises(NoteError) as error:
        signer.sign(text)

    assert reason_of(error) == "malformed_text"


def test_signing_a_text_that_would_exceed_the_note_size_limit_is_refused() -> None:
    signer = generate_signer("buurtmunt.example")

    with pytest.raises(NoteError) as error:
        signer.sign("x" * limits.NOTE_BYTES_MAX + "\n")

    assert reason_of(error) == "note_too_large"


@pytest.mark.parametrize(
    "text",
    [
        "one line\n",
        "a\n\nblank line inside\n",
        "ends in a blank line\n\n",
        "\n",
        "\u2014 looks like a signature\n",
        "unicode \u00e9\u4e16\u754c\n",
    ],
)
def test_a_signed_text_round_trips_through_open(text: str) -> None:
    signer = generate_signer("buurtmunt.example/demo")

    opened = open_note(signer.sign(text), [signer.verifier()])

    assert opened == SignedNote(
        text=text,
        signatures=opened.signatures,
        verified_by=("buurtmunt.example/demo",),
    )
    assert opened.signatures[0].key_id == signer.key_id


def test_a_generated_key_round_trips_through_its_key_strings() -> None:
    signer = generate_signer("buurtmunt.example")

    reloaded = NoteSigner.from_key_string(signer.key_string())
    verifier = NoteVerifier.from_key_string(signer.verifier().key_string())

    assert open_note(reloaded.sign("hello\n"), [verifier]).text == "hello\n"
    assert verifier == signer.verifier()


def test_verify_rejects_a_corrupted_message_or_signature() -> None:
    # TestGenerateKey's self-consistency check, on raw messages.
    signer = generate_signer("EnochRoot")
    verifier = signer.verifier()
    sig = signer.private_key.sign(b"hi")

    assert verifier.verify(b"hi", sig)
    assert not verifier.verify(b"hj", sig)
    assert not verifier.verify(b"hi", bytes([sig[0] ^ 1]) + sig[1:])
    assert not verifier.verify(b"hi", sig[:-1])


def test_a_signer_never_shows_its_private_key_in_its_repr() -> None:
    signer = NoteSigner.from_key_string(PETER_SKEY)

    assert "AYEKFALV" not in repr(signer)
    assert "private_key" not in repr(signer)


# Key strings.


def test_every_substring_or_single_byte_change_of_the_reference_verifier_key_is_refused() -> None:
    # TestNewVerifier's manglings.
    manglings = [
        PETER_VKEY[i:j]
        for i in range(len(PETER_VKEY) + 1)
        for j in range(i + 1, len(PETER_VKEY) + 1)
        if (i, j) != (0, len(PETER_VKEY))
    ]
    manglings += [
        PETER_VKEY[:i] + chr(ord(PETER_VKEY[i]) + 1) + PETER_VKEY[i + 1 :]
        for i in range(len(PETER_VKEY))
    ]

    accepted = [key for key in manglings if _parses_as_verifier(key)]

    assert accepted == []


def test_every_substring_or_single_byte_change_of_the_reference_signer_key_is_refused() -> None:
    # TestNewSigner's manglings.
    manglings = [
        PETER_SKEY[i:j]
        for i in range(len(PETER_SKEY) + 1)
        for j in range(i + 1, len(PETER_SKEY) + 1)
        if (i, j) != (0, len(PETER_SKEY))
    ]
    manglings += [
        PETER_SKEY[:i] + chr(ord(PETER_SKEY[i]) + 1) + PETER_SKEY[i + 1 :]
        for i in range(len(PETER_SKEY))
    ]

    accepted = [key for key in manglings if _parses_as_signer(key)]

    assert accepted == []


def _parses_as_verifier(key: str) -> bool:
    try:
        NoteVerifier.from_key_string(key)
    except NoteError:
        return False
    return True


def _parses_as_signer(key: str) -> bool:
    try:
        NoteSigner.from_key_string(key)
    except NoteError:
        return False
    return True


def _verifier_key(name: str, key_bytes: bytes) -> str:
    # A key string with a correct key id for whatever bytes it carries.
    digest = hashlib.sha256(name.encode() + b"\n" + key_bytes).digest()
    key_id = int.from_bytes(digest[:4], "big")
    return f"{name}+{key_id:08x}+{base64.b64encode(key_bytes).decode()}"


def test_a_verifier_key_with_an_unknown_algorithm_is_refused() -> None:
    # TestNewVerifier: "unknown algorithm, with adjusted key hash".
    key = "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"

    with pytest.raises(NoteError) as error:
        NoteVerifier.from_key_string(key)

    assert reason_of(error) == "unknown_key_algorithm"


def test_a_verifier_key_of_the_wrong_length_is_refused_even_with_a_matching_key_id() -> None:
    key = _verifier_key("PeterNeumann", b"\x01" + bytes(31))

    with pytest.raises(NoteError) as error:
        NoteVerifier.from_key_string(key)

    assert reason_of(error) == "malformed_key"


def test_a_verifier_key_whose_key_id_does_not_match_is_refused() -> None:
    key = PETER_VKEY.replace("c74f20a3", "c74f20a4")

    with pytest.raises(NoteError) as error:
        NoteVerifier.from_key_string(key)

    assert reason_of(error) == "key_id_mismatch"


def test_a_signer_key_whose_key_id_does_not_match_is_refused() -> None:
    key = PETER_SKEY.replace("c74f20a3", "c74f20a4")

    with pytest.raises(NoteError) as error:
        NoteSigner.from_key_string(key)

    assert reason_of(error) == "key_id_mismatch"


def test_a_verifier_key_with_an_uppercase_key_id_is_refused() -> None:
    key = PETER_VKEY.replace("c74f20a3", "C74F20A3")

    with pytest.raises(NoteError) as error:
        NoteVerifier.from_key_string(key)

    assert reason_of(error) == "malformed_key"


def test_a_signer_key_string_is_not_accepted_as_a_verifier_key() -> None:
    with pytest.raises(NoteError):
        NoteVerifier.from_key_string(PETER_SKEY)


def test_the_key_id_follows_the_spec_formula() -> None:
    public_key = base64.b64decode(PETER_VKEY.split("+", 2)[2])[1:]

    assert key_id_for("PeterNeumann", public_key) == 0xC74F20A3


@pytest.mark.parametrize(
    "name",
    [
        "",
        "a b",
        "a+b",
        "tab\tname",
        "nbsp\u00a0name",
        "ideographic\u3000space",
        "line\u2028separator",
        "control\x01",
        "x" * (limits.KEY_NAME_LENGTH_MAX + 1),
    ],
)
def test_a_key_name_the_spec_forbids_is_refused(name: str) -> None:
    with pytest.raises(NoteError) as error:
        generate_signer(name)

    assert reason_of(error) == "invalid_key_name"


def test_a_key_name_of_the_maximum_length_is_accepted() -> None:
    signer = generate_signer("x" * limits.KEY_NAME_LENGTH_MAX)

    assert NoteVerifier.from_key_string(signer.verifier().key_string()) == signer.verifier()


def test_a_verifier_key_with_an_invalid_name_is_refused() -> None:
    key = PETER_VKEY.replace("PeterNeumann", "Peter Neumann")

    with pytest.raises(NoteError) as error:
        NoteVerifier.from_key_string(key)

    assert reason_of(error) == "invalid_key_name"


# Verifier lists.


def test_the_same_verifier_listed_twice_is_harmless() -> None:
    opened = open_note(PETER_NOTE, [enoch(), peter(), enoch(), peter()])

    assert opened.verified_by == ("PeterNeumann",)


class _CollidingVerifier(NoteVerifier):
    """A verifier forced onto a fixed key id, to stage a name and id collision."""

    @property
    def key_id(self) -> int:
        return 0xC74F20A3


def test_two_different_keys_with_the_same_name_and_key_id_are_refused() -> None:
    colliding = _CollidingVerifier("PeterNeumann", bytes(32))

    with pytest.raises(NoteError) as error:
        open_note(PETER_NOTE, [peter(), colliding])

    assert reason_of(error) == "ambiguous_verifiers"


# Base64.


@pytest.mark.parametrize("text", ["AA", "AA=", "AB==", "AA==\n", " AA==", "A A=", "AA=="[:3]])
def test_non_canonical_base64_is_refused(text: str) -> None:
    assert base64_decode_canonical(text) is None


def test_canonical_base64_decodes() -> None:
    assert base64_decode_canonical("AA==") == b"\x00"
    assert base64_decode_canonical("") == b""


def test_a_note_error_is_a_value_error_with_its_reason_in_the_message() -> None:
    with pytest.raises(ValueError, match=r"^unverified_note"):
        open_note(PETER_NOTE, [])
