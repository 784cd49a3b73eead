"""Read commands: ``dw cat``, ``dw ls``, ``dw log``, ``dw show`` and ``dw diff``."""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import click

from dataworkflow.cli.context import Backend, pass_backend
from dataworkflow.cli.errors import CliError
from dataworkflow.cli.output import (
    change_json,
    commit_header_lines,
    commit_json,
    echo_json,
    echo_json_array,
    entry_json,
    format_size,
    ls_line,
    name_status_line,
    quote_path,
    short_id,
)
from dataworkflow.core.hashing import CHUNK_SIZE
from dataworkflow.errors import ChecksumMismatch, NotAFile
from dataworkflow.services.content_diff import diff_file
from dataworkflow.services.diff import Change
from dataworkflow.services.repository import ListedEntry, LogEntry, Repository

if TYPE_CHECKING:
    from dataworkflow.cli.remote import RemoteRepository
    from dataworkflow.client import Change as RemoteChange
    from dataworkflow.client import ListedEntry as RemoteListedEntry
    from dataworkflow.client import LogEntry as RemoteLogEntry

json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
LOG_PAGE = 1000
ECHO_BATCH = 1000
"""Lines written by one echo in long listings."""


@click.command("cat")
@click.argument("repo")
@click.argument("rev")
@click.argument("path")
@pass_backend
def cat(backend: Backend, repo: str, rev: str, path: str) -> None:
    """Write the file PATH of REV to stdout, checking its SHA-256 on the way."""
    out = sys.stdout.buffer
    digest = hashlib.sha256()

    def write(chunk: bytes) -> None:
        digest.update(chunk)
        out.write(chunk)

    if backend.remote:
        from dataworkflow.cli.remote import RemoteRepository

        remote = RemoteRepository(backend.client(), repo)
        commit = remote.resolve(rev)  # stat and read the same snapshot
        listed: ListedEntry | RemoteListedEntry = remote.stat(commit, path)
        if listed.entry.kind != "blob":
            raise NotAFile(f"{listed.path or '/'!r} is a folder, not a file")
        remote.write_file(commit, listed.path, write)
    else:
        repository = backend.repository(repo)
        listed = repository.stat(rev, path)
        if listed.entry.kind != "blob":
            raise NotAFile(f"{listed.path or '/'!r} is a folder, not a file")
        with repository.read_blob(listed.entry.id) as source:
            while chunk := source.read(CHUNK_SIZE):
                write(chunk)
    out.flush()
    if digest.hexdigest() != listed.entry.id:
        raise ChecksumMismatch(listed.entry.id, digest.hexdigest())


@click.command("ls")
@click.argument("repo")
@click.argument("rev")
@click.argument("path", default="")
@click.option("-r", "--recursive", is_flag=True, help="List the files of every subfolder.")
@click.option("-t", "--trees", is_flag=True, help="With -r, list the folders too.")
@json_option
@pass_backend
def ls(
    backend: Backend, repo: str, rev: str, path: str, recursive: bool, trees: bool, as_json: bool
) -> None:
    """List the folder PATH of REV: mode, type, id, size and path, like git ls-tree -l."""
    repository = backend.any_repository(repo)
    items: Sequence[ListedEntry | RemoteListedEntry]
    try:
        items = repository.list_tree(rev, path, recursive=recursive)
    except NotAFile:
        items = [repository.stat(rev, path)]  # a file lists as itself, as in Git
    if recursive and not trees:
        items = [item for item in items if item.entry.kind == "blob"]
    if as_json:
        echo_json([entry_json(item) for item in items])
        return
    for start in range(0, len(items), ECHO_BATCH):  # an echo per line: 1.4 s of 200,000
        click.echo("\n".join(map(ls_line, items[start : start + ECHO_BATCH])))


