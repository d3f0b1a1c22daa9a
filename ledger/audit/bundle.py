"""The export bundle on disk: a directory anyone can verify offline.

Layout of version 2 (``docs/ledger-format.md`` is the normative description)::

    manifest.json          format, version, community, origin, size, root, created
    entries.jsonl          line i = the exact stored bytes of entry i, then "\\n"
    checkpoint             the latest signed checkpoint (the head)
    checkpoints.txt        the checkpoints kept, in order of size: each signed
                           note followed by one more "\\n"
    verifier.key           the log's verifier key (informational: pass --key)
    balances.json          {"size": N, "balances": {account: minutes}}

Version 1 held every checkpoint as a file ``checkpoints/<size>`` (the size in
20 digits, a further checkpoint of the same size with a suffix) instead of
``checkpoints.txt``; the reader takes both.

Pure file IO with the standard library only, so the verifier needs nothing
else. Every read is bounded: an entry line by ENTRY_BYTES_MAX, a note by
NOTE_BYTES_MAX, the JSON files by BUNDLE_JSON_BYTES_MAX, the checkpoint count
by BUNDLE_CHECKPOINTS_MAX.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledger import limits

BUNDLE_FORMAT = "buurtmunt-bundle"
BUNDLE_VERSION = 2
# Versions a reader takes: 1 kept a file per checkpoint in checkpoints/.
BUNDLE_VERSIONS = (1, 2)

MANIFEST = "manifest.json"
ENTRIES = "entries.jsonl"
CHECKPOINT = "checkpoint"
CHECKPOINTS = "checkpoints"  # version 1's directory
CHECKPOINTS_TEXT = "checkpoints.txt"
VERIFIER_KEY = "verifier.key"
BALANCES = "balances.json"

SIZE_DIGITS = 20
_CHECKPOINT_NAME = re.compile(r"([0-9]{20})(?:\.[A-Za-z0-9_-]{1,40})?")
_READ_CHUNK = 1 << 20


class BundleError(ValueError):
    """A bundle that cannot be read at all; ``reason`` is a stable short code."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


def checkpoint_name(size: int, suffix: str = "") -> str:
    """The file name of a checkpoint of ``size`` in ``checkpoints/``."""
    name = f"{size:0{SIZE_DIGITS}d}" + (f".{suffix}" if suffix else "")
    assert _CHECKPOINT_NAME.fullmatch(name), name
    return name


@dataclass(frozen=True, slots=True)
class Manifest:
    community: str
    origin: str
    size: int
    root: str  # base64, as in the checkpoint
    created: str
    format: str = BUNDLE_FORMAT
    version: int = BUNDLE_VERSION

    def to_json(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "version": self.version,
            "community": self.community,
            "origin": self.origin,
            "size": self.size,
            "root": self.root,
            "created": self.created,
        }


@dataclass(frozen=True, slots=True)
class CheckpointFile:
    """A checkpoint the bundle keeps: a file of checkpoints/ (version 1), or a note
    of checkpoints.txt, which ``note`` then holds (version 2)."""

    label: str  # where it is, for findings
    size: int  # as its name or its note's size line says; the note itself is what counts
    note: str | None = None
    name: str = ""  # the file name in checkpoints/ (version 1)


def split_notes(text: str) -> Iterator[str]:
    """The notes of a checkpoints.txt, each as signed (ending in a newline).

    A note is its text (lines that are not empty), an empty line, and its
    signature lines; one more empty line ends it. What is left after the last
    complete note is given as it is, which no note check accepts."""
    start = 0
    while start < len(text):
        body = text.find("\n\n", start)
        end = -1 if body < 0 else text.find("\n\n", body + 2)
        if end < 0:
            yield text[start:]
            return
        yield text[start : end + 1]
        start = end + 2


