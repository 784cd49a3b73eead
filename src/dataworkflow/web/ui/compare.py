"""Compare two revisions (commits and data-aware file diffs) and merge from the page."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from dataworkflow.core.names import check_ref_format
from dataworkflow.errors import DataWorkflowError, InvalidInput
from dataworkflow.services.compare import compare as compare_revisions
from dataworkflow.services.content_diff import FileDiff, diff_file
from dataworkflow.services.diff import Change
from dataworkflow.services.merging import merge_branch
from dataworkflow.services.repository import Repository
from dataworkflow.web.auth import access
from dataworkflow.web.context import get_backend, get_repository
from dataworkflow.web.ui import bp
from dataworkflow.web.ui._common import refs_context

MAX_FILE_DIFFS = 50
"""Files whose content diff is shown inline; the rest are listed with their status."""


def split_spec(spec: str) -> tuple[str, str]:
    """``base...head`` into its two revisions (``...`` cannot occur in a ref name).

    Raises:
        InvalidInput: if the spec is not of that form.
    """
    base, sep, head = spec.partition("...")
    if not sep or not base or not head or len(spec) > 1000:
        raise InvalidInput("compare two revisions as BASE...HEAD")
    return base, head


def parse_key(raw: str | None) -> list[str]:
    """``?key=id,date`` into column names."""
    if not raw:
        return []
    columns = [c.strip() for c in raw.split(",") if c.strip()]
    if len(columns) > 20 or any(len(c) > 200 for c in columns):
        raise InvalidInput("at most 20 key columns of at most 200 characters")
    return columns


def file_diffs(
    repo: Repository, changes: list[Change], key: list[str]
) -> list[tuple[Change, FileDiff | None]]:
    """Content diffs of the first ``MAX_FILE_DIFFS`` changes (sizes in one query)."""
    ids = [e.id for c in changes[:MAX_FILE_DIFFS] for e in (c.old, c.new) if e is not None]
    sizes = repo.blob_sizes(ids)
    storage = get_backend().storage
    result: list[tuple[Change, FileDiff | None]] = []
    for number, change in enumerate(changes):
        if number >= MAX_FILE_DIFFS:
            result.append((change, None))
            continue
        old_id = change.old.id if change.old else None
        new_id = change.new.id if change.new else None
        result.append(
            (
                change,
                diff_file(
                    storage.open,
                    change.path,
                    old_id,
                    new_id,
                    sizes.get(old_id) if old_id else None,
                    sizes.get(new_id) if new_id else None,
                    key,
                ),
            )
        )
    return result


@bp.route("/<repo_name>/compare/<path:spec>", methods=["GET"])
@access("read")
def compare(repo_name: str, spec: str) -> ResponseReturnValue:
    """Commits on ``head`` that ``base`` lacks, and what they changed inside each file."""
    repo = get_repository(repo_name)
    base, head = split_spec(spec)
    key = parse_key(request.args.get("key"))
    view = "split" if request.args.get("view") == "split" else "unified"
    comparison = compare_revisions(repo, base, head)
    return render_template(
        "ui/compare.html",
        repo=repo,
        base=base,
        head=head,
        comparison=comparison,
        diffs=file_diffs(repo, comparison.changes, key),
        key=",".join(key),
        view=view,
        can_merge=_is_branch(repo, base),
        conflicts=[],
        **refs_context(repo),
    )


@bp.post("/<repo_name>/compare/<path:spec>/merge")
@access("write")
def merge(repo_name: str, spec: str) -> ResponseReturnValue:
    """Merge ``head`` into branch ``base``; with conflicts, show them and change nothing."""
    repo = get_repository(repo_name)
    base, head = split_spec(spec)
    check_ref_format(base)
    if not _is_branch(repo, base):
        raise InvalidInput(f"{base!r} is not a branch; merges go into a branch")
    message = request.form.get("message", "").strip() or None
    try:
        outcome = merge_branch(
            repo,
            head,
            base,
            message=message,
            author=request.form.get("author", "").strip() or "Web merge",
            author_email="web@localhost",
        )
    except DataWorkflowError as error:
        flash(str(error), "error")
        return redirect(url_for("ui.compare", repo_name=repo_name, spec=spec)), 303
    if outcome.status == "conflicts":
        comparison = compare_revisions(repo, base, head)
        context: dict[str, Any] = dict(
            repo=repo,
            base=base,
            head=head,
            comparison=comparison,
            diffs=file_diffs(repo, comparison.changes, []),
            key="",
            view="unified",
            can_merge=True,
            conflicts=outcome.conflicts,
        )
        return render_template("ui/compare.html", **context, **refs_context(repo)), 409
    if outcome.status == "up-to-date":
        flash(f"{base} already contains {head}.", "success")
    else:
        flash(f"Merged {head} into {base}.", "success")
    assert outcome.commit_id is not None
    return redirect(url_for("ui.commit", repo_name=repo_name, rev=outcome.commit_id)), 303


def _is_branch(repo: Repository, name: str) -> bool:
    return any(branch == name for branch, _ in repo.list_branches())
