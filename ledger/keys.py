"""Where a log's signing key lives: a private file or a value the caller passes.

A signing key is never stored in the database (a database dump must not be
able to forge checkpoints). It is the signer key string of ``ledger.note``,
either in a file only its owner can read (mode 0600) or in a value the caller
read from the environment; this module never reads ``os.environ`` itself.
Error messages never contain key material.
"""

from __future__ import annotations

import contextlib
import os
import stat
from typing import Literal

from ledger import limits
from ledger.note import (
    PRIVATE_KEY_PREFIX,
    NoteError,
    NoteSigner,
    NoteVerifier,
    generate_signer,
    is_valid_key_name,
)

SigningKeyErrorReason = Literal[
    "one_source_required",
    "invalid_key_name",
    "key_file_exists",
    "key_file_missing",
    "key_file_unreadable",
    "key_file_not_regular",
    "key_file_too_open",
    "key_file_too_large",
    "malformed_signing_key",
]

KEY_FILE_MODE = 0o600
KEY_DIRECTORY_MODE = 0o700

# A signer key string is the prefix, a name of at most KEY_NAME_LENGTH_MAX
# characters (4 UTF-8 bytes each at worst), '+', 8 hex digits, '+' and 44
# base64 characters; the slack allows a trailing newline or two.
_KEY_FILE_BYTES_MAX = len(PRIVATE_KEY_PREFIX) + 4 * limits.KEY_NAME_LENGTH_MAX + 1 + 8 + 1 + 44 + 64

# Refuse to follow a symlink at the key's path where the platform allows it.
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


class SigningKeyError(ValueError):
    """A signing key could not be created or loaded; ``reason`` is stable."""

    def __init__(self, reason: SigningKeyErrorReason, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason: SigningKeyErrorReason = reason


def generate_key_file(path: str | os.PathLike[str], name: str) -> NoteVerifier:
    """Create a new signing key named ``name`` at ``path``; return its verifier.

    Never overwrites: an existing file (or symlink) at ``path`` is an error.
    The file is created with mode 0600 in the same system call that creates
    it, so it is never readable by others, not even briefly; missing parent
    directories are created with mode 0700.
    """
    if not is_valid_key_name(name):
        raise SigningKeyError("invalid_key_name", "non-empty, no spaces or '+'")
    signer = generate_signer(name)
    write_key_file(path, signer.key_string())
    return signer.verifier()


def write_key_file(path: str | os.PathLike[str], key: str) -> None:
    """Write the private key string ``key`` to a new file at ``path``, mode 0600.

    Never overwrites: an existing file (or symlink) at ``path`` is an error.
    """
    _make_private_directories(os.path.dirname(os.fspath(path)))
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW
    try:
        fd = os.open(path, flags, KEY_FILE_MODE)
    except FileExistsError:
        raise SigningKeyError("key_file_exists", f"{os.fspath(path)!r}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as key_file:
            key_file.write(key + "\n")
            key_file.flush()
            os.fsync(key_file.fileno())
    except BaseException:
        # A half-written key is worse than none: it would fail on every start.
        os.unlink(path)
        raise


def _make_private_directories(directory: str) -> None:
    """Create ``directory`` and its missing ancestors with mode 0700.

    ``os.makedirs`` gives its mode to the last directory only, so each missing
    level is created here. Directories that already exist are left alone.
    """
    missing: list[str] = []
    # Each step removes a path component, so this ends at the root or "".
    while directory and not os.path.lexists(directory):
        missing.append(directory)
        parent = os.path.dirname(directory)
        if parent == directory:
            break
        directory = parent
    for each in reversed(missing):
        # Created meanwhile by someone else is fine: the key file's mode still holds.
        with contextlib.suppress(FileExistsError):
            os.mkdir(each, KEY_DIRECTORY_MODE)


def _check_private_regular_file(path: str | os.PathLike[str], status: os.stat_result) -> None:
    if not stat.S_ISREG(status.st_mode):
        raise SigningKeyError("key_file_not_regular", f"{os.fspath(path)!r}")
    if status.st_mode & 0o077:
        raise SigningKeyError(
            "key_file_too_open",
            f"{os.fspath(path)!r} has mode {stat.S_IMODE(status.st_mode):04o};"
            f" run: chmod 600 {os.fspath(path)}",
        )


def read_key_file(path: str | os.PathLike[str]) -> str:
    """The key file's text, after checking it is a private regular file.

    The checks use the opened descriptor, so the file cannot be swapped
    between checking and reading.
    """
    try:
        fd = os.open(path, os.O_RDONLY | _O_NOFOLLOW)
    except FileNotFoundError:
        raise SigningKeyError("key_file_missing", f"{os.fspath(path)!r}") from None
    except OSError as error:
        # Includes ELOOP: a symlink could point the service at another key.
        raise SigningKeyError(
            "key_file_unreadable", f"{os.fspath(path)!r}: {error.strerror}"
        ) from None
    try:
        _check_private_regular_file(path, os.fstat(fd))
    except BaseException:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb") as key_file:
        raw = key_file.read(_KEY_FILE_BYTES_MAX + 1)
    if len(raw) > _KEY_FILE_BYTES_MAX:
        raise SigningKeyError("key_file_too_large")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SigningKeyError("malformed_signing_key", "not UTF-8") from None


def load_signer(path: str | os.PathLike[str] | None = None, value: str | None = None) -> NoteSigner:
    """The signer from exactly one of a key file ``path`` or a key ``value``.

    Trailing whitespace (a newline left by an editor or ``echo``) is ignored.
    A key file readable or writable by group or others is refused.
    """
    if (path is None) == (value is None):
        raise SigningKeyError("one_source_required", "pass exactly one of path or value")
    if path is not None:
        text = read_key_file(path)
    else:
        assert value is not None
        if len(value) > _KEY_FILE_BYTES_MAX:
            raise SigningKeyError("malformed_signing_key", "value too long")
        text = value
    try:
        return NoteSigner.from_key_string(text.rstrip())
    except NoteError as error:
        # The note error's reason says what was wrong without echoing the key.
        raise SigningKeyError("malformed_signing_key", error.reason) from None
