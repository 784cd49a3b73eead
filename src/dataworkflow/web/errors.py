"""Domain errors mapped to HTTP statuses in exactly one place; pages that never leak.

Requests under ``/api/`` get RFC 9457 problem details (``application/problem+json``)
instead of pages: ``type``, ``title``, ``status``, ``detail``, an ``errors`` list for
validation failures, and a few structured members taken from the error (for example
``ref``, ``expected`` and ``current`` of a failed compare-and-swap).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from flask import Flask, g, json, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask.wrappers import Response
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES

from dataworkflow.errors import (
    AlreadyExists,
    AuthenticationRequired,
    Conflict,
    DatabaseError,
    DataWorkflowError,
    IntegrityError,
    InvalidInput,
    InvalidObjectId,
    MergeConflict,
    NotFound,
    ObjectNotFound,
    PathNotFound,
    PermissionDenied,
    RateLimited,
    RefConflict,
    RefNotFound,
    RepositoryNotFound,
    StorageError,
)

log = logging.getLogger(__name__)

API_PREFIX = "/api/"
PROBLEM_JSON = "application/problem+json"


class InvalidParameters(InvalidInput):
    """The URL's query parameters are malformed (400); ``errors`` names each one."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        detail = "; ".join(f"{e['parameter']}: {e['detail']}" for e in errors)
        super().__init__(f"invalid query parameters: {detail}")
        self.errors = errors


class InvalidContent(InvalidInput):
    """A well-formed request body fails validation (422); ``errors`` points at each field."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        detail = "; ".join(f"{e['pointer'] or '/'}: {e['detail']}" for e in errors)
        super().__init__(f"invalid request body: {detail}")
        self.errors = errors


# Order matters only through the MRO: the most specific class wins.
HTTP_STATUS: dict[type[DataWorkflowError], int] = {
    InvalidInput: 400,
    InvalidContent: 422,
    NotFound: 404,
    AuthenticationRequired: 401,
    PermissionDenied: 403,
    AlreadyExists: 409,
    Conflict: 409,
    RateLimited: 429,
    IntegrityError: 500,
    StorageError: 503,
    DatabaseError: 503,
}

TITLES = {
    400: "Bad request",
    401: "Sign in required",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Upload too large",
    429: "Too many attempts",
    500: "Something went wrong",
    503: "Service unavailable",
}

UNEXPECTED = "An unexpected error occurred. It has been logged."


def status_for(error: DataWorkflowError) -> int:
    """The HTTP status of a domain error."""
    return status_for_class(type(error))


def status_for_class(error_class: type[DataWorkflowError]) -> int:
    """The HTTP status of a kind of domain error: the most specific mapping wins."""
    for cls in error_class.__mro__:
        if cls in HTTP_STATUS:
            return HTTP_STATUS[cls]
    return 500


def problem_slug(cls: type[DataWorkflowError]) -> str:
    """``RefConflict`` -> ``ref-conflict``: the fragment of the problem's ``type`` URI."""
    return re.sub(r"(?<!^)(?=[A-Z])", "-", cls.__name__).lower()


def mark_json_body() -> None:
    """Note that the request's JSON body was read, so input errors from now on are 422.

    Views read their URL (repository, ref names) before their body, so an input error
    raised after this comes from the body: bad values, or references to revisions,
    blobs or paths that do not exist. RFC 9110 calls that unprocessable content (422),
    not a malformed request (400) and not a missing resource (404).
    """
    g.api_json_body = True


def _api_status(error: DataWorkflowError) -> int:
    status = status_for(error)
    from_body = g.get("api_json_body", False)
    if from_body and status in (400, 404) and not isinstance(error, RepositoryNotFound):
        return 422
    return status


def _members(error: DataWorkflowError) -> dict[str, Any]:
    """Structured problem members for the errors that carry fields."""
    if isinstance(error, (InvalidParameters, InvalidContent)):
        return {"errors": error.errors}
    if isinstance(error, RefConflict):
        return {"ref": error.name, "expected": error.expected, "current": error.actual}
    if isinstance(error, MergeConflict):
        return {"conflicts": error.conflicts}
    if isinstance(error, RepositoryNotFound):
        return {"repository": error.name}
    if isinstance(error, RefNotFound):
        return {"ref": error.name}
    if isinstance(error, ObjectNotFound):
        return {"object_id": error.object_id, "kind": error.kind}
    if isinstance(error, PathNotFound):
        return {"path": error.path, "revision": error.revision}
    if isinstance(error, InvalidObjectId):
        return {"text": error.text[:100]}
    return {}


def problem(
    status: int,
    detail: str,
    *,
    type_: str = "about:blank",
    title: str | None = None,
    headers: list[tuple[str, str]] | None = None,
    **members: Any,
) -> Response:
    """An ``application/problem+json`` response (RFC 9457)."""
    body = {
        "type": type_,
        "title": title or HTTP_STATUS_CODES.get(status, "Error"),
        "status": status,
        "detail": detail,
        **members,
    }
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_JSON)
    for name, value in headers or []:
        if name.lower() not in ("content-type", "content-length"):
            response.headers[name] = value
    return response


def _domain_problem(error: DataWorkflowError, status: int) -> Response:
    slug = problem_slug(type(error))
    type_uri = url_for("api.docs", _anchor=f"problem-{slug}")
    title = re.sub(r"-", " ", slug).capitalize()
    headers: list[tuple[str, str]] = []
    if isinstance(error, AuthenticationRequired):
        headers.append(("WWW-Authenticate", 'Bearer realm="dataworkflow"'))
    if isinstance(error, RateLimited):
        headers.append(("Retry-After", str(error.retry_after)))
    return problem(
        status, str(error), type_=type_uri, title=title, headers=headers, **_members(error)
    )


def _is_api() -> bool:
    return request.path.startswith(API_PREFIX)


def _page(status: int, message: str) -> tuple[str, int]:
    template = "errors/404.html" if status == 404 else "errors/error.html"
    title = TITLES.get(status, "Error")
    return render_template(template, status=status, title=title, message=message), status


def register_error_handlers(app: Flask) -> None:
    """Render every error as a page, or as problem+json under /api/; never a traceback."""

    @app.errorhandler(DataWorkflowError)
    def domain_error(error: DataWorkflowError) -> ResponseReturnValue:
        status = _api_status(error) if _is_api() else status_for(error)
        if status >= 500:
            log.error("request %s failed: %s", request.path, error)
        if _is_api():
            return _domain_problem(error, status)
        if isinstance(error, AuthenticationRequired) and request.endpoint != "ui.login":
            target = request.full_path if request.method == "GET" else request.path
            return redirect(url_for("ui.login", next=target.rstrip("?")), 303)
        body, code = _page(status, str(error))
        if isinstance(error, RateLimited):
            return body, code, [("Retry-After", str(error.retry_after))]
        return body, code

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> ResponseReturnValue:
        status = error.code or 500
        # Keep what the exception adds: Allow on a 405, Content-Range on a 416.
        headers = [(k, v) for k, v in error.get_headers() if k.lower() != "content-type"]
        if _is_api():
            detail = error.description or TITLES.get(status, "Error")
            return problem(status, detail, headers=headers)
        body, code = _page(status, error.description or TITLES.get(status, "Error"))
        return body, code, headers

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> ResponseReturnValue:
        log.exception("unhandled error on %s", request.path)
        if _is_api():
            return problem(500, UNEXPECTED)
        return _page(500, UNEXPECTED)
