"""Reading a local folder into blobs and trees, fast.

Measured choices: small files are read and hashed on one thread (for tiny files Python
threads only add overhead); large files are hashed on a thread pool, because hashlib
releases the GIL on big buffers. Trees are built bottom-up in memory.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn, Protocol

from dataworkflow.core.hashing import CHUNK_SIZE
from dataworkflow.core.ids import ObjectId
from dataworkflow.core.names import validate_name, validate_name_bytes
from dataworkflow.core.objects import FileMode, Tree, TreeEntry
from dataworkflow.errors import InvalidInput, InvalidName
from dataworkflow.storage.base import SupportsLocalFiles

SMALL_FILE = 1024 * 1024
KEEP_BUDGET = 256 * 1024 * 1024  # small-file bytes kept in memory between hashing and storing
HASH_WORKERS = max(2, min(8, os.cpu_count() or 2))


@dataclass(slots=True)
class LocalFile:
    """A regular file found in a folder."""

    parts: tuple[str, ...]
    path: str
    size: int
    mtime_ns: int
    mode: FileMode
    id: ObjectId | None = None
    data: bytes | None = None
    """The content of a small file, kept from hashing so storing it needs no second read."""
    stored: bool = False
    """Whether hashing stored the bytes already (storage that copies local files itself)."""
    relpath: str = ""
    """The ``/``-joined path below the folder (from ``parts`` when not given)."""

    def __post_init__(self) -> None:
        if not self.relpath:
            self.relpath = "/".join(self.parts)


class StatCache(Protocol):
    """Remembers file ids by (path, size, mtime) so unchanged files are not re-read."""

    def lookup(self, relpath: str, size: int, mtime_ns: int) -> ObjectId | None:
        """The id recorded for this path if size and mtime still match."""
        ...

    def record(self, relpath: str, size: int, mtime_ns: int, object_id: ObjectId) -> None:
        """Remember a file's id."""
        ...


IgnoreRule = Callable[[str, bool], bool]
"""``(relpath, is_dir) -> bool``: True to leave the path out."""


@dataclass
class FolderScan:
    """Every file of a folder, plus what was skipped and why."""

    files: list[LocalFile] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        """Sum of the file sizes."""
        return sum(f.size for f in self.files)


def scan_folder(root: Path, ignore: IgnoreRule | None = None) -> FolderScan:
    """List the regular files below ``root``; symlinks and special files are skipped.

    Raises:
        InvalidInput: if ``root`` is not a readable folder.
        InvalidName: if a file or folder name cannot be stored (e.g. not UTF-8).
    """
    if not root.is_dir():
        raise InvalidInput(f"{str(root)!r} is not a folder")
    scan = FolderScan()
    files = scan.files
    executable = stat.S_IXUSR
    plain, runnable = FileMode.FILE, FileMode.EXECUTABLE

    # Per file this is the hot loop of a re-import (20,000 files: every one is listed and
    # stat'ed), so it works on str paths (no decoding per name: scandir's names are
    # surrogate-escaped, which validate_name rejects just as bytes that are not UTF-8)
    # and builds each relative path once, by concatenation.
    def walk(directory: str, parts: tuple[str, ...], prefix: str) -> None:
        try:
            with os.scandir(directory) as listing:
                entries = list(listing)
        except PermissionError:
            raise InvalidInput(f"permission denied reading folder {directory!r}") from None
        for entry in entries:
            name = entry.name
            try:
                validate_name(name)
            except InvalidName:
                _refuse_name(entry.path, name)
            relpath = prefix + name
            if entry.is_symlink():
                scan.skipped.append(f"{relpath} (symbolic link)")
                continue
            if entry.is_dir(follow_symlinks=False):
                if ignore is not None and ignore(relpath, True):
                    continue
                walk(entry.path, (*parts, name), relpath + "/")
            elif entry.is_file(follow_symlinks=False):
                if ignore is not None and ignore(relpath, False):
                    continue
                info = entry.stat(follow_symlinks=False)
                files.append(
                    LocalFile(
                        (*parts, name),
                        entry.path,
                        info.st_size,
                        info.st_mtime_ns,
                        runnable if info.st_mode & executable else plain,
                        relpath=relpath,
                    )
                )
            else:
                scan.skipped.append(f"{relpath} (not a regular file)")

    walk(str(root), (), "")
    return scan


def _refuse_name(path: str, name: str) -> NoReturn:
    """Raise InvalidName for a name found on disk, describing it by its raw bytes."""
    try:
        validate_name_bytes(os.fsencode(name))
    except InvalidName as exc:
        raise InvalidName(f"cannot store {path!r}: {exc}") from None
    raise InvalidName(f"cannot store {path!r}")  # pragma: no cover - validate_name refused it


def _hash_file(path: str) -> tuple[ObjectId, int]:
    digest = hashlib.sha256()
    size = 0
    try:
        with open(path, "rb", buffering=0) as f:
            while chunk := f.read(CHUNK_SIZE):
                digest.update(chunk)
                size += len(chunk)
    except PermissionError:
        raise InvalidInput(f"permission denied reading {path!r}") from None
    except FileNotFoundError:
        raise InvalidInput(f"{path!r} disappeared while it was being read") from None
    return ObjectId(digest.hexdigest()), size


