"""``dw merge``, ``dw revert`` and ``dw cherry-pick``: history operations with conflicts."""

from __future__ import annotations

from typing import Any

import click

from dataworkflow.cli.context import Backend, pass_backend
from dataworkflow.cli.errors import CliError
from dataworkflow.cli.output import echo_json, short_id
from dataworkflow.cli.transfer import parse_author
from dataworkflow.services.merge import Conflict
from dataworkflow.services.merging import MergeOutcome, cherry_pick, merge_branch, revert

EXIT_CONFLICTS = 1

strategy_option = click.option(
    "--strategy",
    type=click.Choice(["ours", "theirs"]),
    default=None,
    help="Resolve every conflict to one side instead of stopping.",
)
author_option = click.option(
    "--author", callback=parse_author, metavar='"NAME <EMAIL>"', help="Who made the commit."
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")


def _conflict_json(conflict: Conflict) -> dict[str, Any]:
    def side(entry: Any) -> dict[str, str] | None:
        return None if entry is None else {"id": entry.id, "mode": entry.mode.value}

    return {
        "path": conflict.path,
        "kind": conflict.kind,
        "base": side(conflict.base),
        "ours": side(conflict.ours),
        "theirs": side(conflict.theirs),
    }


def _report(outcome: MergeOutcome, as_json: bool, what: str) -> None:
    if as_json:
        echo_json(
            {
                "status": outcome.status,
                "commit": outcome.commit_id,
                "target": outcome.target,
                "bases": outcome.bases,
                "conflicts": [_conflict_json(c) for c in outcome.conflicts],
            }
        )
    elif outcome.status == "conflicts":
        for conflict in outcome.conflicts:
            click.echo(f"CONFLICT ({conflict.kind}): {conflict.path}")
    elif outcome.status == "up-to-date":
        click.echo("already up to date")
    else:
        verb = "fast-forwarded to" if outcome.status == "fast-forward" else what
        click.echo(f"{verb} {outcome.commit_id}")
    if outcome.status == "conflicts":
        raise CliError(
            f"{len(outcome.conflicts)} conflict(s); nothing was changed. "
            "Use --strategy ours|theirs, or resolve them and retry."
        )


@click.command()
@click.argument("repo")
@click.argument("source")
@click.option("--into", "target", required=True, metavar="BRANCH", help="The branch to merge into.")
@click.option("-m", "--message", help="Message of the merge commit.")
@click.option(
    "--no-ff", is_flag=True, help="Make a merge commit even when a fast-forward would do."
)
@strategy_option
@author_option
@json_option
@pass_backend
def merge(
    backend: Backend,
    repo: str,
    source: str,
    target: str,
    message: str | None,
    no_ff: bool,
    strategy: str | None,
    author: tuple[str, str] | None,
    as_json: bool,
) -> None:
    """Merge revision SOURCE into branch --into; conflicts stop it unless --strategy."""
    name, email = author or backend.default_author()
    outcome = merge_branch(
        backend.repository(repo),
        source,
        target,
        message=message,
        strategy=strategy,  # type: ignore[arg-type]
        author=name,
        author_email=email,
        fast_forward=not no_ff,
    )
    _report(outcome, as_json, "merged as")


@click.command("revert")
@click.argument("repo")
@click.argument("rev")
@click.option("--branch", metavar="BRANCH", help="[default: the default branch]")
@click.option(
    "--mainline",
    type=click.IntRange(1),
    default=1,
    show_default=True,
    help="Parent of a merge commit to revert against.",
)
@click.option("-m", "--message", help="Message of the new commit.")
@strategy_option
@author_option
@json_option
@pass_backend
def revert_command(
    backend: Backend,
    repo: str,
    rev: str,
    branch: str | None,
    mainline: int,
    message: str | None,
    strategy: str | None,
    author: tuple[str, str] | None,
    as_json: bool,
) -> None:
    """Add a commit to BRANCH that undoes commit REV."""
    repository = backend.repository(repo)
    name, email = author or backend.default_author()
    outcome = revert(
        repository,
        rev,
        branch or repository.default_branch,
        mainline=mainline,
        message=message,
        strategy=strategy,  # type: ignore[arg-type]
        author=name,
        author_email=email,
    )
    _report(outcome, as_json, "reverted as")


@click.command("cherry-pick")
@click.argument("repo")
@click.argument("rev")
@click.option("--onto", required=True, metavar="BRANCH", help="The branch to apply the commit to.")
@click.option(
    "--mainline",
    type=click.IntRange(1),
    default=1,
    show_default=True,
    help="Parent of a merge commit to compare with.",
)
@click.option("-m", "--message", help="Message of the new commit.")
@strategy_option
@author_option
@json_option
@pass_backend
def cherry_pick_command(
    backend: Backend,
    repo: str,
    rev: str,
    onto: str,
    mainline: int,
    message: str | None,
    strategy: str | None,
    author: tuple[str, str] | None,
    as_json: bool,
) -> None:
    """Apply the change commit REV made onto branch --onto, as a new commit."""
    name, email = author or backend.default_author()
    outcome = cherry_pick(
        backend.repository(repo),
        rev,
        onto,
        mainline=mainline,
        message=message,
        strategy=strategy,  # type: ignore[arg-type]
        author=name,
        author_email=email,
    )
    _report(outcome, as_json, f"picked {short_id(rev) if len(rev) == 64 else rev} as")
