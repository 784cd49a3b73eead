"""Sign-in, sign-out and the first sign-up (which makes the installation's admin)."""

from __future__ import annotations

from flask import current_app, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue

from dataworkflow.errors import AuthenticationRequired, DataWorkflowError, RateLimited
from dataworkflow.services.accounts import authenticate, count_users, create_user
from dataworkflow.web.auth import USER_KEY, ServerSession, access, principal
from dataworkflow.web.context import get_backend
from dataworkflow.web.ui import bp


def _next_url() -> str:
    """Where to go after signing in: a path on this site, never another site."""
    target = request.values.get("next", "")
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return url_for("ui.home")
    return target


def _sign_in(user_id: int) -> None:
    """Start a fresh session for the user: a new cookie, so a planted one is useless."""
    assert isinstance(session, ServerSession)
    session.rotate()
    session.clear()
    session[USER_KEY] = user_id


@bp.route("/login", methods=["GET", "POST"])
@access("public")
def login() -> ResponseReturnValue:
    """The sign-in form; POST checks the password (rate-limited per account and address)."""
    db = get_backend().db
    if request.method == "GET":
        if principal().user is not None:
            return redirect(_next_url(), 303)
        return render_template(
            "ui/login.html", next=_next_url(), username="", first_user=count_users(db) == 0
        )
    username = request.form.get("username", "")
    config = current_app.config
    try:
        user = authenticate(
            db,
            username,
            request.form.get("password", ""),
            address=request.remote_addr or "unknown",
            max_failures=config["SIGN_IN_MAX_FAILURES"],
            max_failures_per_address=config["SIGN_IN_MAX_FAILURES_PER_ADDRESS"],
        )
    except (AuthenticationRequired, RateLimited) as error:
        status = 429 if isinstance(error, RateLimited) else 401
        headers = {"Retry-After": str(error.retry_after)} if isinstance(error, RateLimited) else {}
        page = render_template(
            "ui/login.html", next=_next_url(), username=username, error=str(error), first_user=False
        )
        return page, status, headers
    _sign_in(user.id)
    return redirect(_next_url(), 303)


@bp.post("/logout")
@access("public")
def logout() -> ResponseReturnValue:
    """End the session everywhere it is stored."""
    assert isinstance(session, ServerSession)
    session.end()
    return redirect(url_for("ui.home"), 303)


@bp.route("/signup", methods=["GET", "POST"])
@access("public")
def signup() -> ResponseReturnValue:
    """Only on an installation without users: the first account, an administrator."""
    db = get_backend().db
    if count_users(db) > 0:
        message = "Sign-up is closed: ask an administrator for an account."
        return render_template(
            "errors/error.html", status=403, title="Sign-up closed", message=message
        ), 403
    form = request.form
    if request.method == "GET":
        return render_template("ui/signup.html", form=form, error=None)
    if form.get("password", "") != form.get("confirm", ""):
        return render_template("ui/signup.html", form=form, error="The passwords differ."), 400
    try:
        user = create_user(
            db,
            form.get("username", ""),
            email=form.get("email", ""),
            password=form.get("password", ""),
            display_name=form.get("display_name", ""),
            first_only=True,
        )
    except DataWorkflowError as error:
        return render_template("ui/signup.html", form=form, error=str(error)), 400
    _sign_in(user.id)
    return redirect(url_for("ui.home"), 303)
