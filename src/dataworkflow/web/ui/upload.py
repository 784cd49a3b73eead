"""Uploading files from the browser: a commit like any other, streamed to storage."""

from __future__ import annotations

from typing import BinaryIO, cast

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from dataworkflow.core.names import split_path, validate_name
from dataworkflow.errors import DataWorkflowError, InvalidInput, NotAFile, PathNotFound
from dataworkflow.services.changes import Put
from dataworkflow.web.auth import access
from dataworkflow.web.errors import status_for
from dataworkflow.web.ui import bp
from dataworkflow.web.ui._common import Location, locate, refs_context

MAX_FILES = 1000


@bp.route("/<repo_name>/upload/<path:rev_and_path>", methods=["GET", "POST"])
@access("write")
def upload(repo_name: str, rev_and_path: str) -> ResponseReturnValue:
    """Form to add or replace files in a folder of a branch; POST commits them."""
    loc = locate(repo_name, rev_and_path)
    if not loc.is_branch:
        raise InvalidInput(f"{loc.rev!r} is not a branch; uploads go to a branch")
    if loc.path and _is_file(loc):
        raise NotAFile(f"{loc.path!r} is a file, not a folder; upload into its folder")
    error, status = None, 200
    if request.method == "POST":
        try:
            # The head the form was shown on: a commit made since then is a conflict.
            head = request.form.get("head") or loc.commit.id
            result = _commit_upload(loc.repo, loc.rev, loc.path, head)
        except DataWorkflowError as exc:
            error, status = str(exc), status_for(exc)
        else:
            flash(
                f"Committed {result.commit_id[:10] if result.commit_id else ''}."
                if result.created
                else "Nothing changed: the files were already there.",
                "success",
            )
            target = f"{loc.rev}/{loc.path}" if loc.path else loc.rev
            return redirect(url_for("ui.tree", repo_name=repo_name, rev_and_path=target)), 303
    return render_template(
        "ui/upload.html", loc=loc, error=error, form=request.form, **refs_context(loc.repo)
    ), status


def _is_file(loc: Location) -> bool:
    try:
        return loc.repo.stat(loc.commit.id, loc.path).entry.kind == "blob"
    except PathNotFound:
        return False  # a new folder: the commit creates it


def _commit_upload(repo, branch: str, folder: str, head: str):  # type: ignore[no-untyped-def]
    files = [f for f in request.files.getlist("files") if f.filename]
    message = request.form.get("message", "").strip()
    if not files:
        raise InvalidInput("choose at least one file to upload")
    if len(files) > MAX_FILES:
        raise InvalidInput(f"upload at most {MAX_FILES} files at once")
    if not message:
        raise InvalidInput("write a commit message")
    prefix = split_path(folder)
    subfolder = split_path(request.form.get("subfolder", "").strip())
    changes = []
    for storage_file in files:
        # Browsers send only the base name; anything else is refused, not cleaned up.
        name = validate_name(storage_file.filename or "")
        path = "/".join((*prefix, *subfolder, name))
        changes.append(Put(path, cast(BinaryIO, storage_file.stream)))
    author = request.form.get("author", "").strip() or "Web upload"
    return repo.commit(
        branch,
        changes,
        message,
        author=author,
        author_email=request.form.get("email", "").strip() or "web@localhost",
        expected_head=head,
    )
