"""The caller's account and API tokens; users, for installation administrators.

Reading one's own account (``GET /user``, ``GET /user/tokens``) is reading, so a
``read``-scoped token may do it: a script can learn whose token it holds. Creating and
revoking tokens is writing and needs a ``write`` token: a leaked read token must not
mint itself a longer-lived successor, nor revoke its owner's other tokens. Those two
GETs are therefore declared ``public`` and refuse anonymous callers themselves, since
the ``user`` level refuses read tokens outright.

A new token's secret is in the answer to ``POST /user/tokens`` and nowhere else: only
its hash is stored.
"""

from __future__ import annotations

from datetime import timedelta

from flask import url_for
from flask.typing import ResponseReturnValue

from dataworkflow.core.names import validate_username
from dataworkflow.errors import AuthenticationRequired, InvalidName, NotFound
from dataworkflow.services import accounts
from dataworkflow.services.accounts import SCOPES, User, UserNotFound
from dataworkflow.web.api import bp
from dataworkflow.web.api.schemas import Fields, json_body, token_json, user_json
from dataworkflow.web.auth import access, principal
from dataworkflow.web.context import get_backend

MAX_TOKEN_DAYS = 3650
"""Longest token lifetime a request may ask for (ten years); omit it for no expiry."""


MAX_TOKEN_ID = 2**31 - 1
"""Token ids are 32-bit in the database; a larger one in a URL cannot name a token."""


def named_user(name: str) -> User:
    """The user a URL names; a name no user could have is simply not found.

    Raises:
        UserNotFound: if there is none.
    """
    try:
        validate_username(name)  # also keeps NUL and other junk away from the database
    except InvalidName:
        raise UserNotFound(name) from None
    return accounts.get_user(get_backend().db, name)


def _caller() -> User:
    """The signed-in caller, whatever their token's scope.

    Raises:
        AuthenticationRequired: for anonymous callers.
    """
    user = principal().user
    if user is None:
        raise AuthenticationRequired("send an API token to see your account")
    return user


# --- the caller ------------------------------------------------------------------------


@bp.get("/user")
@access("public")
def get_current_user() -> ResponseReturnValue:
    """Who the token belongs to (any scope); 401 without one."""
    return user_json(_caller())


@bp.get("/user/tokens")
@access("public")
def list_tokens() -> ResponseReturnValue:
    """The caller's tokens, newest first, revoked and expired ones included; never secrets."""
    tokens = accounts.list_tokens(get_backend().db, _caller().username)
    return {"tokens": [token_json(token) for token in tokens]}


@bp.post("/user/tokens")
@access("user")
def create_token() -> ResponseReturnValue:
    """Create a token for the caller; its secret is in this answer only."""
    body = Fields(json_body())
    name = body.string("name", required=True, max_length=200)
    scope = body.choice("scope", SCOPES, required=True)
    days = body.integer("expires_in_days", minimum=1, maximum=MAX_TOKEN_DAYS, nullable=True)
    body.finish()
    body.check()
    assert name is not None and scope is not None
    created = accounts.create_token(
        get_backend().db,
        _caller().username,
        scope=scope,
        name=name,
        expires_in=timedelta(days=days) if days is not None else None,
    )
    return {**token_json(created.token), "token": created.secret}, 201


@bp.delete("/user/tokens/<int:token_id>")
@access("user")
def revoke_token(token_id: int) -> ResponseReturnValue:
    """Revoke one of the caller's tokens (someone else's is simply not found)."""
    if token_id > MAX_TOKEN_ID:
        raise NotFound(f"token {token_id} not found")
    accounts.revoke_token(get_backend().db, token_id, owner=_caller().username)
    return "", 204


# --- administration ----------------------------------------------------------------------


@bp.get("/users")
@access("site-admin")
def list_users() -> ResponseReturnValue:
    """Every user, by name."""
    return {"users": [user_json(user) for user in accounts.list_users(get_backend().db)]}


@bp.post("/users")
@access("site-admin")
def create_user() -> ResponseReturnValue:
    """Create a user; without a password they can use only the tokens made for them."""
    body = Fields(json_body())
    username = body.string("username", required=True, max_length=64)
    email = body.string("email", required=True, max_length=320)
    display_name = body.string("display_name", max_length=200)
    password = body.string("password", max_length=accounts.MAX_PASSWORD)
    admin = body.boolean("is_admin")
    body.finish()
    body.check()
    assert username is not None and email is not None
    user = accounts.create_user(
        get_backend().db,
        username,
        email=email,
        password=password,
        display_name=display_name or "",
        admin=admin,
    )
    location = url_for("api.get_user", username=user.username)
    return user_json(user), 201, {"Location": location}


@bp.get("/users/<username>")
@access("site-admin")
def get_user(username: str) -> ResponseReturnValue:
    """One user's details."""
    return user_json(named_user(username))


@bp.patch("/users/<username>")
@access("site-admin")
def update_user(username: str) -> ResponseReturnValue:
    """Change a user's email, display name, password, admin or disabled flag.

    Disabling signs the user out and refuses their tokens from the next request on;
    the last active administrator can be neither demoted nor disabled (422).
    """
    db = get_backend().db
    named_user(username)  # before the body: an unknown user is a 404, not a 422
    body = Fields(json_body())
    email = body.string("email", max_length=320)
    display_name = body.string("display_name", max_length=200)
    password = body.string("password", max_length=accounts.MAX_PASSWORD)
    admin = body.boolean("is_admin") if body.has("is_admin") else None
    disabled = body.boolean("disabled") if body.has("disabled") else None
    body.finish()
    body.check()
    if password is not None:
        accounts.check_password(password)  # refuse a bad password before changing anything
    user = accounts.update_user(
        db, username, email=email, display_name=display_name, admin=admin, disabled=disabled
    )
    if password is not None:
        accounts.set_password(db, username, password)
    return user_json(user)