def _read_small(path: str) -> bytes:
    """A small file's bytes through a raw descriptor (no buffered-file syscalls)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except PermissionError:
        raise InvalidInput(f"permission denied reading {path!r}") from None
    except FileNotFoundError:
        raise InvalidInput(f"{path!r} disappeared while it was being read") from None
    try:
        chunks = []
        while chunk := os.read(fd, SMALL_FILE):
            chunks.append(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks)


def hash_files(
    files: list[LocalFile],
    stat_cache: StatCache | None = None,
    on_hashed: Callable[[LocalFile], None] | None = None,
    keep_budget: int = KEEP_BUDGET,
    store: SupportsLocalFiles | None = None,
) -> None:
    """Fill in ``id`` (and the real size) of every file.

    With ``store``, files the stat cache does not know are stored as they are hashed
    (``stored`` is set), so each is read once. Otherwise small files are read whole, and
    up to ``keep_budget`` bytes of them stay in ``data`` so that storing them later does
    not read them again.

    Raises:
        InvalidInput: if a file cannot be read.
    """
    large: list[LocalFile] = []
    unknown: list[LocalFile] = []
    kept = 0
    for local in files:
        if stat_cache is not None:
            cached = stat_cache.lookup(local.relpath, local.size, local.mtime_ns)
            if cached is not None:
                local.id = cached
                if on_hashed:
                    on_hashed(local)
                continue
        if store is not None:
            unknown.append(local)
            continue
        if local.size >= SMALL_FILE:
            large.append(local)
            continue
        data = _read_small(local.path)
        local.id, local.size = ObjectId(hashlib.sha256(data).hexdigest()), len(data)
        if kept + len(data) <= keep_budget:
            local.data = data
            kept += len(data)
        if on_hashed:
            on_hashed(local)
    if unknown:
        assert store is not None
        _store_files(unknown, store, on_hashed)
    if large:
        with ThreadPoolExecutor(max_workers=HASH_WORKERS) as pool:
            for local, (object_id, size) in zip(
                large, pool.map(lambda f: _hash_file(f.path), large), strict=True
            ):
                local.id, local.size = object_id, size
                if on_hashed:
                    on_hashed(local)
    if stat_cache is not None:
        for local in files:
            assert local.id is not None
            stat_cache.record(local.relpath, local.size, local.mtime_ns, local.id)


def _store_files(
    files: list[LocalFile],
    store: SupportsLocalFiles,
    on_hashed: Callable[[LocalFile], None] | None,
) -> None:
    stored = store.put_files([(f.path, f.size) for f in files])
    try:
        for local in files:
            try:
                result = next(stored)
            except FileNotFoundError as exc:
                where = exc.filename or local.path
                raise InvalidInput(f"{where!r} disappeared while it was being read") from None
            except PermissionError as exc:
                where = exc.filename or local.path
                raise InvalidInput(f"permission denied reading {where!r}") from None
            local.id, local.size, local.stored = result.id, result.size, True
            if on_hashed:
                on_hashed(local)
        next(stored, None)  # the end of the iteration: everything stored is now durable
    finally:
        stored.close()


def build_trees(files: list[LocalFile]) -> dict[tuple[str, ...], Tree]:
    """Build every folder's tree bottom-up: by folder (its parts), deepest first, root last."""
    children: dict[tuple[str, ...], dict[str, TreeEntry]] = {(): {}}
    for local in files:
        assert local.id is not None
        parts = local.parts
        parent = parts[:-1]
        entries = children.get(parent)
        if entries is None:  # a new folder: register it and any new ancestor
            for depth in range(1, len(parent) + 1):
                children.setdefault(parent[:depth], {})
            entries = children[parent]
        entries[parts[-1]] = TreeEntry(parts[-1], local.mode, "blob", local.id)
    built: dict[tuple[str, ...], Tree] = {}
    for folder in sorted(children, key=len, reverse=True):
        tree = Tree(children[folder].values())
        built[folder] = tree
        if folder:
            children[folder[:-1]][folder[-1]] = TreeEntry(
                folder[-1], FileMode.TREE, "tree", tree.id
            )
    return built


def outside_known_trees(
    files: list[LocalFile], trees: dict[tuple[str, ...], Tree], known: set[str]
) -> list[LocalFile]:
    """The files in no folder (at any depth) whose tree id is in ``known``.

    A repository has every object below a tree it has (trees are inserted only once
    their entries are there, and gc deletes a tree with what only it reaches), so only
    these files' blobs need looking up: on a re-import, most folders are unchanged.
    """
    covered: set[tuple[str, ...]] = set()
    for folder in sorted(trees, key=len):  # parents first
        if trees[folder].id in known or (folder and folder[:-1] in covered):
            covered.add(folder)
    return [f for f in files if f.parts[:-1] not in covered]


def iter_unique(files: list[LocalFile]) -> Iterator[LocalFile]:
    """One file per distinct id (the first seen), so equal contents are stored once."""
    seen: set[str] = set()
    for local in files:
        assert local.id is not None
        if local.id not in seen:
            seen.add(local.id)
            yield local
