"""The web interface: Flask only here. ``create_app`` is the application factory."""

from __future__ import annotations

from typing import Any

from flask import Flask
from jinja2 import StrictUndefined

from dataworkflow.metadata.engine import Database
from dataworkflow.settings import Settings
from dataworkflow.storage.base import ObjectStorage
from dataworkflow.web.auth import register_auth
from dataworkflow.web.context import Backend
from dataworkflow.web.errors import register_error_handlers
from dataworkflow.web.filters import register_filters
from dataworkflow.web.indexing import register_indexing
from dataworkflow.web.json_provider import OrjsonProvider
from dataworkflow.web.security import register_security

MAX_UPLOAD_BYTES = 50 * 1024**3


def create_app(
    settings: Settings | None = None,
    *,
    db: Database | None = None,
    storage: ObjectStorage | None = None,
    test_config: dict[str, Any] | None = None,
) -> Flask:
    """Build the web app. Tests pass their own settings, database or storage."""
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.json = OrjsonProvider(app)
    app.config.from_mapping(
        SECRET_KEY=settings.flask_secret_key,
        MAX_CONTENT_LENGTH=MAX_UPLOAD_BYTES,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_SECONDS=settings.session_hours * 3600,
        SIGN_IN_MAX_FAILURES=settings.sign_in_max_failures,
        SIGN_IN_MAX_FAILURES_PER_ADDRESS=settings.sign_in_max_failures_per_address,
        REFLOG_RETENTION_DAYS=settings.reflog_retention_days,
    )
    if test_config:
        app.config.update(test_config)
    app.jinja_env.undefined = StrictUndefined
    app.jinja_env.autoescape = True
    app.extensions["dataworkflow"] = Backend.open(settings, db=db, storage=storage)

    from dataworkflow.web import api, ui

    app.register_blueprint(ui.bp)
    app.register_blueprint(api.bp, url_prefix="/api/v1")
    register_filters(app)
    register_auth(app, session_seconds=settings.session_hours * 3600)
    register_security(app)
    register_indexing(app, max_file_bytes=settings.search_max_file_bytes)
    if settings.proxy_count:
        from werkzeug.middleware.proxy_fix import ProxyFix

        count = settings.proxy_count
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=count, x_proto=count, x_host=count, x_port=count
        )
    register_error_handlers(app)
    return app
