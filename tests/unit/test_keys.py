"""Signing keys in private files or passed values: creation, loading, refusals."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from ledger.keys import SigningKeyError, generate_key_file, load_signer
from ledger.note import NoteSigner, generate_signer, open_note

NAME = "buurtmunt.example/demo"


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def a_key_file(tmp_path: Path, mode: int = 0o600, content: str | None = None) -> Path:
    path = tmp_path / "log.key"
    path.write_text(content if content is not None else generate_signer(NAME).key_string() + "\n")
    path.chmod(mode)
    return path


# Generating.


def test_a_generated_key_file_holds_the_signer_of_the_returned_verifier(tmp_path: Path) -> None:
    path = tmp_path / "log.key"

    verifier = generate_key_file(path, NAME)

    signer = load_signer(path=path)
    assert signer.verifier() == verifier
    assert open_note(signer.sign("hello\n"), [verifier]).verified_by == (NAME,)


def test_a_generated_key_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "log.key"

    generate_key_file(path, NAME)

    assert mode_of(path) == 0o600


def test_the_key_file_is_private_from_the_call_that_creates_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A later chmod would leave a moment in which others could read the key.
    calls: list[tuple[int, int]] = []
    real_open = os.open

    def recording_open(path: Any, flags: int, mode: int = 0o777, **kwargs: Any) -> int:
        calls.append((flags, mode))
        return real_open(path, flags, mode, **kwargs)

    monkeypatch.setattr(os, "open", recording_open)

    generate_key_file(tmp_path / "log.key", NAME)

    creating = [(flags, mode) for flags, mode in calls if flags & os.O_CREAT]
    assert len(creating) == 1
    flags, mode = creating[0]
    assert flags & os.O_EXCL
    assert mode == 0o600


def test_missing_parent_directories_are_created_private(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "demo" / "log.key"

    generate_key_file(path, NAME)

    assert mode_of(tmp_path / "keys") & 0o077 == 0
    assert mode_of(tmp_path / "keys" / "demo") & 0o077 == 0


def test_an_existing_key_file_is_never_overwritten(tmp_path: Path) -> None:
    path = a_key_file(tmp_path)
    before = path.read_text()

    with pytest.raises(SigningKeyError) as error:
        generate_key_file(path, NAME)

    assert error.value.reason == "key_file_exists"
    assert path.read_text() == before


def test_a_symlink_at_the_key_path_is_not_followed_when_generating(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.key"
    link = tmp_path / "log.key"
    link.symlink_to(target)

    with pytest.raises(SigningKeyError) as error:
        generate_key_file(link, NAME)

    assert error.value.reason == "key_file_exists"
    assert not target.exists()


def test_an_invalid_key_name_creates_no_file(tmp_path: Path) -> None:
    path = tmp_path / "log.key"

    with pytest.raises(SigningKeyError) as error:
        generate_key_file(path, "not a name")

    assert error.value.reason == "invalid_key_name"
    assert not path.exists()


def test_a_key_file_that_fails_to_reach_the_disk_is_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "log.key"

    def failing_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", failing_fsync)

    with pytest.raises(OSError):
        generate_key_file(path, NAME)

    assert not path.exists()


# Loading from a file.


def test_a_private_key_file_loads_with_its_trailing_newline_ignored(tmp_path: Path) -> None:
    signer = generate_signer(NAME)
    path = a_key_file(tmp_path, content=signer.key_string() + "\n \n\t")

    loaded = load_signer(path=str(path))

    assert loaded.verifier() == signer.verifier()


def test_a_read_only_owner_key_file_loads(tmp_path: Path) -> None:
    path = a_key_file(tmp_path, mode=0o400)

    assert isinstance(load_signer(path=path), NoteSigner)


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o620, 0o602, 0o660, 0o666])
def test_a_key_file_open_to_group_or_others_is_refused(tmp_path: Path, mode: int) -> None:
    path = a_key_file(tmp_path, mode=mode)

    with pytest.raises(SigningKeyError) as error:
        load_signer(path=path)

    assert error.value.reason == "key_file_too_open"
    assert f"{mode:04o}" in str(error.value)
    assert "chmod 600" in str(error.value)


def test_a_missing_key_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SigningKeyError) as error:
        load_signer(path=tmp_path / "absent.key")

    assert error.value.reason == "key_file_missing"


def test_a_directory_is_not_a_key_file(tmp_path: Path) -> None:
    directory = tmp_path / "keys"
    directory.mkdir(mode=0o700)

    with pytest.raises(SigningKeyError) as error:
        load_signer(path=directory)

    assert error.value.reason == "key_file_not_regular"


def test_a_symlink_to_a_key_file_is_not_followed_when_loading(tmp_path: Path) -> None:
    target = a_key_file(tmp_path)
    link = tmp_path / "link.key"
    link.symlink_to(target)

    with pytest.raises(SigningKeyError) as error:
        load_signer(path=link)

    assert error.value.reason == "key_file_unreadable"


def test_an_oversized_key_file_is_refused(tmp_path: Path) -> None:
    path = a_key_file(tmp_path, content="x" * 100_000)

    with pytest.raises(SigningKeyError) as error:
        load_signer(path=path)

    assert error.value.reason == "key_file_too_large"


def test_a_key_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "log.key"
    path.write_bytes(b"PRIVATE+KEY+\xff\n")
    path.chmod(0o600)

    with pytest.raises(SigningKeyError) as error:
        load_signer(path=path)

    assert error.value.reason == "malformed_signing_key"


# Loading from a value.


def test_a_key_value_loads_with_its_trailing_whitespace_ignored() -> None:
    signer = generate_signer(NAME)

    loaded = load_signer(value=signer.key_string() + "\r\n")

    assert loaded.verifier() == signer.verifier()


def test_leading_whitespace_in_a_key_value_is_not_ignored() -> None:
    with pytest.raises(SigningKeyError) as error:
        load_signer(value=" " + generate_signer(NAME).key_string())

    assert error.value.reason == "malformed_signing_key"


def test_a_malformed_key_value_is_refused_without_echoing_the_key() -> None:
    key = generate_signer(NAME).key_string()
    broken = key.replace("PRIVATE+KEY+", "PRIVATE+KEY+x")

    with pytest.raises(SigningKeyError) as error:
        load_signer(value=broken)

    assert error.value.reason == "malformed_signing_key"
    # PRIVATE+KEY+<name>+<key id>+<base64 secret>; the secret's base64 may hold "+" itself.
    secret = broken.split("+", 4)[4]
    assert secret not in str(error.value)


def test_a_verifier_key_is_not_a_signing_key() -> None:
    with pytest.raises(SigningKeyError) as error:
        load_signer(value=generate_signer(NAME).verifier().key_string())

    assert error.value.reason == "malformed_signing_key"


@pytest.mark.parametrize("both", [True, False])
def test_exactly_one_key_source_is_required(tmp_path: Path, both: bool) -> None:
    path = a_key_file(tmp_path)
    value = generate_signer(NAME).key_string()

    with pytest.raises(SigningKeyError) as error:
        if both:
            load_signer(path=path, value=value)
        else:
            load_signer()

    assert error.value.reason == "one_source_required"


def test_a_signing_key_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"^one_source_required"):
        load_signer()
