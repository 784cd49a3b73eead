"""Blobs, trees and commits and their canonical bytes (specified in docs/FORMAT.md).

Ids are always computed from canonical bytes, never set by hand. Every serialization
starts with a type-and-version line, so a future format gets a new tag instead of
silently changing the ids of existing objects.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from typing import Literal

from dataworkflow.core.ids import ObjectId, parse_object_id
from dataworkflow.core.names import validate_name
from dataworkflow.errors import InvalidInput, InvalidName

TREE_HEADER = b"dataworkflow tree 1\n"
COMMIT_HEADER = b"dataworkflow commit 1\n"

EntryKind = Literal["blob", "tree"]


class FileMode(StrEnum):
    """The modes a tree entry may have (Git's, minus symlinks and submodules)."""

    FILE = "100644"
    EXECUTABLE = "100755"
    TREE = "040000"

    @property
    def kind(self) -> EntryKind:
        """``tree`` for folders, ``blob`` for files."""
        return "tree" if self is FileMode.TREE else "blob"


def parse_mode(mode: str | int | FileMode) -> FileMode:
    """Accept ``"100644"``, ``"40000"``, ``0o100644`` and the like.

    Raises:
        InvalidInput: for any other mode.
    """
    if isinstance(mode, FileMode):
        return mode
    text = format(mode, "o") if isinstance(mode, int) else str(mode)
    try:
        return FileMode(text.rjust(6, "0"))
    except ValueError:
        raise InvalidInput(
            f"invalid file mode {mode!r}: expected 100644, 100755 or 040000"
        ) from None


def _field(data: bytes) -> bytes:
    """A length-prefixed field: ``<decimal byte length>:<bytes>``."""
    return b"%d:%s" % (len(data), data)


@dataclass(frozen=True, slots=True)
class TreeEntry:
    """One named child of a tree."""

    name: str
    mode: FileMode
    kind: EntryKind
    id: ObjectId

    @classmethod
    def make(
        cls, name: str, mode: str | int | FileMode, id: str, kind: str | None = None
    ) -> TreeEntry:
        """Build a validated entry; ``kind`` is derived from ``mode`` when omitted.

        Raises:
            InvalidName: for a bad name.
            InvalidInput: for a bad mode, id, or a kind that contradicts the mode.
        """
        file_mode = parse_mode(mode)
        if kind is not None and kind != file_mode.kind:
            raise InvalidInput(
                f"entry {name!r}: type {kind!r} does not match mode {file_mode.value}"
            )
        return cls(validate_name(name), file_mode, file_mode.kind, parse_object_id(id))

    def canonical_bytes(self) -> bytes:
        """``<mode> <type> <id> <len>:<name>`` followed by a newline."""
        # ``mode.encode()``, not ``mode.value.encode()``: a StrEnum member is its value,
        # and enum's ``value`` descriptor was 40% of hashing a tree (measured).
        name = self.name.encode("utf-8")
        return b"%s %s %s %d:%s\n" % (
            self.mode.encode(),
            self.kind.encode(),
            self.id.encode(),
            len(name),
            name,
        )


def _name_key(entry: TreeEntry) -> bytes:
    return entry.name.encode("utf-8")


@dataclass(frozen=True, slots=True)
class Tree:
    """A folder snapshot. Its id depends only on the set of entries, not their order."""

    entries: tuple[TreeEntry, ...]
    _id: ObjectId | None = field(default=None, init=False, repr=False, compare=False)

    def __init__(self, entries: Iterable[TreeEntry]) -> None:
        ordered = tuple(sorted(entries, key=_name_key))
        for before, after in itertools.pairwise(ordered):
            if before.name == after.name:
                raise InvalidName(f"duplicate name {before.name!r} in tree")
        object.__setattr__(self, "entries", ordered)
        object.__setattr__(self, "_id", None)

    def canonical_bytes(self) -> bytes:
        """The header line, then each entry, sorted by the UTF-8 bytes of its name."""
        return TREE_HEADER + b"".join(entry.canonical_bytes() for entry in self.entries)

    @property
    def id(self) -> ObjectId:
        """SHA-256 of the canonical bytes (computed once: trees are immutable)."""
        if self._id is None:
            object.__setattr__(
                self, "_id", ObjectId(hashlib.sha256(self.canonical_bytes()).hexdigest())
            )
        assert self._id is not None
        return self._id

    def get(self, name: str) -> TreeEntry | None:
        """The entry called ``name``, if any."""
        for entry in self.entries:
            if entry.name == name:
                return entry
        return None


EMPTY_TREE_ID = Tree(()).id

_MAX_OFFSET_MINUTES = 24 * 60 - 1


@dataclass(frozen=True, slots=True)
class Signature:
    """Who did something and when, with the UTC offset of their clock."""

    name: str
    email: str
    timestamp: int
    """Seconds since the Unix epoch."""
    offset_minutes: int = 0
    """The author's UTC offset, e.g. 60 for +0100."""

    def __post_init__(self) -> None:
        for label, value in (("name", self.name), ("email", self.email)):
            if not isinstance(value, str):
                raise InvalidInput(f"signature {label} must be a string")
            if "\0" in value or "\n" in value:
                raise InvalidInput(f"signature {label} must not contain NUL or newline")
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise InvalidInput(f"signature {label} is not valid UTF-8") from None
        if not isinstance(self.timestamp, int) or isinstance(self.timestamp, bool):
            raise InvalidInput("signature timestamp must be an integer")
        if not -_MAX_OFFSET_MINUTES <= self.offset_minutes <= _MAX_OFFSET_MINUTES:
            raise InvalidInput("signature UTC offset must be less than 24 hours")

    @classmethod
    def from_datetime(cls, name: str, email: str, when: datetime) -> Signature:
        """A signature at an aware datetime (a naive one is taken as UTC).

        Raises:
            InvalidInput: for bad names or offsets.
        """
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        offset = when.utcoffset() or timedelta(0)
        return cls(name, email, int(when.timestamp()), int(offset.total_seconds()) // 60)

    @classmethod
    def now(cls, name: str, email: str) -> Signature:
        """A signature at the current time in the local time zone."""
        return cls.from_datetime(name, email, datetime.now().astimezone())

    @property
    def when(self) -> datetime:
        """The moment as an aware datetime in the signer's offset."""
        tz = timezone(timedelta(minutes=self.offset_minutes))
        return datetime.fromtimestamp(self.timestamp, tz)

    def format_offset(self) -> str:
        """``+HHMM`` or ``-HHMM``."""
        sign = "-" if self.offset_minutes < 0 else "+"
        hours, minutes = divmod(abs(self.offset_minutes), 60)
        return f"{sign}{hours:02d}{minutes:02d}"

    def canonical_bytes(self) -> bytes:
        """``<len>:<name> <len>:<email> <timestamp> <+HHMM>``."""
        return b"%s %s %d %s" % (
            _field(self.name.encode("utf-8")),
            _field(self.email.encode("utf-8")),
            self.timestamp,
            self.format_offset().encode(),
        )


def _metadata_items(
    metadata: Mapping[str, str] | Iterable[tuple[str, str]],
) -> tuple[tuple[str, str], ...]:
    items = list(metadata.items() if isinstance(metadata, Mapping) else metadata)
    seen: set[str] = set()
    for key, value in items:
        if not isinstance(key, str) or not key or not isinstance(value, str):
            raise InvalidInput("commit metadata keys must be non-empty strings, values strings")
        if key in seen:
            raise InvalidInput(f"duplicate commit metadata key {key!r}")
        seen.add(key)
        try:
            key.encode("utf-8")
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidInput("commit metadata must be valid UTF-8") from None
    return tuple(sorted(items, key=lambda item: item[0].encode("utf-8")))


@dataclass(frozen=True, slots=True)
class Commit:
    """A snapshot of a tree with its history and provenance."""

    tree: ObjectId
    parents: tuple[ObjectId, ...]
    author: Signature
    committer: Signature
    message: str
    metadata: tuple[tuple[str, str], ...] = field(default=())

    def __post_init__(self) -> None:
        parse_object_id(self.tree)
        for parent in self.parents:
            parse_object_id(parent)
        if len(set(self.parents)) != len(self.parents):
            raise InvalidInput("a commit cannot name the same parent twice")
        if not isinstance(self.message, str):
            raise InvalidInput("commit message must be a string")
        try:
            self.message.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidInput("commit message is not valid UTF-8") from None
        object.__setattr__(self, "parents", tuple(self.parents))
        object.__setattr__(self, "metadata", _metadata_items(self.metadata))

    def canonical_bytes(self) -> bytes:
        """Serialize as specified in docs/FORMAT.md."""
        lines = [COMMIT_HEADER, b"tree %s\n" % self.tree.encode()]
        lines += [b"parent %s\n" % parent.encode() for parent in self.parents]
        lines.append(b"author %s\n" % self.author.canonical_bytes())
        lines.append(b"committer %s\n" % self.committer.canonical_bytes())
        lines += [
            b"metadata %s %s\n" % (_field(key.encode("utf-8")), _field(value.encode("utf-8")))
            for key, value in self.metadata
        ]
        lines.append(b"message %s\n" % _field(self.message.encode("utf-8")))
        return b"".join(lines)

    @property
    def id(self) -> ObjectId:
        """SHA-256 of the canonical bytes."""
        return ObjectId(hashlib.sha256(self.canonical_bytes()).hexdigest())

    @property
    def title(self) -> str:
        """The first line of the message."""
        return self.message.split("\n", 1)[0]
