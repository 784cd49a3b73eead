"""API fixtures: the app on SQLite and PostgreSQL with filesystem storage, the sample repo."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from dataworkflow.settings import Settings
from dataworkflow.web import create_app
from tests.web.conftest import sample  # noqa: F401  (the UI tests' sample repository)


@pytest.fixture
def make_app(database_url: str, db: Any, storage: Any, tmp_path: Path) -> Callable[..., Flask]:
    """Build the app on the test database and storage, with extra Flask config."""

    def build(storage_override: Any = None, **config: Any) -> Flask:
        settings = Settings(
            database_url=database_url, storage_path=tmp_path / "unused", flask_secret_key="test"
        )
        return create_app(
            settings,
            db=db,
            storage=storage_override or storage,
            test_config={"TESTING": True, **config},
        )

    return build


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> Iterator[FlaskClient]:
    yield app.test_client()
