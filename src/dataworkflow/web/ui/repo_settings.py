"""A repository's settings: details, visibility, collaborators, protected branches, deletion.

Also home of ``repo_role``, the Jinja global every page uses to show only the buttons
and forms the caller may use (the server refuses the rest anyway: this is about not
offering what will not work). It is a global rather than a context variable so that
macros imported from ``_macros.html``, which do not see the page's context, can use it.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import flash, g, redirect, render_template, request, url_for
from flask.blueprints import BlueprintSetupState
from flask.typing import ResponseReturnValue
from werkzeug.datastructures import MultiDict

from dataworkflow.core.names import branch_pattern_matches
from dataworkflow.errors import DataWorkflowError, RepositoryNotFound
from dataworkflow.services import access as access_service
from dataworkflow.services.installation import (
    RepositoryInfo,
    delete_repository,
    get_repository_info,
    update_repository,
)
from dataworkflow.web.auth import access, principal
from dataworkflow.web.context import get_backend, get_repository
from dataworkflow.web.ui import bp

Form = MultiDict[str, str]


def repo_role(repo_name: str) -> str | None:
    """The caller's role on a repository (None: they may not see it), once per request."""
    cache: dict[str, str | None] = g.setdefault("repo_roles", {})
    if repo_name not in cache:
        db = get_backend().db
        info: RepositoryInfo | None = g.get("repository_info")
        try:
            if info is None or info.name != repo_name:
                info = get_repository_info(db, repo_name)
        except RepositoryNotFound:
            cache[repo_name] = None
        else:
            cache[repo_name] = access_service.role_on(db, principal(), info)
    return cache[repo_name]


def _register_globals(state: BlueprintSetupState) -> None:
    state.app.jinja_env.globals["repo_role"] = repo_role


bp.record_once(_register_globals)


# --- the page ---------------------------------------------------------------------------


def _back(repo_name: str, section: str) -> ResponseReturnValue:
    anchor = section or None
    return redirect(url_for("ui.repo_settings", repo_name=repo_name, _anchor=anchor), 303)


def _fail(repo_name: str, section: str, message: str) -> ResponseReturnValue:
    flash(message, "error")
    return _back(repo_name, section)


def _done(repo_name: str, section: str, message: str) -> ResponseReturnValue:
    flash(message, "success")
    return _back(repo_name, section)


@bp.route("/<repo_name>/settings", methods=["GET", "POST"])
@access("admin")
def repo_settings(repo_name: str) -> ResponseReturnValue:
    """The settings page; each of its forms posts here with an ``action``."""
    if request.method == "POST":
        handler = _ACTIONS.get(request.form.get("action", ""))
        if handler is None:
            return _fail(repo_name, "", "Unknown action.")
        return handler(repo_name, request.form)
    db = get_backend().db
    repo = get_repository(repo_name)
    info = get_repository_info(db, repo_name)
    branches = [name for name, _ in repo.list_branches()]
    patterns = [
        (pattern, [name for name in branches if branch_pattern_matches(pattern, name)])
        for pattern in repo.protected_branches()
    ]
    return render_template(
        "ui/repo_settings.html",
        repo=repo,
        info=info,
        branches=branches,
        grants=access_service.grants(db, info.id),
        roles=access_service.ROLES,
        patterns=patterns,
    )


def _update(repo_name: str, form: Form) -> ResponseReturnValue:
    """Description, default branch and visibility, in one change."""
    visibility = form.get("visibility", "")
    if visibility not in ("public", "private"):
        return _fail(repo_name, "general", "Choose public or private.")
    try:
        update_repository(
            get_backend().db,
            repo_name,
            description=form.get("description", "").strip(),
            default_branch=form.get("default_branch", "").strip() or None,
            private=visibility == "private",
        )
    except DataWorkflowError as error:
        return _fail(repo_name, "general", str(error))
    return _done(repo_name, "general", "Saved the repository settings.")


def _grant(repo_name: str, form: Form) -> ResponseReturnValue:
    """Add a collaborator, or change the role of one."""
    db = get_backend().db
    username = form.get("username", "").strip()
    if not username:
        return _fail(repo_name, "collaborators", "Give the username of the collaborator.")
    try:
        given = access_service.grant(
            db, get_repository_info(db, repo_name).id, username, form.get("role", "")
        )
    except DataWorkflowError as error:
        return _fail(repo_name, "collaborators", str(error))
    message = f"{given.user.username} now has {given.role} access."
    return _after_role_change(repo_name, message)


def _revoke(repo_name: str, form: Form) -> ResponseReturnValue:
    """Remove a collaborator's role (public repositories stay readable to them)."""
    db = get_backend().db
    username = form.get("username", "").strip()
    try:
        access_service.revoke(db, get_repository_info(db, repo_name).id, username)
    except DataWorkflowError as error:
        return _fail(repo_name, "collaborators", str(error))
    return _after_role_change(repo_name, f"Removed {username} from the collaborators.")


def _after_role_change(repo_name: str, message: str) -> ResponseReturnValue:
    """Back to the settings, unless the caller just took their own admin role away."""
    db = get_backend().db
    role = access_service.role_on(db, principal(), get_repository_info(db, repo_name))
    flash(message, "success")
    if role == "admin":
        return _back(repo_name, "collaborators")
    if role is None:
        return redirect(url_for("ui.home"), 303)
    return redirect(url_for("ui.repo_home", repo_name=repo_name), 303)


def _protect(repo_name: str, form: Form) -> ResponseReturnValue:
    """Protect the branches a pattern matches."""
    pattern = form.get("pattern", "").strip()
    try:
        added = get_repository(repo_name).protect_branches(pattern)
    except DataWorkflowError as error:
        return _fail(repo_name, "protected", str(error))
    if not added:
        return _fail(repo_name, "protected", f"{pattern} is protected already.")
    return _done(repo_name, "protected", f"Protected branches matching {pattern}.")


def _unprotect(repo_name: str, form: Form) -> ResponseReturnValue:
    """Remove a protection pattern."""
    pattern = form.get("pattern", "")
    if not get_repository(repo_name).unprotect_branches(pattern):
        return _fail(repo_name, "protected", f"{pattern} is not a protection pattern.")
    return _done(repo_name, "protected", f"Branches matching {pattern} are no longer protected.")


def _delete(repo_name: str, form: Form) -> ResponseReturnValue:
    """Delete the repository, once its name was typed to confirm."""
    if form.get("confirm", "") != repo_name:
        message = f"Type {repo_name} to confirm the deletion; nothing was deleted."
        return _fail(repo_name, "delete", message)
    delete_repository(get_backend().db, repo_name)
    flash(f"Deleted repository {repo_name}. Its data is reclaimed by the next dw gc.", "success")
    return redirect(url_for("ui.home"), 303)


_ACTIONS: dict[str, Callable[[str, Form], ResponseReturnValue]] = {
    "update": _update,
    "grant": _grant,
    "revoke": _revoke,
    "protect": _protect,
    "unprotect": _unprotect,
    "delete": _delete,
}
