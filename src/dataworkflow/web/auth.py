"""Who is asking, and may they: sessions, bearer tokens and one access check per route.

Every view declares what it needs with :func:`access` — ``public``, ``user`` (signed
in), ``site-admin``, or a role on the repository its URL names (``read``, ``write``,
``admin``). One ``before_request`` hook enforces it, so a view cannot forget its check,
and a route added without a declaration is refused (and fails the permission-matrix
test) rather than left open.

The UI authenticates with a server-side session (cookie ``dw_session``: HttpOnly,
SameSite=Lax, Secure over https); the API only with ``Authorization: Bearer`` tokens,
never cookies, so a page on another site cannot make a browser call the API.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, current_app, g, request, session
from flask.sessions import SessionInterface, SessionMixin
from flask.wrappers import Request, Response
from werkzeug.datastructures import CallbackDict

from dataworkflow.errors import AuthenticationRequired, RepositoryNotFound
from dataworkflow.services import access as access_service
from dataworkflow.services import sessions
from dataworkflow.services.access import ANONYMOUS, Principal
from dataworkflow.services.accounts import authenticate_token, get_user_by_id
from dataworkflow.web.context import get_backend

F = TypeVar("F", bound=Callable[..., Any])

LEVELS = ("public", "user", "site-admin", "read", "write", "admin")
REPOSITORY_LEVELS = ("read", "write", "admin")
SESSION_COOKIE = "dw_session"
ANONYMOUS_SESSION_SECONDS = 2 * 3600
"""How long a session without a signed-in user (one holding a form's token) lasts."""
USER_KEY = "user_id"


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def access(level: str, *, unsafe: str | None = None) -> Callable[[F], F]:
    """Declare what a view needs; enforced before the view runs (see module doc).

    ``unsafe`` is the level for POST (and other state-changing methods) when a view
    also answers GET with ``level`` (a page and the form it posts to).
    """
    for given in (level, unsafe):
        if given is not None and given not in LEVELS:
            raise ValueError(f"unknown access level {given!r}")

    def mark(view: F) -> F:
        view.access_level = level  # type: ignore[attr-defined]
        view.access_level_unsafe = unsafe or level  # type: ignore[attr-defined]
        return view

    return mark


def access_level(endpoint: str | None, method: str = "GET") -> str | None:
    """The declared level of an endpoint for a method, or None if it declared none."""
    view = current_app.view_functions.get(endpoint or "")
    if method in SAFE_METHODS:
        return getattr(view, "access_level", None)
    return getattr(view, "access_level_unsafe", None)


def principal() -> Principal:
    """The caller of this request."""
    found: Principal = g.get("principal", ANONYMOUS)
    return found


# --- sessions -------------------------------------------------------------------------


class ServerSession(CallbackDict[str, Any], SessionMixin):
    """Session data kept in the database; the cookie only names it."""

    def __init__(self, data: dict[str, Any], secret: str | None, expires_at: int = 0) -> None:
        def touched(_: Any) -> None:
            self.modified = True

        super().__init__(data, touched)
        self.secret = secret
        self.expires_at = expires_at
        self.modified = False
        self.ended = False
        self.old_secret: str | None = None

    def rotate(self) -> None:
        """Give the session a new secret (on sign-in), ending the old one."""
        if self.secret is not None:
            self.old_secret = self.secret
        self.secret = None
        self.modified = True

    def end(self) -> None:
        """Sign out: forget everything and delete the stored session."""
        self.clear()
        self.ended = True


class DatabaseSessionInterface(SessionInterface):
    """Flask sessions stored in ``web_sessions`` (see services.sessions)."""

    def open_session(self, app: Flask, request: Request) -> ServerSession:
        """The stored session the cookie names, or a new empty one."""
        secret = request.cookies.get(SESSION_COOKIE)
        if secret:
            stored = sessions.load(get_backend().db, secret)
            if stored is not None:
                return ServerSession(stored.data, secret, stored.expires_at)
        return ServerSession({}, None)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        """Write the session if it changed (or is due a refresh) and set the cookie."""
        assert isinstance(session, ServerSession)
        db = get_backend().db
        secure = request.is_secure or bool(app.config.get("SESSION_COOKIE_SECURE"))
        if session.old_secret is not None:
            sessions.delete(db, session.old_secret)
        if session.ended:
            if session.secret is not None:
                sessions.delete(db, session.secret)
            response.delete_cookie(SESSION_COOKIE, path="/", secure=secure, httponly=True)
            return
        if session.secret is None and not session:
            return  # nothing to remember: no row, no cookie
        stored = sessions.StoredSession(session.get(USER_KEY), dict(session), session.expires_at)
        lifetime = int(app.config["SESSION_SECONDS"])
        if stored.user_id is None:  # a form's CSRF token only: forgotten soon, so crawlers
            lifetime = min(lifetime, ANONYMOUS_SESSION_SECONDS)  # cannot pile rows up
        if not session.modified and session.secret is not None:
            if not sessions.needs_refresh(stored, lifetime=lifetime):
                return
        if session.secret is None:
            session.secret = sessions.new_secret()
        expires = sessions.save(db, session.secret, stored, lifetime=lifetime)
        response.set_cookie(
            SESSION_COOKIE,
            session.secret,
            expires=expires,
            path="/",
            secure=secure,
            httponly=True,
            samesite="Lax",
        )
        response.vary.add("Cookie")


# --- the check ------------------------------------------------------------------------


def _load_principal() -> Principal:
    db = get_backend().db
    if request.path.startswith("/api/"):
        header = request.headers.get("Authorization", "")
        if not header:
            return ANONYMOUS
        kind, _, secret = header.partition(" ")
        if kind.lower() != "bearer" or not secret.strip():
            raise AuthenticationRequired("the Authorization header must be 'Bearer <token>'")
        token_user, token = authenticate_token(db, secret.strip())
        return Principal(token_user, token.scope)
    user_id = session.get(USER_KEY)
    if not isinstance(user_id, int):
        return ANONYMOUS
    user = get_user_by_id(db, user_id)
    if user is None or user.disabled:
        assert isinstance(session, ServerSession)
        session.end()
        return ANONYMOUS
    return Principal(user, None)


def _repository_name() -> str | None:
    args = request.view_args or {}
    name = args.get("repo_name", args.get("repo"))
    return name if isinstance(name, str) else None


def check_access() -> None:
    """Load the caller and refuse the request if the endpoint's declaration says so."""
    g.principal = ANONYMOUS
    if request.endpoint is None:
        # 404/405: nothing to protect, but the page's header should know who is asking.
        if not request.path.startswith("/api/"):
            g.principal = _load_principal()
        return
    g.principal = _load_principal()
    level = access_level(request.endpoint, request.method)
    if level is None:
        raise RuntimeError(f"endpoint {request.endpoint} declares no access level")
    if level == "public":
        return
    if level == "user":
        access_service.require_user(g.principal, "do this")
        return
    if level == "site-admin":
        access_service.require_admin(g.principal)
        return
    name = _repository_name()
    if name is None:
        raise RuntimeError(f"endpoint {request.endpoint} needs {level} but names no repository")
    try:
        g.repository_info = access_service.authorize(get_backend().db, g.principal, name, level)
    except RepositoryNotFound:
        raise RepositoryNotFound(name) from None


def register_auth(app: Flask, *, session_seconds: int) -> None:
    """Install the session store and the access check (before CSRF and the views)."""
    app.session_interface = DatabaseSessionInterface()
    app.config.setdefault("SESSION_SECONDS", session_seconds)
    app.before_request(check_access)
    access("public")(app.view_functions["static"])

    @app.context_processor
    def inject_principal() -> dict[str, Any]:
        return {"current_user": principal().user}