@click.command("log")
@click.argument("repo")
@click.argument("rev", required=False)
@click.option("--path", help="Only commits that changed this file or folder.")
@click.option(
    "-n", "--max-count", type=click.IntRange(min=0), help="Show at most this many commits."
)
@click.option("--oneline", is_flag=True, help="One line per commit: short id and title.")
@json_option
@pass_backend
def log(
    backend: Backend,
    repo: str,
    rev: str | None,
    path: str | None,
    max_count: int | None,
    oneline: bool,
    as_json: bool,
) -> None:
    """Show the history of REV (default: the default branch), newest first."""
    repository = backend.any_repository(repo)
    entries = _history(repository, rev, path, max_count)
    if as_json:
        echo_json_array(commit_json(entry.id, entry.commit) for entry in entries)
        return
    for number, entry in enumerate(entries):
        if oneline:
            click.echo(f"{short_id(entry.id)} {entry.commit.title}")
            continue
        if number:
            click.echo()
        click.echo("\n".join(commit_header_lines(entry.id, entry.commit)))


def _history(
    repository: Repository | RemoteRepository,
    rev: str | None,
    path: str | None,
    limit: int | None,
) -> Iterator[LogEntry | RemoteLogEntry]:
    """Commits page by page, so a long history streams instead of loading at once."""
    cursor: str | None = None
    remaining = limit
    while remaining is None or remaining > 0:
        size = LOG_PAGE if remaining is None else min(remaining, LOG_PAGE)
        page = repository.log(rev, path=path, limit=size, cursor=cursor)
        yield from page.commits
        if remaining is not None:
            remaining -= len(page.commits)
        if page.next_cursor is None or not page.commits:
            return
        cursor = page.next_cursor


@click.command("show")
@click.argument("repo")
@click.argument("rev", required=False)
@json_option
@pass_backend
def show(backend: Backend, repo: str, rev: str | None, as_json: bool) -> None:
    """Show commit REV and the files it changed against its first parent."""
    repository = backend.any_repository(repo)
    entry = repository.get_commit(rev)
    parent = entry.commit.parents[0] if entry.commit.parents else None
    changes: Sequence[Change | RemoteChange] = repository.diff(parent, entry.id)
    if as_json:
        echo_json(
            {**commit_json(entry.id, entry.commit), "changes": [change_json(c) for c in changes]}
        )
        return
    click.echo("\n".join(commit_header_lines(entry.id, entry.commit)))
    if changes:
        click.echo()
        for change in changes:
            click.echo(name_status_line(change))


@click.command("diff")
@click.argument("repo")
@click.argument("rev1")
@click.argument("rev2")
@click.argument("path", default="")
@click.option(
    "--patch",
    "output",
    flag_value="patch",
    default=True,
    help="What changed inside each file: unified text, table rows [default].",
)
@click.option(
    "--name-status",
    "output",
    flag_value="name-status",
    help="Status letter (A, D, M, T, R, C) and path of each changed file.",
)
@click.option("--stat", "output", flag_value="stat", help="Size change of each file.")
@click.option("--key", default="", metavar="COLUMNS", help="Key columns for table diffs: id,date.")
@json_option
@pass_backend
def diff(
    backend: Backend,
    repo: str,
    rev1: str,
    rev2: str,
    path: str,
    output: str,
    key: str,
    as_json: bool,
) -> None:
    """Show what changed from REV1 to REV2 (below PATH): inside files, or per path."""
    name_status = output == "name-status" or (output == "patch" and as_json)
    if backend.remote and not name_status:
        raise CliError(
            f"`dw diff --{output}` is not available with --server yet: use --name-status or --json"
        )
    if backend.remote:
        changes: Sequence[Change | RemoteChange] = backend.any_repository(repo).diff(
            rev1, rev2, path
        )
        if as_json:
            echo_json([change_json(change) for change in changes])
            return
        for change in changes:
            click.echo(name_status_line(change))
        return
    repository = backend.repository(repo)
    changes = repository.diff(rev1, rev2, path)
    if name_status:
        if as_json:
            echo_json([change_json(change) for change in changes])
            return
        for change in changes:
            click.echo(name_status_line(change))
        return
    ids = [e.id for c in changes for e in (c.old, c.new) if e is not None]
    known = repository.blob_sizes(ids)
    sizes = [
        (known.get(c.old.id) if c.old else None, known.get(c.new.id) if c.new else None)
        for c in changes
    ]
    if output == "patch":
        columns = [c.strip() for c in key.split(",") if c.strip()]
        for change, (old, new) in zip(changes, sizes, strict=True):
            _print_patch(repository, change, old, new, columns)
        return
    if as_json:
        echo_json(
            [
                {**change_json(change), "old_size": old, "new_size": new}
                for change, (old, new) in zip(changes, sizes, strict=True)
            ]
        )
        return
    _print_stat(changes, sizes)


