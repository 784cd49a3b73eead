"""API fixtures: the app on SQLite and PostgreSQL with filesystem storage, the sample repo."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from dataworkflow.services.accounts import create_token, create_user
from dataworkflow.settings import Settings
from dataworkflow.web import create_app
from tests.web.conftest import sample  # noqa: F401  (the UI tests' sample repository)


@pytest.fixture
def admin_token(db: Any) -> str:
    """A write token of the installation's administrator."""
    create_user(db, "admin", email="admin@example.com", admin=True)
    return create_token(db, "admin", scope="write").secret


@pytest.fixture
def make_app(
    database_url: str, db: Any, storage: Any, tmp_path: Path, admin_token: str
) -> Callable[..., Flask]:
    """Build the app on the test database and storage, with extra Flask config.

    Its ``test_client()`` sends the administrator's token (``config["TEST_TOKEN"]``);
    the ``anonymous`` fixture is a client without one.
    """

    def build(storage_override: Any = None, **config: Any) -> Flask:
        settings = Settings(
            database_url=database_url, storage_path=tmp_path / "unused", flask_secret_key="test"
        )
        app = create_app(
            settings,
            db=db,
            storage=storage_override or storage,
            test_config={"TESTING": True, "TEST_TOKEN": admin_token, **config},
        )
        app.test_client_class = TokenClient
        return app

    return build


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


class TokenClient(FlaskClient):
    """A test client that authenticates with the app's ``TEST_TOKEN``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {self.application.config['TEST_TOKEN']}"


@pytest.fixture
def client(app: Flask) -> Iterator[FlaskClient]:
    """An API client authenticated as the administrator."""
    yield app.test_client()


@pytest.fixture
def anonymous(app: Flask) -> Iterator[FlaskClient]:
    """An API client without a token."""
    yield FlaskClient(app, app.response_class)
