"""The permission matrix: every route of the app, every kind of caller, both visibilities.

``EXPECTED`` below is the specification, written independently of the ``@access``
declarations in the code: a route added without an entry here fails
``test_every_route_is_in_the_matrix``, and a route whose check is missing or wrong
fails ``test_permission_matrix``. State-changing requests that go through are undone by
restoring a snapshot of the SQLite database, so each request sees the same installation.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from dataworkflow.metadata.engine import Database
from dataworkflow.services import access as access_service
from dataworkflow.services.accounts import create_token, create_user
from dataworkflow.services.changes import Put
from dataworkflow.services.installation import create_repository
from dataworkflow.services.repository import Repository
from dataworkflow.settings import Settings
from dataworkflow.storage.memory import MemoryStorage
from dataworkflow.web import create_app
from tests.web.conftest import CSRF_INPUT, sign_in

# What each route needs. Repository levels are roles on the repository the URL names.
EXPECTED: dict[tuple[str, str], str] = {
    ("static", "GET"): "public",
    ("ui.home", "GET"): "public",
    ("ui.login", "GET"): "public",
    ("ui.login", "POST"): "public",
    ("ui.logout", "POST"): "public",
    ("ui.signup", "GET"): "public",
    ("ui.signup", "POST"): "public",
    ("ui.repo_home", "GET"): "read",
    ("ui.tree", "GET"): "read",
    ("ui.blob", "GET"): "read",
    ("ui.raw", "GET"): "read",
    ("ui.commits", "GET"): "read",
    ("ui.commit", "GET"): "read",
    ("ui.branches", "GET"): "read",
    ("ui.branches", "POST"): "write",
    ("ui.delete_branch", "POST"): "write",
    ("ui.tags", "GET"): "read",
    ("ui.compare", "GET"): "read",
    ("ui.merge", "POST"): "write",
    ("ui.upload", "GET"): "write",
    ("ui.upload", "POST"): "write",
    ("ui.settings", "GET"): "user",
    ("ui.update_profile", "POST"): "user",
    ("ui.change_password", "POST"): "user",
    ("ui.create_api_token", "POST"): "user",
    ("ui.revoke_api_token", "POST"): "user",
    ("ui.admin_users", "GET"): "site-admin",
    ("ui.admin_users", "POST"): "site-admin",
    ("ui.admin_update_user", "POST"): "site-admin",
    ("ui.storage", "GET"): "site-admin",
    ("ui.estimate_garbage", "POST"): "site-admin",
    ("ui.repo_settings", "GET"): "admin",
    ("ui.repo_settings", "POST"): "admin",
    ("ui.activity", "GET"): "read",
    ("ui.new_repository", "GET"): "user",
    ("ui.new_repository", "POST"): "user",
    ("api.get_current_user", "GET"): "user",
    ("api.list_tokens", "GET"): "user",
    ("api.create_token", "POST"): "user",
    ("api.revoke_token", "DELETE"): "user",
    ("api.list_users", "GET"): "site-admin",
    ("api.create_user", "POST"): "site-admin",
    ("api.get_user", "GET"): "site-admin",
    ("api.update_user", "PATCH"): "site-admin",
    ("api.list_collaborators", "GET"): "admin",
    ("api.set_collaborator", "PUT"): "admin",
    ("api.remove_collaborator", "DELETE"): "admin",
    ("api.list_protected_branches", "GET"): "read",
    ("api.protect_branches", "POST"): "admin",
    ("api.unprotect_branches", "DELETE"): "admin",
    ("api.reflog", "GET"): "read",
    ("ui.search", "GET"): "public",
    ("ui.repo_search", "GET"): "read",
    ("api.search", "GET"): "public",
    ("api.docs", "GET"): "public",
    ("api.openapi", "GET"): "public",
    ("api.list_repos", "GET"): "public",
    ("api.create_repo", "POST"): "user",
    ("api.get_repo", "GET"): "read",
    ("api.update_repo", "PATCH"): "admin",
    ("api.delete_repo", "DELETE"): "admin",
    ("api.list_branches", "GET"): "read",
    ("api.create_branch", "POST"): "write",
    ("api.get_branch", "GET"): "read",
    ("api.move_branch", "PATCH"): "write",
    ("api.delete_branch", "DELETE"): "write",
    ("api.list_tags", "GET"): "read",
    ("api.create_tag", "POST"): "write",
    ("api.get_tag", "GET"): "read",
    ("api.move_tag", "PATCH"): "write",
    ("api.delete_tag", "DELETE"): "write",
    ("api.log", "GET"): "read",
    ("api.create_commit", "POST"): "write",
    ("api.get_commit", "GET"): "read",
    ("api.list_tree", "GET"): "read",
    ("api.download_file", "GET"): "read",
    ("api.stat", "GET"): "read",
    ("api.upload_object", "POST"): "write",
    ("api.download_object", "GET"): "read",
    ("api.missing_objects", "POST"): "write",
    ("api.compare", "GET"): "read",
    ("api.merge", "POST"): "write",
    ("api.revert", "POST"): "write",
    ("api.cherry_pick", "POST"): "write",
}
PUBLIC_MAY_REFUSE = {("ui.signup", "GET"), ("ui.signup", "POST")}
"""Public pages that answer 403 by design (sign-up closes once a user exists)."""

PERSONAS = ("anonymous", "reader", "writer", "other-admin", "admin")
ROLES = {"reader": "read", "writer": "write"}
RANK = {"read": 1, "write": 2, "admin": 3}
PASSWORD = "a long enough password"


def expected_outcome(level: str, persona: str, private: bool) -> str:
    """``allowed``, ``hidden`` (404), ``sign-in`` or ``forbidden`` (403)."""
    if level == "public":
        return "allowed"
    if persona == "anonymous" and level != "read":
        if level in ("user", "site-admin") or not private:
            return "sign-in"
    if level == "user":
        return "allowed"
    if level == "site-admin":
        return "allowed" if persona == "admin" else "forbidden"
    role = "admin" if persona == "admin" else ROLES.get(persona, None if private else "read")
    if role is None:
        return "hidden"
    if RANK[role] < RANK[level]:
        return "sign-in" if persona == "anonymous" else "forbidden"
    return "allowed"


def observed_outcome(response: Any, api: bool, key: tuple[str, str]) -> str:
    status = response.status_code
    assert status < 500, (key, status, response.get_data(as_text=True)[:300])
    if status == 404:
        # Only repositories hide; elsewhere a 404 is about the thing asked for.
        return "hidden" if EXPECTED[key] in RANK else "allowed"
    if status == 403:
        return "allowed" if key in PUBLIC_MAY_REFUSE else "forbidden"
    if api and status == 401:
        assert response.headers.get("WWW-Authenticate", "").startswith("Bearer")
        return "sign-in"
    location = response.headers.get("Location", "")
    if not api and status in (302, 303) and location.startswith("/login"):
        return "sign-in"
    return "allowed"


@dataclass
class Installation:
    app: Flask
    db: Database
    path: Path
    snapshot: Path
    ui: dict[str, FlaskClient]
    cookies: dict[str, str | None]
    csrf: dict[str, str]
    tokens: dict[str, str | None]
    args: dict[str, dict[str, str]]

    def restore(self) -> None:
        self.db.dispose()
        shutil.copyfile(self.snapshot, self.path)


def _populate(db: Database, storage: MemoryStorage, name: str, private: bool) -> dict[str, str]:
    create_repository(db, name, private=private)
    repo = Repository(db, storage, name)
    first = repo.commit(
        "main", [Put("README.md", b"# hi\n"), Put("data/a.csv", b"a,b\n1,2\n")], "first"
    )
    assert first.commit_id
    repo.create_branch("feature", first.commit_id)
    repo.commit("feature", [Put("feature.txt", b"f\n")], "feature work")
    second = repo.commit("main", [Put("data/a.csv", b"a,b\n1,3\n")], "second")
    assert second.commit_id
    repo.create_tag("v1", first.commit_id)
    repo.protect_branches("release/*")
    readme = repo.stat(second.commit_id, "README.md")
    return {"commit": second.commit_id, "blob": readme.entry.id}


@pytest.fixture(scope="module")
def installation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installation]:
    folder = tmp_path_factory.mktemp("matrix")
    path = folder / "dw.db"
    db = Database(f"sqlite:///{path}")
    db.upgrade()
    storage = MemoryStorage()
    users = {
        persona: create_user(
            db, persona, email=f"{persona}@example.com", password=PASSWORD, admin=persona == "admin"
        )
        for persona in PERSONAS
        if persona != "anonymous"
    }
    args = {
        "public": _populate(db, storage, "open-data", private=False),
        "private": _populate(db, storage, "secret-data", private=True),
    }
    create_repository(db, "theirs", private=True)
    access_service.grant(db, _repo_id(db, "theirs"), "other-admin", "admin")
    for repo_name in ("open-data", "secret-data"):
        for persona, role in ROLES.items():
            access_service.grant(db, _repo_id(db, repo_name), persona, role)
    settings = Settings(database_url=f"sqlite:///{path}", flask_secret_key="matrix")
    app = create_app(settings, db=db, storage=storage, test_config={"TESTING": True})
    ui: dict[str, FlaskClient] = {}
    cookies: dict[str, str | None] = {}
    csrf: dict[str, str] = {}
    tokens: dict[str, str | None] = {"anonymous": None}
    for persona in PERSONAS:
        client = app.test_client()
        if persona != "anonymous":
            assert sign_in(client, persona, PASSWORD).status_code == 303
            tokens[persona] = create_token(db, persona, scope="write").secret
        page = client.get("/login" if persona == "anonymous" else "/").get_data(as_text=True)
        found = CSRF_INPUT.search(page)
        assert found, persona
        csrf[persona] = found.group(1)
        cookie = client.get_cookie("dw_session")
        cookies[persona] = cookie.value if cookie else None
        ui[persona] = client
    assert users
    db.dispose()
    snapshot = folder / "snapshot.db"
    shutil.copyfile(path, snapshot)
    yield Installation(app, db, path, snapshot, ui, cookies, csrf, tokens, args)
    db.dispose()


def _repo_id(db: Database, name: str) -> int:
    from dataworkflow.services.installation import get_repository_info

    return get_repository_info(db, name).id


def _url(endpoint: str, rule: str, visibility: str, installation: Installation) -> str:
    """The rule's URL with arguments that exist, so an allowed request is never a 404."""
    ids = installation.args[visibility]
    repo = "open-data" if visibility == "public" else "secret-data"
    values = {
        "<repo_name>": repo,
        "<repo>": repo,
        "<path:rev>": "main",
        "<path:spec>": "main...feature",
        "<path:branch>": "feature",
        "<path:tag>": "v1",
        "<object_id>": ids["blob"],
        "<path:filename>": "style.css",
        "<username>": "reader",
        "<int:token_id>": "1",
        "<path:rev_and_path>": "main/README.md" if endpoint in ("ui.blob", "ui.raw") else "main",
    }
    url = rule
    for placeholder, value in values.items():
        url = url.replace(placeholder, value)
    assert "<" not in url, f"add a value for the arguments of {rule} to the matrix"
    query = {
        "api.download_file": "?ref=main&path=README.md",
        "api.stat": "?ref=main&path=README.md",
        "api.list_tree": "?ref=main",
        "api.compare": "?base=main&head=feature",
        "api.unprotect_branches": "?pattern=release/*",
        "api.search": "?q=first&kind=commits",
    }.get(endpoint, "")
    return url + query


