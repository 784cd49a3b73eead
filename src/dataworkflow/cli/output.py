"""Output of ``dw``: the JSON shapes of ``--json`` and Git-like text formats.

Every ``--json`` prints exactly one JSON document on stdout. Times are ISO 8601 with the
signer's UTC offset. Text output quotes unusual paths the way Git does, so that a name
containing a newline or a tab cannot break a line-oriented reader.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import click

from dataworkflow.core.objects import Signature
from dataworkflow.services.shapes import (  # re-exported: shared with the other interface
    change_json as change_json,
)
from dataworkflow.services.shapes import commit_json as commit_json
from dataworkflow.services.shapes import entry_json as entry_json
from dataworkflow.services.shapes import signature_json as signature_json

if TYPE_CHECKING:
    from dataworkflow import client
    from dataworkflow.core.objects import Commit
    from dataworkflow.services import diff, installation, repository

    # Local (service) values and the client's same-shaped ones print alike.
    Change = diff.Change | client.Change
    RepositoryInfo = installation.RepositoryInfo | client.RepositoryInfo
    ListedEntry = repository.ListedEntry | client.ListedEntry

SHORT_ID = 12

_C_ESCAPES = {"\a": "a", "\b": "b", "\t": "t", "\n": "n", "\v": "v", "\f": "f", "\r": "r"}


def echo_json(value: Any) -> None:
    """Print one JSON document."""
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


def echo_json_array(items: Iterable[Any]) -> None:
    """Print one JSON array, element by element (for long histories)."""
    first = True
    for item in items:
        text = json.dumps(item, indent=2, ensure_ascii=False).replace("\n", "\n  ")
        click.echo(("[\n  " if first else ",\n  ") + text, nl=False)
        first = False
    click.echo("[]" if first else "\n]")


def short_id(object_id: str | None) -> str:
    """The first characters of an id, as shown in messages."""
    return object_id[:SHORT_ID] if object_id else "(none)"


_PLAIN_PATH = re.compile(r'[^"\\\x00-\x1f\x7f]*')
"""A path that needs no quoting (a character test per character took 1.6 s of 200,000)."""


def quote_path(path: str) -> str:
    """``path`` as Git prints it: C-quoted when it holds special characters.

    Control characters, double quotes and backslashes are escaped and the whole path put
    in double quotes; anything else (non-ASCII too) is kept, like ``core.quotePath=false``.
    """
    if _PLAIN_PATH.fullmatch(path):
        return path
    out = []
    for c in path:
        if c in '"\\':
            out.append("\\" + c)
        elif c in _C_ESCAPES:
            out.append("\\" + _C_ESCAPES[c])
        elif ord(c) < 0x20 or ord(c) == 0x7F:
            out.append(f"\\{ord(c):03o}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def count(number: int, noun: str, plural: str | None = None) -> str:
    """``"1 file"``, ``"2,000 files"``: a number and its noun (plural: noun + s by default)."""
    return f"{number:,} {noun}" if number == 1 else f"{number:,} {plural or noun + 's'}"


def format_size(size: int) -> str:
    """A byte count for people: ``512 B``, ``1.5 KiB``, ``2.0 GiB``."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


# --- JSON shapes ------------------------------------------------------------------------


def repository_json(info: RepositoryInfo) -> dict[str, Any]:
    """A repository's settings."""
    return {
        "name": info.name,
        "description": info.description,
        "default_branch": info.default_branch,
        "private": info.private,
        "created_at": info.created_at.isoformat() if info.created_at else None,
    }


# --- text formats -----------------------------------------------------------------------


def git_date(signature: Signature) -> str:
    """Git's default date format: ``Tue Nov 14 22:13:20 2023 +0100``."""
    when = signature.when
    return f"{when:%a %b} {when.day} {when:%H:%M:%S %Y} {signature.format_offset()}"


def commit_header_lines(commit_id: str, commit: Commit) -> Iterator[str]:
    """``git log``'s medium format: header, metadata, then the message indented."""
    yield f"commit {commit_id}"
    if len(commit.parents) > 1:
        yield "Merge: " + " ".join(short_id(p) for p in commit.parents)
    yield f"Author: {commit.author.name} <{commit.author.email}>"
    yield f"Date:   {git_date(commit.author)}"
    for key, value in commit.metadata:
        yield f"Metadata: {key}: {value}"
    yield ""
    for line in commit.message.rstrip("\n").split("\n"):
        yield f"    {line}" if line else ""


def name_status_line(change: Change) -> str:
    """``M<TAB>path`` (``R<TAB>old<TAB>new`` for renames), as ``git diff --name-status``."""
    if change.old_path is not None:
        return f"{change.status}\t{quote_path(change.old_path)}\t{quote_path(change.path)}"
    return f"{change.status}\t{quote_path(change.path)}"


def ls_line(item: ListedEntry) -> str:
    """Mode, type, id, size, a tab and the path, as ``git ls-tree -l`` prints them."""
    size = "-" if item.size is None else str(item.size)
    return f"{item.entry.mode.value} {item.entry.kind} {item.entry.id} {size:>7}\t" + quote_path(
        item.path
    )
