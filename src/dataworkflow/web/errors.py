"""Domain errors mapped to HTTP statuses in exactly one place; pages that never leak."""

from __future__ import annotations

import logging

from flask import Flask, render_template, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from dataworkflow.errors import (
    AlreadyExists,
    Conflict,
    DatabaseError,
    DataWorkflowError,
    IntegrityError,
    InvalidInput,
    NotFound,
    StorageError,
)

log = logging.getLogger(__name__)

# Order matters only through the MRO: the most specific class wins.
HTTP_STATUS: dict[type[DataWorkflowError], int] = {
    InvalidInput: 400,
    NotFound: 404,
    AlreadyExists: 409,
    Conflict: 409,
    IntegrityError: 500,
    StorageError: 503,
    DatabaseError: 503,
}

TITLES = {
    400: "Bad request",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Upload too large",
    500: "Something went wrong",
    503: "Service unavailable",
}


def status_for(error: DataWorkflowError) -> int:
    """The HTTP status of a domain error."""
    for cls in type(error).__mro__:
        if cls in HTTP_STATUS:
            return HTTP_STATUS[cls]
    return 500


def _page(status: int, message: str) -> ResponseReturnValue:
    template = "errors/404.html" if status == 404 else "errors/error.html"
    title = TITLES.get(status, "Error")
    return render_template(template, status=status, title=title, message=message), status


def register_error_handlers(app: Flask) -> None:
    """Render every error as a page; never show a traceback."""

    @app.errorhandler(DataWorkflowError)
    def domain_error(error: DataWorkflowError) -> ResponseReturnValue:
        status = status_for(error)
        if status >= 500:
            log.error("request %s failed: %s", request.path, error)
        return _page(status, str(error))

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> ResponseReturnValue:
        status = error.code or 500
        return _page(status, error.description or TITLES.get(status, "Error"))

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> ResponseReturnValue:
        log.exception("unhandled error on %s", request.path)
        return _page(500, "An unexpected error occurred. It has been logged.")
