"""Who may do what, and what happened to the refs: roles, visibility, protection, ref log.

``dw repo grant|revoke|access|visibility`` and ``dw branch protect|unprotect|protected``
join the ``repo`` and ``branch`` groups from here, so each group's module keeps to its
own concern; ``dw reflog`` is a command of its own. Like the other local commands they
act on the database directly, as the installation's operator.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import click

from dataworkflow.cli.context import Backend, pass_backend
from dataworkflow.cli.output import echo_json, echo_json_array, short_id
from dataworkflow.cli.refs import branch_group
from dataworkflow.cli.repo import repo_group
from dataworkflow.cli.users import iso_time
from dataworkflow.core.names import (
    BRANCH_PREFIX,
    TAG_PREFIX,
    branch_pattern_matches,
    branch_ref,
    tag_ref,
)
from dataworkflow.errors import NotFound, RefNotFound
from dataworkflow.metadata.refs import RefLogEntry
from dataworkflow.services import access, installation
from dataworkflow.services.repository import Repository

json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")

REFLOG_PAGE = 500
"""Ref log entries fetched per query: the log is read in pages, never whole."""


# --- roles and visibility --------------------------------------------------------------


@repo_group.command("grant")
@click.argument("repo")
@click.argument("user")
@click.argument("role", type=click.Choice(access.ROLES))
@pass_backend
def grant(backend: Backend, repo: str, user: str, role: str) -> None:
    """Give USER the ROLE read, write or admin on REPO (replacing any role they had)."""
    db = backend.database()
    info = installation.get_repository_info(db, repo)
    granted = access.grant(db, info.id, user, role)
    click.echo(f"granted {granted.role} on {info.name} to {granted.user.username}")


@repo_group.command("revoke")
@click.argument("repo")
@click.argument("user")
@pass_backend
def revoke(backend: Backend, repo: str, user: str) -> None:
    """Take USER's role on REPO away (public repositories stay readable to them)."""
    db = backend.database()
    info = installation.get_repository_info(db, repo)
    access.revoke(db, info.id, user)
    click.echo(f"revoked the role of {user.lower()} on {info.name}")


@repo_group.command("access")
@click.argument("repo")
@json_option
@pass_backend
def show_access(backend: Backend, repo: str, as_json: bool) -> None:
    """Show who may read REPO and the roles granted on it, by username."""
    db = backend.database()
    info = installation.get_repository_info(db, repo)
    found = access.grants(db, info.id)
    visibility = "private" if info.private else "public"
    if as_json:
        echo_json(
            {
                "repository": info.name,
                "visibility": visibility,
                "private": info.private,
                "grants": [{"user": g.user.username, "role": g.role} for g in found],
            }
        )
        return
    readers = "administrators and the users below" if info.private else "everyone, signed in or not"
    click.echo(f"visibility: {visibility} (readable by {readers})")
    if not found:
        click.echo("no roles granted")
    width = max((len(g.user.username) for g in found), default=0)
    for item in found:
        disabled = "  (disabled)" if item.user.disabled else ""
        click.echo(f"{item.user.username:<{width}}  {item.role}{disabled}")


@repo_group.command("visibility")
@click.argument("repo")
@click.argument("visibility", type=click.Choice(["public", "private"]))
@pass_backend
def set_visibility(backend: Backend, repo: str, visibility: str) -> None:
    """Make REPO public (anyone may read it) or private (only users with a role)."""
    info = installation.update_repository(backend.database(), repo, private=visibility == "private")
    click.echo(f"repository {info.name} is now {visibility}")


# --- protected branches ----------------------------------------------------------------


@branch_group.command("protect")
@click.argument("repo")
@click.argument("pattern")
@pass_backend
def protect(backend: Backend, repo: str, pattern: str) -> None:
    """Protect branches matching PATTERN: only merges move them.

    `*` matches within one `/`-separated part, `**` across parts: `release/*` covers
    `release/1.0` but not `release/1.0/fix`. Direct commits, reverts, cherry-picks,
    force moves and deletion of a protected branch are refused.
    """
    if backend.repository(repo).protect_branches(pattern):
        click.echo(f"protected branches matching {pattern!r} in {repo}")
    else:
        click.echo(f"branches matching {pattern!r} in {repo} were protected already")


