"""``dw search``: commits, file content, files by glob, and the history of a path.

The local CLI is an operator's tool: ``--all`` searches every repository, private ones
included. The content index is brought up to date (``catch_up``) before it is searched,
since no background indexer runs beside a command line.
"""

from __future__ import annotations

import re
from typing import Any

import click

from dataworkflow.cli.context import Backend, pass_backend
from dataworkflow.cli.output import echo_json, quote_path, short_id
from dataworkflow.errors import RevisionNotFound
from dataworkflow.services.installation import list_repositories
from dataworkflow.services.repository import Repository
from dataworkflow.services.search import (
    CommitHit,
    ContentHit,
    PathChange,
    catch_up,
    commit_hit_json,
    content_hit_json,
    find_paths,
    found_path_json,
    path_change_json,
    path_history,
    rebuild_index,
    search_commits,
    search_content,
)

_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")
_CHANGE_LETTER = {"added": "A", "modified": "M", "deleted": "D", "mode": "T", "renamed": "R"}


@click.command("search")
@click.argument("words", nargs=-1, metavar="[REPO|--all] QUERY")
@click.option("--all", "every", is_flag=True, help="Search every repository instead of REPO.")
@click.option("--commits", is_flag=True, help="Commits: messages, authors, metadata values.")
@click.option("--content", is_flag=True, help="The text of files at the head of each branch.")
@click.option("--paths", is_flag=True, help="QUERY is a glob (*, ?, **): the files it matches.")
@click.option("--history", is_flag=True, help="QUERY is a path: the commits that changed it.")
@click.option(
    "--rev",
    help="The revision for --paths and --history (default: the default branch);"
    " with --content, search only this branch.",
)
@click.option(
    "-n",
    "--max-count",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="Show at most this many results of each kind.",
)
@click.option("--reindex", is_flag=True, help="Rebuild the content index first.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@pass_backend
def search(
    backend: Backend,
    words: tuple[str, ...],
    every: bool,
    commits: bool,
    content: bool,
    paths: bool,
    history: bool,
    rev: str | None,
    max_count: int,
    reindex: bool,
    as_json: bool,
) -> None:
    """Search REPO (or every repository with --all) for QUERY.

    By default commits and file content are searched; every word must match, whole
    words rank first. --paths takes a glob ('*.parquet', 'data/**/x.csv'), --history a
    file's path (followed through renames).
    """
    repo, query = _split_words(words, every, optional_query=reindex)
    if (paths or history) and (commits or content or (paths and history)):
        raise click.UsageError("--paths and --history each go alone")
    if history and every:
        raise click.UsageError("--history needs a REPO, not --all")
    if rev is not None and not (paths or history or content):
        raise click.UsageError("--rev goes with --paths, --history or --content")
    db = backend.database()
    repository = backend.repository(repo) if repo is not None else None
    repository_id = repository.id if repository is not None else None
    if reindex:
        count = rebuild_index(
            db,
            backend.storage,
            repository_id=repository_id,
            max_file_bytes=backend.settings.search_max_file_bytes,
        )
        if query is None and as_json:
            echo_json({"indexed_branches": count})
            return
        click.echo(f"indexed {count} branch{'es' if count != 1 else ''}", err=True)
        if query is None:
            return
    assert query is not None
    if paths:
        _paths(backend, repository, query, rev, max_count, as_json)
        return
    if history:
        assert repository is not None
        _history(repository, query, rev, max_count, as_json)
        return
    if not commits and not content:
        commits = content = True
    readable = None if repository_id is None else {repository_id}
    commit_hits: list[CommitHit] = []
    content_hits: list[ContentHit] = []
    if commits:
        commit_hits = search_commits(db, query, repository_ids=readable, limit=max_count).items
    if content:
        catch_up(
            db,
            backend.storage,
            repository_id=repository_id,
            max_file_bytes=backend.settings.search_max_file_bytes,
        )
        content_hits = search_content(
            db, query, repository_ids=readable, branch=rev, limit=max_count
        ).items
    if as_json:
        document: dict[str, Any] = {"query": query}
        if commits:
            document["commits"] = [commit_hit_json(hit) for hit in commit_hits]
        if content:
            document["content"] = [content_hit_json(hit) for hit in content_hits]
        echo_json(document)
        return
    _print_hits(commit_hits, content_hits, both=commits and content)


def _split_words(
    words: tuple[str, ...], every: bool, *, optional_query: bool
) -> tuple[str | None, str | None]:
    """``(repository name or None for --all, query or None)`` from the arguments."""
    wanted = 1 if every else 2
    if optional_query and len(words) == wanted - 1:
        return (None if every else words[0]), None
    if len(words) != wanted:
        raise click.UsageError("give REPO and QUERY, or --all and QUERY")
    return (None, words[0]) if every else (words[0], words[1])


def _print_hits(commits: list[CommitHit], content: list[ContentHit], *, both: bool) -> None:
    if not commits and not content:
        click.echo("no matches", err=True)
        return
    if commits:
        if both:
            click.echo("Commits")
        for hit in commits:
            author = hit.commit.author
            click.echo(
                f"{hit.repository} {short_id(hit.id)} {_printable(hit.commit.title)}"
                f" ({_printable(author.name)}, {author.when.date().isoformat()})"
            )
    if content:
        if both:
            click.echo("\nContent" if commits else "Content")
        for number, found in enumerate(content):
            if number:
                click.echo()
            click.echo(f"{found.repository}:{found.branch}:{quote_path(found.path)}")
            previous = None
            for line in found.lines:
                if previous is not None and line.number != previous + 1:
                    click.echo("--")
                mark = ":" if line.match else "-"
                click.echo(f"{line.number}{mark}{_printable(line.text)}")
                previous = line.number


def _paths(
    backend: Backend,
    repository: Repository | None,
    pattern: str,
    rev: str | None,
    limit: int,
    as_json: bool,
) -> None:
    if repository is not None:
        repositories = [repository]
    else:
        db = backend.database()
        repositories = [
            Repository(db, backend.storage, info.name) for info in list_repositories(db)
        ]
    found: list[dict[str, Any]] = []
    truncated = False
    for item in repositories:
        try:
            result = find_paths(item, rev, pattern, limit)
        except RevisionNotFound:
            if repository is not None:
                raise
            continue  # with --all: a repository without that revision (or still empty)
        truncated = truncated or result.truncated
        found += [found_path_json(item.name, result.commit_id, entry) for entry in result.entries]
    if as_json:
        echo_json({"pattern": pattern, "paths": found, "truncated": truncated})
        return
    for entry in found:
        prefix = f"{entry['repository']}:" if repository is None else ""
        click.echo(prefix + quote_path(entry["path"]))
    if truncated:
        click.echo(f"(more files may match; showing at most {limit} per repository)", err=True)
    elif not found:
        click.echo("no matches", err=True)


def _history(repository: Repository, path: str, rev: str | None, limit: int, as_json: bool) -> None:
    changes: list[PathChange] = []
    cursor: str | None = None
    while len(changes) < limit:
        page = path_history(repository, path, rev, limit=limit - len(changes), cursor=cursor)
        changes += page.changes
        cursor = page.next_cursor
        if cursor is None:
            break
    if as_json:
        echo_json({"path": path, "history": [path_change_json(c) for c in changes]})
        return
    if not changes:
        click.echo("no matches", err=True)
    for change in changes:
        where = quote_path(change.path)
        if change.old_path is not None:
            where = f"{quote_path(change.old_path)} -> {where}"
        letter = _CHANGE_LETTER.get(change.kind, "?")
        click.echo(f"{short_id(change.id)} {letter} {where}  {_printable(change.commit.title)}")


def _printable(text: str) -> str:
    """Stored data is never markup, on a terminal either: no control characters."""
    return _CONTROL.sub("\N{REPLACEMENT CHARACTER}", text)
