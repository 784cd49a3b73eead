"""Error pages: 404s with a message, 4xx for bad input, and 500s that never leak."""

import pytest

import dataworkflow.web.ui.repos
from dataworkflow.services.repository import Repository
from tests.web.conftest import page


def assert_error_page(client, url: str, status: int, message: str) -> None:
    html = page(client, url, status)
    assert f'<div class="error-code">{status}</div>' in html
    assert message in html.replace("&#39;", "'")
    assert "Traceback" not in html


@pytest.mark.parametrize(
    ("url", "message"),
    [
        pytest.param("/nope", "repository 'nope' not found", id="repo-home"),
        pytest.param("/nope/tree/main", "repository 'nope' not found", id="repo-tree"),
        pytest.param("/nope/raw/main/a.txt", "repository 'nope' not found", id="repo-raw"),
        pytest.param("/nope/branches", "repository 'nope' not found", id="repo-branches"),
        pytest.param("/sample/tree/nobranch", "revision 'nobranch' not found", id="rev-tree"),
        pytest.param("/sample/blob/nobranch/README.md", "'nobranch' not found", id="rev-blob"),
        pytest.param("/sample/commits/nobranch", "'nobranch' not found", id="rev-commits"),
        pytest.param("/sample/commit/nobranch", "'nobranch' not found", id="rev-commit"),
        pytest.param("/sample/commit/" + "f" * 64, "not found", id="commit-id"),
        pytest.param("/sample/tree/main~9", "past the first commit", id="rev-too-far"),
        pytest.param("/sample/upload/nobranch", "'nobranch' not found", id="rev-upload"),
        pytest.param("/sample/tree/main/missing", "path 'missing' not found", id="path-tree"),
        pytest.param("/sample/blob/main/data/gone.csv", "'data/gone.csv' not found", id="path"),
        pytest.param("/sample/raw/main/gone.csv", "'gone.csv' not found", id="path-raw"),
        pytest.param("/sample/blob/main/notes.txt", "'notes.txt' not found", id="deleted"),
        pytest.param("/sample/no-such-page", "not found", id="no-route"),
    ],
)
def test_not_found_pages(client, sample, url: str, message: str) -> None:
    assert_error_page(client, url, 404, message)


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("/sample/tree/main/README.md/more", id="tree"),
        pytest.param("/sample/blob/main/README.md/more", id="blob"),
        pytest.param("/sample/raw/main/data/weather.csv/x", id="raw"),
    ],
)
def test_a_file_where_a_folder_is_expected(client, sample, url: str) -> None:
    assert_error_page(client, url, 404, "not found")


@pytest.mark.parametrize(
    ("url", "target"),
    [
        pytest.param("/sample/blob/main/data", "/sample/tree/main/data", id="blob"),
        pytest.param("/sample/raw/main/data/nested", "/sample/tree/main/data/nested", id="raw"),
        pytest.param("/sample/tree/main/README.md", "/sample/blob/main/README.md", id="tree"),
    ],
)
def test_the_wrong_kind_of_path_redirects(client, sample, url: str, target: str) -> None:
    response = client.get(url)
    assert response.status_code == 302
    assert response.headers["Location"] == target


@pytest.mark.parametrize(
    "query",
    [
        pytest.param("/sample/tree/main?after=", id="after-empty"),
        pytest.param("/sample/tree/main/data?after=" + "x" * 5000, id="after-huge"),
        pytest.param("/sample/commits/main?cursor=garbage", id="cursor-garbage"),
        pytest.param("/sample/commits/main?cursor=", id="cursor-empty"),
        pytest.param("/sample/commits/main?cursor=" + "a" * 10_000, id="cursor-huge"),
        pytest.param("/sample/commits/main?cursor=" + "ab" * 32, id="cursor-unknown-commit"),
        pytest.param("/sample/commits/main?cursor=" + "ab" * 32 + "..", id="cursor-dots"),
        pytest.param("/sample/tree/main~x", id="rev-bad-step"),
        pytest.param("/sample/tree/main%5E%7Btree%7D", id="rev-peel"),
        pytest.param("/sample/commit/" + "x" * 300, id="commit-rev-huge"),
    ],
)
def test_malformed_input_is_a_400(client, sample, query: str) -> None:
    html = page(client, query, 400)
    assert '<div class="error-code">400</div>' in html


def test_cursor_from_another_repository_is_refused(client, sample, db, storage) -> None:
    from dataworkflow.services.installation import create_repository
    from tests.web.conftest import commit

    create_repository(db, "other")
    other = commit(Repository(db, storage, "other"), "main", {"o": b"o"}, "Other", 1)
    page(client, f"/sample/commits/main?cursor={other}", 400)


def test_unknown_method(client, sample) -> None:
    response = client.put("/sample/tags")
    assert response.status_code in (400, 405)
    assert "Traceback" not in response.get_data(as_text=True)


def test_unexpected_exception_is_a_500_without_details(client, sample, monkeypatch) -> None:
    def explode(*args, **kwargs):
        raise RuntimeError("secret-detail")

    monkeypatch.setattr(Repository, "list_tree", explode)
    html = page(client, "/sample/tree/main", 500)
    assert "An unexpected error occurred" in html
    assert "secret-detail" not in html
    assert "Traceback" not in html
    assert "RuntimeError" not in html


def test_unexpected_exception_on_the_home_page(client, monkeypatch) -> None:
    def explode(*args, **kwargs):
        raise RuntimeError("secret-detail")

    monkeypatch.setattr(dataworkflow.web.ui.repos, "list_repository_summaries", explode)
    html = page(client, "/", 500)
    assert "secret-detail" not in html


def test_storage_failure_is_a_503_without_details(client, sample, monkeypatch) -> None:
    from dataworkflow.errors import StorageError

    def unavailable(*args, **kwargs):
        raise StorageError("could not read an object")

    monkeypatch.setattr(type(sample.repo.storage), "open", unavailable)
    html = page(client, "/sample/blob/main/README.md", 503)
    assert "Service unavailable" in html
    assert "Traceback" not in html


def test_a_get_never_creates_the_default_repository(client, db) -> None:
    from dataworkflow.services.installation import list_repositories

    assert client.get("/default").status_code == 404
    assert "default" not in [r.name for r in list_repositories(db)]