@branch_group.command("unprotect")
@click.argument("repo")
@click.argument("pattern")
@pass_backend
def unprotect(backend: Backend, repo: str, pattern: str) -> None:
    """Remove the protection pattern PATTERN (exactly as `dw branch protected` lists it)."""
    if not backend.repository(repo).unprotect_branches(pattern):
        raise NotFound(f"no protection pattern {pattern!r} in {repo}")
    click.echo(f"removed the protection of branches matching {pattern!r} in {repo}")


@branch_group.command("protected")
@click.argument("repo")
@json_option
@pass_backend
def list_protected(backend: Backend, repo: str, as_json: bool) -> None:
    """List the protection patterns and the branches each one covers now."""
    repository = backend.repository(repo)
    patterns = repository.protected_branches()
    branches = [name for name, _ in repository.list_branches()] if patterns else []
    covered = {
        pattern: [name for name in branches if branch_pattern_matches(pattern, name)]
        for pattern in patterns
    }
    if as_json:
        echo_json([{"pattern": p, "branches": names} for p, names in covered.items()])
        return
    width = max((len(pattern) for pattern in patterns), default=0)
    for pattern, names in covered.items():
        click.echo(f"{pattern:<{width}}  {', '.join(names) or '(no branch yet)'}")


# --- ref log ---------------------------------------------------------------------------


def _log_ref(repository: Repository, ref: str | None) -> str | None:
    """The full ref name REF stands for: a branch, else a tag, else a full name.

    A short name is looked up in the log rather than among current refs, so a deleted
    branch's history can still be read.

    Raises:
        RefNotFound: if no branch or tag of that name ever moved.
    """
    if ref is None:
        return None
    if ref.startswith("refs/"):
        candidates = [ref]
    else:
        candidates = [branch_ref(ref), tag_ref(ref)]
    for full in candidates:
        if repository.ref_log(full, limit=1):
            return full
    raise RefNotFound(ref)


def _iter_log(
    repository: Repository, ref: str | None, limit: int | None
) -> Iterator[list[RefLogEntry]]:
    """Pages of the ref log, newest first, ``limit`` entries at most in all."""
    before: int | None = None
    remaining = limit
    while remaining is None or remaining > 0:
        size = REFLOG_PAGE if remaining is None else min(REFLOG_PAGE, remaining)
        page = repository.ref_log(ref, before=before, limit=size)
        if not page:
            return
        yield page
        if remaining is not None:
            remaining -= len(page)
        if len(page) < size:
            return
        before = page[-1].id


def reflog_json(entry: RefLogEntry) -> dict[str, Any]:
    """One movement of a ref: ``old`` is null on creation, ``new`` on deletion."""
    return {
        "id": entry.id,
        "at": iso_time(entry.at),
        "actor": entry.actor,
        "reason": entry.reason,
        "ref": entry.ref,
        "old": entry.old,
        "new": entry.new,
        "message": entry.message,
    }


def _when(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _shown_ref(ref: str) -> str:
    """Branches by short name, tags as ``tag:NAME`` (``:`` cannot occur in a ref name)."""
    if ref.startswith(TAG_PREFIX):
        return "tag:" + ref.removeprefix(TAG_PREFIX)
    return ref.removeprefix(BRANCH_PREFIX)


@click.command("reflog")
@click.argument("repo")
@click.argument("ref", required=False)
@click.option(
    "-n",
    "--max-count",
    "limit",
    metavar="N",
    type=click.IntRange(min=1),
    help="Show at most N movements.",
)
@json_option
@pass_backend
def reflog(backend: Backend, repo: str, ref: str | None, limit: int | None, as_json: bool) -> None:
    """Show how refs moved, newest first: when, who, why, which ref, old -> new.

    REF is a branch, else a tag of that name, or a full ref name; without it every
    ref's movements are shown. Force moves and deletions keep the commit the ref
    pointed at before, so nothing is lost track of.
    """
    repository = backend.repository(repo)
    pages = _iter_log(repository, _log_ref(repository, ref), limit)
    if as_json:
        echo_json_array(reflog_json(entry) for page in pages for entry in page)
        return
    for page in pages:
        actor_width = max(len(entry.actor) for entry in page)
        ref_width = max(len(_shown_ref(entry.ref)) for entry in page)
        for entry in page:
            message = entry.message.split("\n", 1)[0]
            line = (
                f"{_when(entry.at)}  {entry.actor:<{actor_width}}  {entry.reason:<11}  "
                f"{_shown_ref(entry.ref):<{ref_width}}  "
                f"{short_id(entry.old):<12} -> {short_id(entry.new):<12}  {message}"
            )
            click.echo(line.rstrip())
