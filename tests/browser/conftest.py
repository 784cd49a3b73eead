"""A real server on a loopback port with the demo repository, and headless Chromium."""

from __future__ import annotations

import importlib.util
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from tests.conftest import unavailable

CHROMIUM = os.environ.get("DW_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "browser tests password"
"""Of the users ``ada`` (an administrator) and ``bob`` (no roles anywhere)."""
ARTIFACTS = Path(os.environ.get("DW_TEST_ARTIFACTS", ROOT / ".artifacts")) / "screenshots"


def _load_example_module():
    spec = importlib.util.spec_from_file_location(
        "example_commit", ROOT / "scripts" / "example_commit.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The web app with the demo repository, served on a free loopback port."""
    from dataworkflow.metadata.engine import Database
    from dataworkflow.services.accounts import create_user
    from dataworkflow.services.installation import create_repository
    from dataworkflow.services.repository import Repository
    from dataworkflow.settings import Settings
    from dataworkflow.storage.filesystem import FileSystemStorage
    from dataworkflow.web import create_app

    folder = tmp_path_factory.mktemp("browser")
    db = Database(f"sqlite:///{folder}/dw.db")
    db.upgrade()
    storage = FileSystemStorage(folder / "objects")
    example = _load_example_module()
    create_repository(db, example.NAME, description="Daily weather station readings (demo)")
    for name, admin in (("ada", True), ("bob", False)):
        create_user(db, name, email=f"{name}@example.com", password=PASSWORD, admin=admin)
    example.build(Repository(db, storage, example.NAME))
    settings = Settings(
        database_url=str(db.url), storage_path=folder, flask_secret_key="browser-tests"
    )
    app = create_app(settings, db=db, storage=storage)
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        thread.join(timeout=5)
        db.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Debian's Chromium driven by Playwright (its own browser download is not used)."""
    if not Path(CHROMIUM).exists():
        unavailable(f"{CHROMIUM} is missing: apt-get install chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        unavailable(f"playwright is not installed: {exc}")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def page(browser, request):
    """A fresh page; fails the test on any JavaScript error or dialog."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on(
        "dialog", lambda dialog: (problems.append(f"dialog: {dialog.message}"), dialog.dismiss())
    )
    page.on(
        "console",
        lambda message: (
            problems.append(f"console {message.type}: {message.text}")
            if message.type == "error"
            else None
        ),
    )
    page.problems = problems
    yield page
    context.close()


def screenshot(page, name: str) -> None:
    """Save a full-page screenshot for people to look at."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.fixture(scope="session", autouse=True)
def _clean_artifacts() -> None:
    shutil.rmtree(ARTIFACTS, ignore_errors=True)


def sign_in(page, server: str, username: str, password: str = PASSWORD) -> None:
    """Sign in through the form, as a person would."""
    page.goto(server + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    assert page.locator(".user-nav .user-name").inner_text().strip() == username


def sign_out(page) -> None:
    """Press the header's sign-out button."""
    page.click(".user-nav .logout-form button")
    page.wait_for_load_state()
