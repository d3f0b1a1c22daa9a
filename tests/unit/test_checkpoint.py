"""C2SP checkpoints: exact body, strict parsing, signing and opening."""

from __future__ import annotations

import base64

import pytest

from ledger import limits
from ledger.checkpoint import (
    Checkpoint,
    CheckpointError,
    log_verifiers,
    open_checkpoint,
    origin_for,
    parse_checkpoint_body,
    parse_decimal,
    sign_checkpoint,
)
from ledger.note import NoteError, NoteSigner, generate_signer

ROOT = bytes(range(32))
ROOT_B64 = base64.b64encode(ROOT).decode()

# The example body from c2sp.org/tlog-checkpoint (C2SP/C2SP tlog-checkpoint.md).
SPEC_BODY = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"


def a_checkpoint(size: int = 7, origin: str = "buurtmunt.example/demo") -> Checkpoint:
    return Checkpoint(origin=origin, size=size, root=ROOT)


def a_log_signer() -> NoteSigner:
    return generate_signer("buurtmunt.example/demo")


# Body.


def test_the_body_is_origin_size_and_base64_root_each_on_its_own_line() -> None:
    checkpoint = a_checkpoint(size=20852163)

    body = checkpoint.body()

    assert body == f"buurtmunt.example/demo\n20852163\n{ROOT_B64}\n"


def test_the_spec_example_body_parses() -> None:
    checkpoint = parse_checkpoint_body(SPEC_BODY)

    assert checkpoint.origin == "example.com/behind-the-sofa"
    assert checkpoint.size == 20852163
    assert checkpoint.body() == SPEC_BODY


@pytest.mark.parametrize("size", [0, 1, 7, limits.TREE_SIZE_MAX])
def test_a_body_round_trips_through_parse(size: int) -> None:
    checkpoint = a_checkpoint(size=size)

    assert parse_checkpoint_body(checkpoint.body()) == checkpoint


def test_extension_lines_are_accepted_and_ignored() -> None:
    body = a_checkpoint().body() + "extension one\n\u2014 extension two\n"

    assert parse_checkpoint_body(body) == a_checkpoint()


MALFORMED_BODIES = {
    "no final newline": (f"o\n1\n{ROOT_B64}", "malformed_checkpoint"),
    "two lines": ("o\n1\n", "malformed_checkpoint"),
    "empty origin": (f"\n1\n{ROOT_B64}\n", "malformed_checkpoint"),
    "empty extension line": (f"o\n1\n{ROOT_B64}\n\nextension\n", "malformed_checkpoint"),
    "trailing blank line": (f"o\n1\n{ROOT_B64}\n\n", "malformed_checkpoint"),
    "origin with control character": (f"o\x01\n1\n{ROOT_B64}\n", "invalid_origin"),
    "leading zero": (f"o\n01\n{ROOT_B64}\n", "invalid_tree_size"),
    "negative size": (f"o\n-1\n{ROOT_B64}\n", "invalid_tree_size"),
    "plus sign": (f"o\n+1\n{ROOT_B64}\n", "invalid_tree_size"),
    "space before size": (f"o\n 1\n{ROOT_B64}\n", "invalid_tree_size"),
    "underscore in size": (f"o\n1_000\n{ROOT_B64}\n", "invalid_tree_size"),
    "non-ASCII digit": (f"o\n\u0661\n{ROOT_B64}\n", "invalid_tree_size"),
    "hex size": (f"o\n0x10\n{ROOT_B64}\n", "invalid_tree_size"),
    "size over the maximum": (f"o\n{limits.TREE_SIZE_MAX + 1}\n{ROOT_B64}\n", "invalid_tree_size"),
    "root of 31 bytes": (f"o\n1\n{base64.b64encode(bytes(31)).decode()}\n", "invalid_root_hash"),
    "root of 33 bytes": (f"o\n1\n{base64.b64encode(bytes(33)).decode()}\n", "invalid_root_hash"),
    "root without padding": (f"o\n1\n{ROOT_B64.rstrip('=')}\n", "invalid_root_hash"),
    "root not base64": ("o\n1\n" + "!" * 44 + "\n", "invalid_root_hash"),
    "root as hex": (f"o\n1\n{ROOT.hex()}\n", "invalid_root_hash"),
}


