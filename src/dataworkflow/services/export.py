"""Writing a tree out to a local folder, streaming and verifying every file."""

from __future__ import annotations

import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dataworkflow.core.names import validate_name
from dataworkflow.errors import InvalidInput, InvalidName
from dataworkflow.storage.localfiles import write_verified

__all__ = [
    "ExportProgress",
    "ExportStats",
    "check_export_path",
    "is_executable",
    "prepare_destination",
    "safe_destination",
    "write_verified",
]

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
