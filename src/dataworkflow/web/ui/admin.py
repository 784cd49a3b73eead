"""Installation administration: the users of this installation.

Administrators create accounts here (sign-up is open only on an empty installation),
grant or take away the admin flag and disable or re-enable accounts. Disabling signs
the user out everywhere and refuses their tokens; the services refuse to remove the
last active administrator, and that refusal is shown, not raised.
"""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from dataworkflow.errors import DataWorkflowError
from dataworkflow.services.accounts import create_user, list_users, update_user
from dataworkflow.web.auth import access, principal
from dataworkflow.web.context import get_backend
from dataworkflow.web.ui import bp

ACTIONS: dict[str, tuple[str, bool, str]] = {
    "make-admin": ("admin", True, "{name} is now an administrator."),
    "unmake-admin": ("admin", False, "{name} is no longer an administrator."),
    "disable": ("disabled", True, "Disabled {name}: signed out everywhere, tokens refused."),
    "enable": ("disabled", False, "Enabled {name}."),
}
"""Each button of the user list: the flag it sets, to what, and what is flashed after."""


def _page(*, status: int = 200, error: str | None = None, form: Any = None) -> ResponseReturnValue:
    return render_template(
        "ui/admin_users.html",
        users=list_users(get_backend().db),
        me=principal().user,
        error=error,
        form=form if form is not None else {},
    ), status


@bp.route("/admin/users", methods=["GET", "POST"])
@access("site-admin")
def admin_users() -> ResponseReturnValue:
    """Every user with their flags; POST creates a user."""
    if request.method == "GET":
        return _page()
    form = request.form
    if form.get("password", "") != form.get("confirm", ""):
        return _page(status=400, error="The passwords differ.", form=form)
    try:
        user = create_user(
            get_backend().db,
            form.get("username", ""),
            email=form.get("email", ""),
            password=form.get("password", ""),
            display_name=form.get("display_name", ""),
            admin=form.get("admin") == "on",
        )
    except DataWorkflowError as error:
        return _page(status=400, error=str(error), form=form)
    flash(f"Created user {user.username}.", "success")
    return redirect(url_for("ui.admin_users"), 303)


@bp.post("/admin/users/update")
@access("site-admin")
def admin_update_user() -> ResponseReturnValue:
    """Make or unmake an administrator, disable or enable an account."""
    username = request.form.get("username", "")
    action = ACTIONS.get(request.form.get("action", ""))
    if action is None:
        flash("Unknown action.", "error")
        return redirect(url_for("ui.admin_users"), 303)
    flag, value, done = action
    try:
        if flag == "admin":
            user = update_user(get_backend().db, username, admin=value)
        else:
            user = update_user(get_backend().db, username, disabled=value)
    except DataWorkflowError as error:
        flash(str(error), "error")
    else:
        flash(done.format(name=user.username), "success")
    return redirect(url_for("ui.admin_users"), 303)