class BundleWriter:
    """Writes a bundle into a temporary sibling directory, then renames it into place.

    A reader never sees half a bundle: nothing is at ``directory`` until
    ``commit`` has flushed every file to disk and renamed the whole directory.
    ``directory`` must not exist yet, or be an empty directory. Use as a
    context manager: leaving without ``commit`` removes the temporary files.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        target = self.directory
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            raise BundleError("bundle_exists", str(target))
        target.parent.mkdir(parents=True, exist_ok=True)
        self._temporary = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        self._entries = open(self._temporary / ENTRIES, "wb", buffering=_READ_CHUNK)  # noqa: SIM115
        self._checkpoints = open(  # noqa: SIM115
            self._temporary / CHECKPOINTS_TEXT, "w", encoding="utf-8", newline=""
        )
        self.entry_count = 0
        self._checkpoint_count = 0
        self._checkpoint_size = 0
        self._committed = False

    def __enter__(self) -> BundleWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._committed:
            self.abort()

    def add_entries(self, entries: Iterable[bytes]) -> None:
        """Append entries in journal order, each its exact stored bytes."""
        write = self._entries.write
        for data in entries:
            assert b"\n" not in data, "canonical entries never hold a raw newline"
            write(data)
            write(b"\n")
            self.entry_count += 1

    def add_checkpoint(self, size: int, note: str) -> None:
        """Keep the checkpoint ``note`` of ``size``; in order of size."""
        self._checkpoint_count += 1
        if self._checkpoint_count > limits.BUNDLE_CHECKPOINTS_MAX:
            raise BundleError("too_many_checkpoints")
        assert size >= self._checkpoint_size, "checkpoints are kept in order of size"
        # split_notes reads it back: one empty line inside, a newline at the end.
        assert note.endswith("\n") and note.count("\n\n") == 1, "a signed note"
        self._checkpoint_size = size
        self._checkpoints.write(note + "\n")

    def commit(
        self, *, manifest: Manifest, head_note: str, verifier_key: str, balances: dict[str, int]
    ) -> None:
        """Write the remaining files, flush everything, and move the bundle into place."""
        if self.entry_count != manifest.size:
            raise BundleError("size_mismatch", f"{self.entry_count} entries for {manifest.size}")
        for file in (self._entries, self._checkpoints):
            file.flush()
            os.fsync(file.fileno())
            file.close()
        temporary = self._temporary
        _write_text(temporary / CHECKPOINT, head_note)
        _write_text(temporary / VERIFIER_KEY, verifier_key.strip() + "\n")
        document = {"size": manifest.size, "balances": dict(sorted(balances.items()))}
        _write_text(temporary / BALANCES, json.dumps(document, indent=1) + "\n")
        _write_text(temporary / MANIFEST, json.dumps(manifest.to_json(), indent=1) + "\n")
        _fsync_directory(temporary)
        if self.directory.exists():
            self.directory.rmdir()
        temporary.rename(self.directory)
        _fsync_directory(self.directory.parent)
        self._committed = True

    def abort(self) -> None:
        self._entries.close()
        self._checkpoints.close()
        shutil.rmtree(self._temporary, ignore_errors=True)


def _write_text(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8", newline="") as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())


def _fsync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Bundle:
    """A bundle directory opened for reading."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        if not self.directory.is_dir():
            raise BundleError("not_a_bundle", f"{self.directory} is not a directory")
        # Without its journal a directory is no bundle at all. Every other file
        # missing or malformed is a finding of the verifier, not an error here.
        if not (self.directory / ENTRIES).is_file():
            raise BundleError("missing_file", ENTRIES)
        # Set while reading entries when the last line has no newline.
        self.unterminated_last_line = False

    @property
    def entries_bytes(self) -> int:
        return (self.directory / ENTRIES).stat().st_size

    def entries(self) -> Iterator[bytes]:
        """Each line of entries.jsonl without its newline, in order.

        A line longer than ENTRY_BYTES_MAX is cut to ENTRY_BYTES_MAX + 1 bytes
        (which no check accepts) and the rest skipped, so memory stays bounded.
        """
        bound = limits.ENTRY_BYTES_MAX + 1
        with open(self.directory / ENTRIES, "rb", buffering=_READ_CHUNK) as file:
            readline = file.readline
            while line := readline(bound + 1):
                if line[-1:] == b"\n":
                    yield line[:-1]
                    continue
                if len(line) <= bound:  # the end of the file without a newline
                    self.unterminated_last_line = True
                    yield line
                    return
                while (rest := readline(_READ_CHUNK)) and rest[-1:] != b"\n":
                    pass
                yield line[:bound]

    def head_note(self) -> str | None:
        """The head checkpoint's note, or None when the bundle has none."""
        path = self.directory / CHECKPOINT
        if not path.is_file():
            return None
        return _read_text(path, limits.NOTE_BYTES_MAX)

    def checkpoint_files(self) -> tuple[list[CheckpointFile], list[str]]:
        """The checkpoints kept, by size, and what is kept wrongly: names in checkpoints/
        that are not a checkpoint file's, or the faults of checkpoints.txt."""
        text_path = self.directory / CHECKPOINTS_TEXT
        folder = self.directory / CHECKPOINTS
        if text_path.exists():
            files, faults = self._checkpoint_notes(text_path)
            if folder.exists():
                faults.append(f"{CHECKPOINTS}/ is there beside {CHECKPOINTS_TEXT}")
            return files, faults
        if not folder.is_dir():
            return [], []
        files = []
        strays: list[str] = []
        with os.scandir(folder) as scan:
            for item in scan:
                if len(files) + len(strays) >= limits.BUNDLE_CHECKPOINTS_MAX:
                    raise BundleError("too_many_checkpoints")
                match = _CHECKPOINT_NAME.fullmatch(item.name)
                if match is None or not item.is_file():
                    strays.append(f"{CHECKPOINTS}/{item.name} is not a checkpoint file name")
                else:
                    size = int(match.group(1))
                    files.append(
                        CheckpointFile(f"{CHECKPOINTS}/{item.name}", size, None, item.name)
                    )
        files.sort(key=lambda f: (f.size, f.name))
        return files, sorted(strays)

    @staticmethod
    def _checkpoint_notes(path: Path) -> tuple[list[CheckpointFile], list[str]]:
        bound = limits.BUNDLE_CHECKPOINTS_TEXT_BYTES_MAX
        files: list[CheckpointFile] = []
        faults: list[str] = []
        for n, note in enumerate(split_notes(_read_text(path, bound)), start=1):
            if n > limits.BUNDLE_CHECKPOINTS_MAX:
                raise BundleError("too_many_checkpoints")
            label = f"{CHECKPOINTS_TEXT} note {n}"
            lines = note.split("\n", 2)
            size_line = lines[1] if len(lines) > 2 else ""
            if len(size_line) <= 20 and size_line.isascii() and size_line.isdigit():
                size = int(size_line)
            else:  # the note does not open; handed over after every other
                size = limits.TREE_SIZE_MAX
            if files and size < files[-1].size:
                faults.append(f"{label} is not in order of size")
            files.append(CheckpointFile(label, size, note))
        files.sort(key=lambda f: f.size)  # stable: notes of one size stay in file order
        return files, faults

    def read_checkpoint(self, kept: CheckpointFile) -> str:
        """The note of a checkpoint ``checkpoint_files`` gave."""
        if kept.note is not None:
            if len(kept.note.encode("utf-8")) > limits.NOTE_BYTES_MAX:
                raise BundleError("file_too_large", kept.label)
            return kept.note
        return _read_text(self.directory / CHECKPOINTS / kept.name, limits.NOTE_BYTES_MAX)

    def verifier_key(self) -> str | None:
        path = self.directory / VERIFIER_KEY
        return _read_text(path, limits.NOTE_BYTES_MAX).strip() if path.is_file() else None

    def balances(self) -> tuple[int, dict[str, int]] | None:
        """The size and balances of balances.json, or None when absent."""
        path = self.directory / BALANCES
        if not path.is_file():
            return None
        document = _read_json(path)
        size = document.get("size") if isinstance(document, dict) else None
        balances = document.get("balances") if isinstance(document, dict) else None
        if type(size) is not int or not isinstance(balances, dict):
            raise BundleError("malformed_balances", "need {size, balances}")
        if not all(isinstance(k, str) and type(v) is int for k, v in balances.items()):
            raise BundleError("malformed_balances", "balances are account -> integer minutes")
        return size, balances

    def manifest(self) -> dict[str, Any] | None:
        path = self.directory / MANIFEST
        if not path.is_file():
            return None
        document = _read_json(path)
        if not isinstance(document, dict):
            raise BundleError("malformed_manifest")
        return document


def _read_bytes(path: Path, bound: int) -> bytes:
    with open(path, "rb") as file:
        data = file.read(bound + 1)
    if len(data) > bound:
        raise BundleError("file_too_large", path.name)
    return data


def _read_text(path: Path, bound: int) -> str:
    try:
        return _read_bytes(path, bound).decode("utf-8")
    except UnicodeDecodeError:
        raise BundleError("not_utf8", path.name) from None


def _read_json(path: Path) -> Any:
    data = _read_bytes(path, limits.BUNDLE_JSON_BYTES_MAX)
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as error:
        raise BundleError("malformed_json", f"{path.name}: {str(error)[:200]}") from None