def _print_patch(
    repository: Repository, change: Change, old: int | None, new: int | None, key: list[str]
) -> None:
    """One file's change, git-style for text, as +/-/~ rows for tables."""
    source = change.old_path or change.path
    click.echo(f"diff --dw a/{quote_path(source)} b/{quote_path(change.path)}")
    if change.old_path is not None:
        click.echo(f"{'rename' if change.kind == 'renamed' else 'copy'} from {change.old_path}")
    if change.kind == "mode" and change.old and change.new:
        click.echo(f"old mode {change.old.mode.value}\nnew mode {change.new.mode.value}")
        return
    result = diff_file(
        repository.storage.open,
        change.path,
        change.old.id if change.old else None,
        change.new.id if change.new else None,
        old,
        new,
        key,
    )
    if result.kind == "table" and result.table is not None:
        table = result.table
        for note in table.schema_changes:
            click.echo(f"@ {note}")
        click.echo(
            f"@ +{table.added_count} -{table.removed_count} ~{table.changed_count} rows"
            + (f" (key: {','.join(table.key)})" if table.key else "")
        )
        for number, row in table.removed:
            click.echo(f"-{number}\t" + ",".join(row))
        for number, row in table.added:
            click.echo(f"+{number}\t" + ",".join(row))
        for changed in table.changed:
            cells = "; ".join(
                f"{column}: {changed.old[i]} -> {changed.new[i]}"
                for i, column in enumerate([c for c in table.new_columns if c in table.old_columns])
                if column in changed.columns
            )
            click.echo(f"~{','.join(changed.key)}\t{cells}")
        return
    if result.kind in ("binary", "image"):
        click.echo("Binary files differ")
    elif result.kind == "error":
        click.echo(f"@ {result.message}")
    elif result.text is not None and result.text.too_large:
        click.echo(f"@ too large to show ({format_size(old or 0)} -> {format_size(new or 0)})")
    elif result.text is not None:
        for line in result.text.lines:
            click.echo(line)


def _print_stat(changes: list[Change], sizes: list[tuple[int | None, int | None]]) -> None:
    """``git diff --stat`` for data: each path with its size before and after."""
    paths = [quote_path(change.path) for change in changes]
    width = max((len(p) for p in paths), default=0)
    grown = shrunk = 0
    for change, shown, (old, new) in zip(changes, paths, sizes, strict=True):
        delta = (new or 0) - (old or 0)
        grown += max(delta, 0)
        shrunk += max(-delta, 0)
        click.echo(f" {shown:<{width}} | {change.status} {_size_change(old, new)}")
    count = len(changes)
    click.echo(
        f" {count} file{'s' if count != 1 else ''} changed,"
        f" +{format_size(grown)}, -{format_size(shrunk)}"
    )


def _size_change(old: int | None, new: int | None) -> str:
    if old is None:
        return f"new, {format_size(new or 0)}"
    if new is None:
        return f"{format_size(old)} -> deleted"
    delta = new - old
    sign = "+" if delta >= 0 else "-"
    return f"{format_size(old)} -> {format_size(new)} ({sign}{format_size(abs(delta))})"
