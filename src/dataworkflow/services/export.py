"""Writing a tree out to a local folder, streaming and verifying every file."""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
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


def check_export_path(relpath: str) -> None:
    """Refuse a stored path that could land outside the destination (no filesystem access).

    Every component must be a valid name (so no ``..``, ``/``-absolute or empty parts);
    export writes into a folder it found empty and creates every folder itself, so no
    symlink can redirect a checked path.

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


def write_verified(source: object, destination: Path, expected_id: str, executable: bool) -> int:
    """Stream ``source`` (a binary file object) to a new file ``destination``, hashing it.

    A file whose bytes do not match ``expected_id`` is removed before the error is
    raised, so a corrupt object never stays in the export.

    Raises:
        ChecksumMismatch: if the bytes do not hash to ``expected_id``.
    """
    digest = hashlib.sha256()
    size = 0
    mode = 0o755 if executable else 0o644
    # Straight to the final name, created exclusively (never following a planted link);
    # on a hash mismatch the file is removed before the error is raised.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(destination, flags | getattr(os, "O_CLOEXEC", 0), mode)
    try:
        read = source.read  # type: ignore[attr-defined]
        while chunk := read(CHUNK_SIZE):
            digest.update(chunk)
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view) :]
            size += len(chunk)
        os.close(fd)
        fd = -1
        if digest.hexdigest() != expected_id:
            raise ChecksumMismatch(expected_id, digest.hexdigest())
    except BaseException:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(destination)
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


def is_executable(path: Path) -> bool:
    """Whether the user execute bit is set."""
    return bool(path.stat().st_mode & stat.S_IXUSR)
