"""Writing a tree out to a local folder, streaming and verifying every file."""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dataworkflow.core.hashing import CHUNK_SIZE
from dataworkflow.core.names import validate_name
from dataworkflow.errors import ChecksumMismatch, InvalidInput, InvalidName

ExportProgress = Callable[[int, int], None]
"""``(files, bytes)`` written so far."""


@dataclass(frozen=True, slots=True)
class ExportStats:
    """What an export wrote."""

    files: int
    bytes: int
    folders: int


def safe_destination(root: Path, relpath: str) -> Path:
    """Where ``relpath`` lands below ``root``, refusing anything that would escape it.

    Every component is checked again here (not only when it was stored): export must be
    safe even against a crafted database.

    Raises:
        InvalidName: for absolute paths, ``..``, empty components or other bad names.
    """
    if relpath.startswith("/") or "\\" in relpath:
        raise InvalidName(f"refusing to export {relpath!r}: it would land outside the folder")
    for part in relpath.split("/"):
        try:
            validate_name(part)
        except InvalidName:
            raise InvalidName(
                f"refusing to export {relpath!r}: it would land outside the folder"
            ) from None
    target = (root / relpath).resolve(strict=False)
    base = root.resolve(strict=False)
    if target != base and base not in target.parents:
        raise InvalidName(f"refusing to export {relpath!r}: it would land outside the folder")
    return root / relpath


def write_verified(source: object, destination: Path, expected_id: str, executable: bool) -> int:
    """Stream ``source`` (a binary file object) to ``destination`` through a temp file.

    The hash is checked before the file takes its final name, so a corrupt object never
    appears in the export.

    Raises:
        ChecksumMismatch: if the bytes do not hash to ``expected_id``.
    """
    digest = hashlib.sha256()
    size = 0
    fd, temp = tempfile.mkstemp(dir=destination.parent, prefix=".dw-export-")
    try:
        with os.fdopen(fd, "wb") as out:
            read = source.read  # type: ignore[attr-defined]
            while chunk := read(CHUNK_SIZE):
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
        if digest.hexdigest() != expected_id:
            raise ChecksumMismatch(expected_id, digest.hexdigest())
        mode = 0o755 if executable else 0o644
        os.chmod(temp, mode & ~_UMASK)
        os.replace(temp, destination)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    return size


def prepare_destination(root: Path) -> None:
    """Create ``root`` if needed; refuse a file or a non-empty folder.

    Raises:
        InvalidInput: if ``root`` is a file or a folder with content.
    """
    if root.exists():
        if not root.is_dir():
            raise InvalidInput(f"{str(root)!r} exists and is not a folder")
        if any(root.iterdir()):
            raise InvalidInput(f"{str(root)!r} is not empty")
    root.mkdir(parents=True, exist_ok=True)


def _read_umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


_UMASK = _read_umask()  # read once: os.umask is process-wide and not thread-safe


def is_executable(path: Path) -> bool:
    """Whether the user execute bit is set."""
    return bool(path.stat().st_mode & stat.S_IXUSR)
