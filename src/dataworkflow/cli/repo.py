"""``dw repo create|list|show|delete``: the repositories of an installation."""

from __future__ import annotations

import sys

import click

from dataworkflow.cli.context import Backend, pass_backend
from dataworkflow.cli.errors import CliError
from dataworkflow.cli.output import echo_json, repository_json
from dataworkflow.services import installation

json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")


@click.group("repo")
def repo_group() -> None:
    """Create, list, show and delete repositories."""


@repo_group.command("create")
@click.argument("name")
@click.option("--private", is_flag=True, help="Only users with access can read it.")
@click.option("--description", default="", help="A one-line description.")
@click.option(
    "--default-branch",
    default=installation.DEFAULT_BRANCH,
    show_default=True,
    help="The branch imports and reads use when none is named.",
)
@json_option
@pass_backend
def create(
    backend: Backend,
    name: str,
    private: bool,
    description: str,
    default_branch: str,
    as_json: bool,
) -> None:
    """Create an empty repository NAME."""
    info = installation.create_repository(
        backend.database(),
        name,
        description=description,
        default_branch=default_branch,
        private=private,
    )
    if as_json:
        echo_json(repository_json(info))
    else:
        click.echo(f"created repository {info.name} (default branch {info.default_branch})")


@repo_group.command("list")
@json_option
@pass_backend
def list_(backend: Backend, as_json: bool) -> None:
    """List the repositories, by name."""
    infos = (
        backend.client().list_repositories()
        if backend.remote
        else installation.list_repositories(backend.database())
    )
    if as_json:
        echo_json([repository_json(info) for info in infos])
        return
    width = max((len(info.name) for info in infos), default=0)
    for info in infos:
        visibility = "private" if info.private else "public"
        line = f"{info.name:<{width}}  {visibility:<7}  {info.default_branch}"
        click.echo(f"{line}  {info.description}" if info.description else line)


@repo_group.command("show")
@click.argument("name")
@json_option
@pass_backend
def show(backend: Backend, name: str, as_json: bool) -> None:
    """Show a repository's settings."""
    info = (
        backend.client().get_repository(name)
        if backend.remote
        else installation.get_repository_info(backend.database(), name)
    )
    if as_json:
        echo_json(repository_json(info))
        return
    click.echo(f"name:           {info.name}")
    click.echo(f"description:    {info.description}")
    click.echo(f"default branch: {info.default_branch}")
    click.echo(f"visibility:     {'private' if info.private else 'public'}")
    if info.created_at is not None:
        click.echo(f"created:        {info.created_at.isoformat()}")


def stdin_is_terminal() -> bool:
    """Whether a person could answer a confirmation prompt."""
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


@repo_group.command("delete")
@click.argument("name")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@pass_backend
def delete(backend: Backend, name: str, yes: bool) -> None:
    """Delete repository NAME: its branches, tags, history and trees.

    File bytes are shared by content across repositories; those no longer referenced are
    reclaimed by garbage collection.
    """
    db = backend.database()
    installation.get_repository_info(db, name)  # an unknown name fails before the prompt
    if not yes:
        if not stdin_is_terminal():
            raise CliError(f"refusing to delete repository {name!r} without --yes")
        click.confirm(f"Delete repository {name!r} and all of its history?", abort=True)
    installation.delete_repository(db, name)
    click.echo(f"deleted repository {name}")
