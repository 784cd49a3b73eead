"""Creating a repository from the browser; its creator administers it."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from dataworkflow.errors import DataWorkflowError
from dataworkflow.services import access as access_service
from dataworkflow.services.installation import (
    DEFAULT_BRANCH,
    create_repository,
    delete_repository,
)
from dataworkflow.web.auth import access, principal
from dataworkflow.web.context import get_backend
from dataworkflow.web.ui import bp


@bp.route("/new", methods=["GET", "POST"])
@access("user")
def new_repository() -> ResponseReturnValue:
    """The form; POST creates the repository and grants its creator ``admin`` on it."""
    form = request.form
    if request.method == "GET":
        return render_template("ui/new_repo.html", form=form, error=None, default=DEFAULT_BRANCH)
    db = get_backend().db
    caller = principal()
    try:
        info = create_repository(
            db,
            form.get("name", "").strip(),
            description=form.get("description", "").strip(),
            default_branch=form.get("default_branch", "").strip() or DEFAULT_BRANCH,
            private=form.get("private") == "on",
        )
    except DataWorkflowError as error:
        page = render_template(
            "ui/new_repo.html", form=form, error=str(error), default=DEFAULT_BRANCH
        )
        return page, 400
    # Installation admins hold admin everywhere already; a grant would only be clutter.
    if caller.user is not None and not caller.is_admin:
        try:
            access_service.grant(db, info.id, caller.user.username, "admin")
        except BaseException:
            # Without the grant a private repository would be lost to its own creator.
            delete_repository(db, info.name)
            raise
    flash(f"Created repository {info.name}.", "success")
    return redirect(url_for("ui.repo_home", repo_name=info.name), 303)
