"""Security headers on every response and CSRF tokens on every form."""

from __future__ import annotations

import hmac
import secrets

from flask import Flask, abort, request, session
from flask.wrappers import Response

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def csrf_token() -> str:
    """This session's CSRF token, created on first use."""
    token = session.get(CSRF_FIELD)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session[CSRF_FIELD] = token
    return token


def register_security(app: Flask) -> None:
    """Add the CSP and friends to responses; refuse state changes without a valid token."""

    @app.before_request
    def check_csrf() -> None:
        if request.method in SAFE_METHODS or app.config.get("CSRF_DISABLED"):
            return
        if request.blueprint == "api" or request.path.startswith("/api/"):
            return  # the API authenticates with tokens, not cookies (and a 405 has no blueprint)
        expected = session.get(CSRF_FIELD)
        given = request.form.get(CSRF_FIELD) or request.headers.get("X-CSRF-Token")
        if not expected or not given or not hmac.compare_digest(str(expected), str(given)):
            abort(400, "The form expired or did not come from this site. Reload and retry.")

    @app.after_request
    def security_headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        return response

    app.jinja_env.globals["csrf_token"] = csrf_token