@pytest.mark.parametrize(("body", "reason"), MALFORMED_BODIES.values(), ids=MALFORMED_BODIES.keys())
def test_a_malformed_body_is_refused_with_its_reason(body: str, reason: str) -> None:
    with pytest.raises(CheckpointError) as error:
        parse_checkpoint_body(body)

    assert error.value.reason == reason


def test_a_body_over_the_note_size_limit_is_refused() -> None:
    body = a_checkpoint().body() + ("x" * 80 + "\n") * (limits.NOTE_BYTES_MAX // 80)

    with pytest.raises(CheckpointError) as error:
        parse_checkpoint_body(body)

    assert error.value.reason == "malformed_checkpoint"


@pytest.mark.parametrize(
    ("origin", "size", "root", "reason"),
    [
        ("", 1, ROOT, "invalid_origin"),
        ("a\nb", 1, ROOT, "invalid_origin"),
        ("o", -1, ROOT, "invalid_tree_size"),
        ("o", limits.TREE_SIZE_MAX + 1, ROOT, "invalid_tree_size"),
        ("o", True, ROOT, "invalid_tree_size"),
        ("o", 1, ROOT[:31], "invalid_root_hash"),
    ],
)
def test_a_checkpoint_cannot_be_built_from_invalid_fields(
    origin: str, size: int, root: bytes, reason: str
) -> None:
    with pytest.raises(CheckpointError) as error:
        Checkpoint(origin=origin, size=size, root=root)

    assert error.value.reason == reason


def test_parse_decimal_accepts_only_canonical_decimals_up_to_the_maximum() -> None:
    assert parse_decimal("0", 10) == 0
    assert parse_decimal("10", 10) == 10
    assert parse_decimal("11", 10) is None
    assert parse_decimal("00", 10) is None
    assert parse_decimal("", 10) is None


# Origins.


def test_the_origin_of_a_community_is_host_slash_slug() -> None:
    assert origin_for("buurtmunt.example", "demo") == "buurtmunt.example/demo"


@pytest.mark.parametrize(
    ("host", "community"),
    [
        ("", "demo"),
        ("buurtmunt.example", ""),
        ("buurtmunt.example/x", "demo"),
        ("buurtmunt.example", "de/mo"),
        ("buurt munt.example", "demo"),
        ("buurtmunt.example", "de+mo"),
        ("buurtmunt.example", "x" * (limits.COMMUNITY_SLUG_LENGTH_MAX + 1)),
    ],
)
def test_an_origin_that_could_not_be_a_key_name_is_refused(host: str, community: str) -> None:
    with pytest.raises(CheckpointError) as error:
        origin_for(host, community)

    assert error.value.reason == "invalid_origin"


# Signing and opening.


def test_a_signed_checkpoint_is_a_note_whose_text_is_the_body() -> None:
    signer = a_log_signer()

    note = sign_checkpoint(a_checkpoint(), signer)

    assert note.startswith(a_checkpoint().body() + "\n\u2014 buurtmunt.example/demo ")


def test_a_signed_checkpoint_opens_to_the_same_checkpoint() -> None:
    signer = a_log_signer()
    note = sign_checkpoint(a_checkpoint(), signer)

    opened = open_checkpoint(note, signer.verifier(), expected_origin="buurtmunt.example/demo")

    assert opened == a_checkpoint()


def test_a_witness_cosignature_from_an_unknown_key_is_ignored() -> None:
    log, witness = a_log_signer(), generate_signer("witness.example")
    note = sign_checkpoint(a_checkpoint(), log)
    cosignature = sign_checkpoint(a_checkpoint(), witness).split("\n\n")[-1]

    opened = open_checkpoint(note + cosignature, log.verifier())

    assert opened == a_checkpoint()


def test_a_checkpoint_opens_with_any_of_the_logs_keys_after_a_rotation() -> None:
    retired, current = generate_signer(HOST_NAME), generate_signer(HOST_NAME)
    old_note = sign_checkpoint(a_checkpoint(origin=ORIGIN), retired.named(ORIGIN))
    new_note = sign_checkpoint(a_checkpoint(origin=ORIGIN), current.named(ORIGIN))
    keys = (current.verifier().named(ORIGIN), retired.verifier())

    assert open_checkpoint(old_note, keys) == open_checkpoint(new_note, keys)
    assert log_verifiers(keys, ORIGIN)[0] == current.verifier().named(ORIGIN)
    with pytest.raises(NoteError):
        open_checkpoint(old_note, current.verifier())


def test_a_checkpoint_opened_with_the_wrong_key_is_refused() -> None:
    note = sign_checkpoint(a_checkpoint(), a_log_signer())

    with pytest.raises(NoteError) as error:
        open_checkpoint(note, a_log_signer().verifier())

    assert error.value.reason == "unverified_note"


def test_a_checkpoint_with_a_tampered_size_is_refused() -> None:
    signer = a_log_signer()
    note = sign_checkpoint(a_checkpoint(size=7), signer)

    with pytest.raises(NoteError) as error:
        open_checkpoint(note.replace("\n7\n", "\n8\n", 1), signer.verifier())

    assert error.value.reason == "invalid_signature"


def test_a_checkpoint_for_another_origin_is_refused_when_an_origin_is_expected() -> None:
    signer = a_log_signer()
    note = sign_checkpoint(a_checkpoint(origin="buurtmunt.example/other"), signer)

    with pytest.raises(CheckpointError) as error:
        open_checkpoint(note, signer.verifier(), expected_origin="buurtmunt.example/demo")

    assert error.value.reason == "origin_mismatch"


def test_a_validly_signed_note_that_is_not_a_checkpoint_is_refused() -> None:
    signer = a_log_signer()
    note = signer.sign("hello\nworld\n")

    with pytest.raises(CheckpointError) as error:
        open_checkpoint(note, signer.verifier())

    assert error.value.reason == "malformed_checkpoint"


def test_a_checkpoint_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"^invalid_tree_size"):
        parse_checkpoint_body(f"o\n01\n{ROOT_B64}\n")


