"""``dw branch create|list|delete`` and ``dw tag create|list|delete``."""

from __future__ import annotations

import click

from dataworkflow.cli.context import Backend, pass_backend
from dataworkflow.cli.output import echo_json, short_id

json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")


@click.group("branch")
def branch_group() -> None:
    """Create, list and delete branches."""


@branch_group.command("create")
@click.argument("repo")
@click.argument("name")
@click.option("--from", "from_rev", metavar="REV", help="[default: the default branch]")
@pass_backend
def create_branch(backend: Backend, repo: str, name: str, from_rev: str | None) -> None:
    """Create branch NAME at REV."""
    commit_id = backend.repository(repo).create_branch(name, from_rev)
    click.echo(f"created branch {name} at {short_id(commit_id)}")


@branch_group.command("list")
@click.argument("repo")
@json_option
@pass_backend
def list_branches(backend: Backend, repo: str, as_json: bool) -> None:
    """List the branches; * marks the default branch."""
    repository = backend.repository(repo)
    branches = repository.list_branches()
    if as_json:
        echo_json(
            [
                {"name": name, "commit": commit_id, "default": name == repository.default_branch}
                for name, commit_id in branches
            ]
        )
        return
    width = max((len(name) for name, _ in branches), default=0)
    for name, commit_id in branches:
        marker = "*" if name == repository.default_branch else " "
        click.echo(f"{marker} {name:<{width}} {commit_id}")


@branch_group.command("delete")
@click.argument("repo")
@click.argument("name")
@pass_backend
def delete_branch(backend: Backend, repo: str, name: str) -> None:
    """Delete branch NAME (not the default branch)."""
    commit_id = backend.repository(repo).delete_branch(name)
    click.echo(f"deleted branch {name} (was {short_id(commit_id)})")


@click.group("tag")
def tag_group() -> None:
    """Create, list and delete tags."""


@tag_group.command("create")
@click.argument("repo")
@click.argument("name")
@click.option("--from", "from_rev", metavar="REV", help="[default: the default branch]")
@click.option("-f", "--force", is_flag=True, help="Move the tag if it exists.")
@pass_backend
def create_tag(backend: Backend, repo: str, name: str, from_rev: str | None, force: bool) -> None:
    """Tag REV as NAME; an existing tag moves only with --force."""
    commit_id = backend.repository(repo).create_tag(name, from_rev, force=force)
    click.echo(f"created tag {name} at {short_id(commit_id)}")


@tag_group.command("list")
@click.argument("repo")
@json_option
@pass_backend
def list_tags(backend: Backend, repo: str, as_json: bool) -> None:
    """List the tags, by name."""
    tags = backend.repository(repo).list_tags()
    if as_json:
        echo_json([{"name": name, "commit": commit_id} for name, commit_id in tags])
        return
    width = max((len(name) for name, _ in tags), default=0)
    for name, commit_id in tags:
        click.echo(f"{name:<{width}} {commit_id}")


@tag_group.command("delete")
@click.argument("repo")
@click.argument("name")
@pass_backend
def delete_tag(backend: Backend, repo: str, name: str) -> None:
    """Delete tag NAME."""
    commit_id = backend.repository(repo).delete_tag(name)
    click.echo(f"deleted tag {name} (was {short_id(commit_id)})")