def _routes(app: Flask) -> list[tuple[str, str, str]]:
    found = []
    for rule in app.url_map.iter_rules():
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append((rule.endpoint, method, rule.rule))
    return sorted(found)


def test_every_route_is_in_the_matrix(installation: Installation) -> None:
    routes = {(endpoint, method) for endpoint, method, _ in _routes(installation.app)}
    missing = routes - EXPECTED.keys()
    assert not missing, f"routes without an expected access level: {sorted(missing)}"
    stale = EXPECTED.keys() - routes
    assert not stale, f"matrix entries for routes that no longer exist: {sorted(stale)}"


@pytest.mark.parametrize("visibility", ["public", "private"])
@pytest.mark.parametrize("persona", PERSONAS)
def test_permission_matrix(installation: Installation, persona: str, visibility: str) -> None:
    wrong = []
    for endpoint, method, rule in _routes(installation.app):
        key = (endpoint, method)
        level = EXPECTED.get(key)
        if level is None:
            continue  # reported by test_every_route_is_in_the_matrix
        api = endpoint.startswith("api.")
        url = _url(endpoint, rule, visibility, installation)
        if api:
            client = FlaskClient(installation.app, installation.app.response_class)
            token = installation.tokens[persona]
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            kwargs: dict[str, Any] = {"headers": headers}
            if method in ("POST", "PATCH", "PUT"):
                kwargs["json"] = {}
            response = client.open(url, method=method, **kwargs)
        else:
            client = installation.ui[persona]
            cookie = installation.cookies[persona]
            if cookie:
                client.set_cookie("dw_session", cookie)
            data = {"csrf_token": installation.csrf[persona]} if method == "POST" else None
            response = client.open(url, method=method, data=data)
        outcome = observed_outcome(response, api, key)
        response.close()
        expected = expected_outcome(level, persona, visibility == "private")
        if outcome != expected:
            wrong.append(f"{method} {url}: expected {expected}, got {outcome} ({response.status})")
        if method != "GET" and outcome == "allowed":
            installation.restore()
    assert not wrong, "\n".join(wrong)