# Key names: a log's key is named for its origin; older journals were signed under the host.

HOST_NAME = "buurtmunt.example"
ORIGIN = f"{HOST_NAME}/demo"


def test_a_checkpoint_signed_under_the_host_name_opens_with_the_origin_named_key() -> None:
    signer = generate_signer(HOST_NAME)
    old_note = sign_checkpoint(a_checkpoint(origin=ORIGIN), signer)

    opened = open_checkpoint(old_note, signer.verifier().named(ORIGIN))

    assert opened == a_checkpoint(origin=ORIGIN)


def test_a_checkpoint_signed_under_the_origin_opens_with_the_old_host_named_key() -> None:
    signer = generate_signer(HOST_NAME)
    new_note = sign_checkpoint(a_checkpoint(origin=ORIGIN), signer.named(ORIGIN))

    assert new_note.split("\n")[-2].startswith(f"— {ORIGIN} ")
    assert open_checkpoint(new_note, signer.verifier()) == a_checkpoint(origin=ORIGIN)


def test_the_key_of_another_community_does_not_open_a_checkpoint() -> None:
    signer = generate_signer(HOST_NAME)
    note = sign_checkpoint(a_checkpoint(origin=ORIGIN), signer.named(ORIGIN))

    with pytest.raises(NoteError) as raised:
        open_checkpoint(note, signer.verifier().named(f"{HOST_NAME}/west"))

    assert raised.value.reason == "unverified_note"


def test_a_key_named_for_an_origin_ignores_signatures_under_other_names_of_its_key() -> None:
    signer = generate_signer(HOST_NAME)
    note = sign_checkpoint(a_checkpoint(origin=ORIGIN), signer.named("someone-else"))

    with pytest.raises(NoteError):
        open_checkpoint(note, signer.verifier().named(ORIGIN))
