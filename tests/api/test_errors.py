"""One error shape everywhere under /api/: routing errors, crashes, outages."""

import logging

import pytest

import dataworkflow.web.api.repos
from dataworkflow.errors import StorageError
from tests.api.helpers import assert_problem


@pytest.mark.parametrize(
    "url", ["/api/v1/nope", "/api/v1/repos/sample/nope", "/api/v2/repos", "/api/v1/"]
)
def test_unknown_urls_are_404_problems(client, sample, url) -> None:
    assert_problem(client.get(url), 404, "about:blank")


@pytest.mark.parametrize(
    ("method", "url", "allowed"),
    [
        pytest.param("put", "/api/v1/repos", {"GET", "HEAD", "OPTIONS", "POST"}, id="repos"),
        pytest.param("post", "/api/v1/repos/sample/tree", {"GET", "HEAD", "OPTIONS"}, id="tree"),
        pytest.param(
            "delete",
            "/api/v1/repos/sample/commits",
            {"GET", "HEAD", "OPTIONS", "POST"},
            id="commits",
        ),
    ],
)
def test_wrong_methods_are_405_problems_with_allow(client, sample, method, url, allowed) -> None:
    response = getattr(client, method)(url)
    assert_problem(response, 405, "about:blank")
    assert set(response.headers["Allow"].split(", ")) == allowed


def test_a_crash_is_a_500_problem_without_details(client, monkeypatch, caplog) -> None:
    def explode(db):
        raise RuntimeError("secret connection string postgres://user:pw@host")

    monkeypatch.setattr(dataworkflow.web.api.repos, "list_repositories", explode)
    with caplog.at_level(logging.ERROR, logger="dataworkflow.web.errors"):
        body = assert_problem(client.get("/api/v1/repos"), 500, "about:blank")
    assert "secret" not in str(body)
    assert body["detail"] == "An unexpected error occurred. It has been logged."
    assert "secret connection string" in caplog.text


def test_an_outage_is_a_503_problem(client, monkeypatch, caplog) -> None:
    def down(db):
        raise StorageError("S3 could not list in bucket 'b': SlowDown")

    monkeypatch.setattr(dataworkflow.web.api.repos, "list_repositories", down)
    with caplog.at_level(logging.ERROR, logger="dataworkflow.web.errors"):
        assert_problem(client.get("/api/v1/repos"), 503, "storage-error", detail="SlowDown")


def test_the_ui_keeps_its_html_error_pages(client, sample) -> None:
    response = client.get("/nope")
    assert response.status_code == 404
    assert response.mimetype == "text/html"


def test_api_posts_need_no_csrf_token(client) -> None:
    response = client.post("/api/v1/repos", json={"name": "tokenless"})
    assert response.status_code == 201
    assert_problem(client.put("/api/v1/repos/tokenless"), 405, "about:blank")


def test_problem_type_links_resolve_to_the_docs_page(client, sample) -> None:
    body = assert_problem(client.get("/api/v1/repos/nope"), 404, "repository-not-found")
    page, _, anchor = body["type"].partition("#")
    html = client.get(page).get_data(as_text=True)
    assert f'id="{anchor}"' in html
