"""The signed-in user's own settings: profile, password and API tokens.

A new token's secret is rendered into the response to the form that created it and
nowhere else: not flashed (flashes live in the stored session), not redirected to,
and the page is sent ``Cache-Control: no-store`` so the browser does not keep it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from dataworkflow.errors import AuthenticationRequired, DataWorkflowError, RateLimited
from dataworkflow.services.accounts import (
    SCOPES,
    NewToken,
    Token,
    User,
    authenticate,
    create_token,
    list_tokens,
    revoke_token,
    set_password,
    update_user,
)
from dataworkflow.web.auth import access, principal
from dataworkflow.web.context import get_backend
from dataworkflow.web.ui import bp
from dataworkflow.web.ui.account import _sign_in

MAX_TOKEN_DAYS = 3650
"""Longest lifetime a form may ask for; longer than that, choose "never"."""


@dataclass(frozen=True, slots=True)
class TokenView:
    """A token as the list shows it: times as datetimes, state computed once."""

    token: Token
    state: str
    created: datetime
    expires: datetime | None
    last_used: datetime | None


def _when(seconds: int | None) -> datetime | None:
    return datetime.fromtimestamp(seconds, UTC) if seconds is not None else None


def _me() -> User:
    user = principal().user
    assert user is not None  # access("user") let only signed-in callers through
    return user


def _page(
    *,
    status: int = 200,
    error: str | None = None,
    section: str = "",
    new_token: NewToken | None = None,
    form: Any = None,
) -> ResponseReturnValue:
    """Render the settings page; ``section`` says which form ``error`` belongs to."""
    user = _me()
    tokens = [
        TokenView(
            token,
            token.state(),
            datetime.fromtimestamp(token.created_at, UTC),
            _when(token.expires_at),
            _when(token.last_used_at),
        )
        for token in list_tokens(get_backend().db, user.username)
    ]
    html = render_template(
        "ui/settings.html",
        user=user,
        tokens=tokens,
        scopes=SCOPES,
        error=error,
        section=section,
        new_token=new_token,
        form=form if form is not None else {},
        max_days=MAX_TOKEN_DAYS,
    )
    headers = {"Cache-Control": "no-store"} if new_token is not None else {}
    return html, status, headers


@bp.get("/settings")
@access("user")
def settings() -> ResponseReturnValue:
    """Your profile, password and API tokens."""
    return _page()


@bp.post("/settings/profile")
@access("user")
def update_profile() -> ResponseReturnValue:
    """Change your email and display name."""
    form = request.form
    try:
        update_user(
            get_backend().db,
            _me().username,
            email=form.get("email", ""),
            display_name=form.get("display_name", ""),
        )
    except DataWorkflowError as error:
        return _page(status=400, error=str(error), section="profile", form=form)
    flash("Saved your profile.", "success")
    return redirect(url_for("ui.settings"), 303)


@bp.post("/settings/password")
@access("user")
def change_password() -> ResponseReturnValue:
    """Change your password: needs the current one, ends every other session."""
    form = request.form
    db = get_backend().db
    user = _me()
    new = form.get("new_password", "")
    if new != form.get("confirm", ""):
        return _page(status=400, error="The new passwords differ.", section="password")
    try:
        # Through the sign-in check, so guessing the current password here is rate-limited too.
        authenticate(
            db,
            user.username,
            form.get("current_password", ""),
            address=request.remote_addr or "unknown",
        )
    except (AuthenticationRequired, RateLimited) as error:
        message = "The current password is wrong." if not isinstance(error, RateLimited) else None
        status = 429 if isinstance(error, RateLimited) else 400
        return _page(status=status, error=message or str(error), section="password")
    try:
        set_password(db, user.username, new)
    except DataWorkflowError as error:
        return _page(status=400, error=str(error), section="password")
    _sign_in(user.id)  # set_password ended every session: start a fresh one for this browser
    flash("Changed your password; every other session was signed out.", "success")
    return redirect(url_for("ui.settings"), 303)


def _lifetime(text: str) -> timedelta | None:
    """Days from the form as a lifetime; blank means the token never expires.

    Raises:
        ValueError: for anything but a whole number of days in range.
    """
    text = text.strip()
    if not text or text == "never":
        return None
    days = int(text)
    if not 1 <= days <= MAX_TOKEN_DAYS:
        raise ValueError(days)
    return timedelta(days=days)


@bp.post("/settings/tokens")
@access("user")
def create_api_token() -> ResponseReturnValue:
    """Create a token and show its secret, this once."""
    form = request.form
    try:
        lifetime = _lifetime(form.get("expires_days", ""))
    except ValueError:
        message = f"Expiry must be a whole number of days from 1 to {MAX_TOKEN_DAYS}, or never."
        return _page(status=400, error=message, section="tokens", form=form)
    try:
        created = create_token(
            get_backend().db,
            _me().username,
            scope=form.get("scope", ""),
            name=form.get("name", ""),
            expires_in=lifetime,
        )
    except DataWorkflowError as error:
        return _page(status=400, error=str(error), section="tokens", form=form)
    return _page(new_token=created)


@bp.post("/settings/tokens/revoke")
@access("user")
def revoke_api_token() -> ResponseReturnValue:
    """Revoke one of your tokens; it stays listed, as revoked."""
    text = request.form.get("token_id", "")
    token_id = int(text) if text.isascii() and text.isdigit() and len(text) < 10 else 0
    try:
        token = revoke_token(get_backend().db, token_id, owner=_me().username)
    except DataWorkflowError as error:
        flash(str(error), "error")
    else:
        flash(f"Revoked token {token.name or token.prefix}.", "success")
    return redirect(url_for("ui.settings"), 303)
