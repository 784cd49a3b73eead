"""``dw import`` and ``dw export``: folders in and out of a repository."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import click

from dataworkflow.cli import progress as progress_bars
from dataworkflow.cli.context import Backend, pass_backend
from dataworkflow.cli.errors import Interrupted
from dataworkflow.cli.interrupt import DeferredInterrupt
from dataworkflow.cli.output import count, echo_json, format_size, quote_path, short_id
from dataworkflow.services.ignore import leaving_out, load_ignore_rule
from dataworkflow.services.repository import Repository
from dataworkflow.services.statcache import FileStatCache

if TYPE_CHECKING:
    from dataworkflow.cli.remote import RemoteRepository

_AUTHOR = re.compile(r"^\s*(?P<name>[^<>]*?)\s*<(?P<email>[^<>]*)>\s*$")
SKIPPED_SHOWN = 5
"""Skipped entries named in an import's warning; the rest are counted (``--json`` has all)."""


def nonblank(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    """The commit message, refused when it is empty or only white space (as git does)."""
    if not value.strip():
        raise click.BadParameter("the commit message is empty")
    return value


def parse_author(_ctx: click.Context, _param: click.Parameter, value: str | None) -> object:
    """``"Name <email>"`` as ``(name, email)``; a usage error otherwise."""
    if value is None:
        return None
    match = _AUTHOR.match(value)
    if match is None or not match["name"]:
        raise click.BadParameter('expected "Name <email>"')
    return match["name"], match["email"]


@click.command("import")
@click.argument(
    "local_dir", type=click.Path(exists=True, file_okay=False, path_type=Path), metavar="DIR"
)
@click.argument("repo")
@click.option("-b", "--branch", help="Branch to commit to [default: the default branch].")
@click.option("--path", default="", help="Mirror the folder at this path of the branch.")
@click.option(
    "-m", "--message", required=True, callback=nonblank, help="The commit message (not empty)."
)
@click.option(
    "--author",
    callback=parse_author,
    metavar='"NAME <EMAIL>"',
    help="[default: DW_AUTHOR_NAME and DW_AUTHOR_EMAIL, else your login name and user@host]",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@pass_backend
def import_(
    backend: Backend,
    local_dir: Path,
    repo: str,
    branch: str | None,
    path: str,
    message: str,
    author: tuple[str, str] | None,
    as_json: bool,
) -> None:
    """Make a branch (or --path in it) mirror the folder DIR, as one commit.

    New and changed files are stored, files gone from DIR are deleted in the commit, and
    nothing is committed when nothing changed. Files whose size and modification time
    are unchanged since the last import are not read again. A .dwignore file at the
    root of DIR leaves files out, with .gitignore syntax.

    A --branch that does not exist yet starts at the default branch's head. Symbolic
    links and special files are left out, with a warning that names them.

    Prints the commit id on stdout, and a summary on stderr.
    """
    repository = backend.any_repository(repo)
    name, email = author or backend.default_author()
    target = branch or repository.default_branch
    ignore = leaving_out(load_ignore_rule(local_dir), local_dir, backend.own_paths())
    with (
        DeferredInterrupt() as interrupt,
        FileStatCache.for_folder(backend.cache_dir(), local_dir) as cache,
        progress_bars.ImportProgress() as bars,
    ):
        if cache.warning:
            click.echo(f"warning: {cache.warning}", err=True)

        def progress(phase: str, files: int, size: int) -> None:
            interrupt.check()  # every report comes before the metadata is written
            bars(phase, files, size)

        try:
            result = repository.commit_folder(
                local_dir,
                target,
                message,
                path=path,
                author=name,
                author_email=email,
                ignore=ignore,
                stat_cache=cache,
                progress=progress,
                start_branch=repository.default_branch,
            )
        except KeyboardInterrupt:
            # Metadata is written in one transaction at the very end: nothing moved.
            raise Interrupted(f"interrupted; branch {target} unchanged") from None
        cache.save()
    if interrupt.requested:
        click.echo("warning: interrupted too late: the import had finished", err=True)
    if as_json:
        echo_json(
            {
                "commit": result.commit_id,
                "created": result.created,
                "branch": target,
                "tree": result.tree_id,
                "parent": result.parent_id,
                "files": bars.scanned_files,
                "bytes": bars.scanned_bytes,
                "files_stored": result.files_stored,
                "bytes_stored": result.bytes_stored,
                "skipped": [{"path": path, "reason": why} for path, why in result.skipped],
            }
        )
        return
    click.echo(result.commit_id)
    if result.skipped:
        named = ", ".join(f"{quote_path(p)} ({why})" for p, why in result.skipped[:SKIPPED_SHOWN])
        more = len(result.skipped) - SKIPPED_SHOWN
        what = count(
            len(result.skipped),
            "entry that is not a regular file",
            "entries that are not regular files",
        )
        click.echo(
            f"warning: left out {what}: {named}{f' and {more:,} more' if more > 0 else ''}",
            err=True,
        )
    folder = f"{count(bars.scanned_files, 'file')} ({format_size(bars.scanned_bytes)})"
    if result.created:
        click.echo(
            f"committed {short_id(result.commit_id)} to {target}: {folder},"
            f" {result.files_stored:,} new stored ({format_size(result.bytes_stored)})",
            err=True,
        )
    else:
        click.echo(
            f"nothing changed: {folder}; {target} stays at {short_id(result.commit_id)}",
            err=True,
        )


@click.command("export")
@click.argument("repo")
@click.argument("rev")
@click.argument("path_and_dest", nargs=-1, required=True, metavar="[PATH] DEST")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@pass_backend
def export(
    backend: Backend, repo: str, rev: str, path_and_dest: tuple[str, ...], as_json: bool
) -> None:
    """Write the tree of REV (or its PATH) to the folder DEST, verifying every file.

    DEST must be missing or empty. Each file is checked against its SHA-256 as it is
    written; entries that would land outside DEST are refused before anything is written.
    """
    if len(path_and_dest) > 2:
        raise click.UsageError("expected [PATH] DEST after REV")
    path, dest = ("", *path_and_dest)[-2:]
    repository = backend.any_repository(repo)
    enabled = progress_bars.stdout_is_terminal()
    totals = _export_totals(repository, rev, path) if enabled else (0, 0)
    try:
        with progress_bars.ExportProgress(*totals, enabled=enabled) as progress:
            stats = repository.export(rev, dest, path, progress=progress)
    except KeyboardInterrupt:
        raise Interrupted(f"interrupted; {dest} is incomplete") from None
    if as_json:
        echo_json(
            {
                "files": stats.files,
                "bytes": stats.bytes,
                "folders": stats.folders,
                "destination": str(Path(dest).resolve()),
            }
        )
        return
    click.echo(
        f"exported {count(stats.files, 'file')} ({format_size(stats.bytes)}) to {dest}", err=True
    )


def _export_totals(
    repository: Repository | RemoteRepository, rev: str, path: str
) -> tuple[int, int]:
    """Files and bytes an export will write (for the progress bar's ETA)."""
    top = repository.stat(rev, path)
    if top.entry.kind == "blob":
        return 1, top.size or 0
    files = size = 0
    for item in repository.walk(rev, path):
        if item.entry.kind == "blob":
            files += 1
            size += item.size or 0
    return files, size
