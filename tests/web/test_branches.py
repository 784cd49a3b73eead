"""Branches (ahead/behind, create, delete) and tags."""

import re

import pytest

from dataworkflow.errors import RevisionNotFound
from dataworkflow.services.installation import create_repository
from dataworkflow.services.repository import Repository
from tests.web.conftest import commit, page


def row(html: str, branch: str) -> str:
    """The table row of ``branch`` on the branches page."""
    for found in re.findall(r"<tr>.*?</tr>", html, flags=re.S):
        if f">{branch}</a>" in found:
            return found
    raise AssertionError(f"no row for {branch}")


def branch_names(html: str) -> list[str]:
    return re.findall(r'<td class="name"><a href="[^"]*">([^<]*)</a>', html)


def test_branches_page_lists_branches_with_latest_commit(client, sample) -> None:
    html = page(client, "/sample/branches")
    assert branch_names(html) == ["feature/x", "main"]
    assert "default</span>" in row(html, "main")
    feature = row(html, "feature/x")
    assert f'href="/sample/commit/{sample.feature}"' in feature
    assert "Feature work" in feature


def test_ahead_and_behind_the_default_branch(client, db, storage) -> None:
    create_repository(db, "ab")
    repo = Repository(db, storage, "ab")
    commit(repo, "main", {"a": b"1"}, "base", 1)
    repo.create_branch("topic")
    commit(repo, "topic", {"b": b"1"}, "topic 1", 2)
    commit(repo, "topic", {"c": b"1"}, "topic 2", 3)
    commit(repo, "main", {"d": b"1"}, "main 2", 4)
    topic = row(page(client, "/ab/branches"), "topic")
    assert '<span class="behind">1</span> | <span class="ahead">2</span>' in topic


def test_create_branch(client, forms, sample) -> None:
    response = forms.post("/sample/branches", {"name": "release/2024", "from": "v1.0"})
    assert response.status_code == 303
    assert response.headers["Location"] == "/sample/branches"
    html = page(client, "/sample/branches")
    assert "release/2024" in branch_names(html)
    assert "Created branch release/2024 from v1.0." in html
    assert sample.repo.resolve("release/2024") == sample.tag


def test_create_branch_from_the_default_branch(forms, sample) -> None:
    forms.post("/sample/branches", {"name": "fresh"})
    assert sample.repo.resolve("fresh") == sample.head


@pytest.mark.parametrize(
    "data",
    [
        pytest.param({"name": "nope"}, id="no-token"),
        pytest.param({"name": "nope", "csrf_token": "forged"}, id="wrong-token"),
    ],
)
def test_create_branch_needs_the_csrf_token(client, forms, sample, data) -> None:
    forms.token("/sample/branches")  # the session has a token; the post does not carry it
    response = client.post("/sample/branches", data=data)
    assert response.status_code == 400
    assert "did not come from this site" in response.get_data(as_text=True)
    with pytest.raises(RevisionNotFound):
        sample.repo.resolve("nope")


def test_create_branch_without_a_session_is_refused(client, sample) -> None:
    response = client.post("/sample/branches", data={"name": "nope", "csrf_token": "x"})
    assert response.status_code == 400
    assert [name for name, _ in sample.repo.list_branches()] == ["feature/x", "main"]


@pytest.mark.parametrize(
    ("name", "source", "message"),
    [
        pytest.param("bad..name", "", "must not contain &#39;..&#39;", id="invalid-name"),
        pytest.param("", "", "non-empty", id="empty-name"),
        pytest.param("feature/x", "", "already exists", id="exists"),
        pytest.param("new", "no-such-rev", "not found", id="unknown-source"),
    ],
)
def test_create_branch_errors_are_flashed(client, forms, sample, name, source, message) -> None:
    response = forms.post("/sample/branches", {"name": name, "from": source})
    assert response.status_code == 303
    html = page(client, "/sample/branches")
    assert 'class="flash flash-error"' in html
    assert message in html
    assert branch_names(html) == ["feature/x", "main"]


def test_delete_branch(client, forms, sample) -> None:
    response = forms.post(
        "/sample/branches/delete", {"name": "feature/x"}, form_page="/sample/branches"
    )
    assert response.status_code == 303
    html = page(client, "/sample/branches")
    assert branch_names(html) == ["main"]
    assert "Deleted branch feature/x." in html


def test_delete_branch_needs_the_csrf_token(client, sample) -> None:
    response = client.post("/sample/branches/delete", data={"name": "feature/x"})
    assert response.status_code == 400
    assert sample.repo.resolve("feature/x") == sample.feature


def test_deleting_the_default_branch_is_refused(client, forms, sample) -> None:
    assert 'name="name" value="main"' not in page(client, "/sample/branches")  # no button
    forms.post("/sample/branches/delete", {"name": "main"}, form_page="/sample/branches")
    html = page(client, "/sample/branches")
    assert "cannot delete the default branch" in html
    assert sample.repo.resolve("main") == sample.head


def test_deleting_a_missing_branch_is_an_error_message(client, forms, sample) -> None:
    forms.post("/sample/branches/delete", {"name": "ghost"}, form_page="/sample/branches")
    assert "not found" in page(client, "/sample/branches")


def test_tags_page(client, sample) -> None:
    html = page(client, "/sample/tags")
    assert 'href="/sample/tree/v1.0">v1.0</a>' in html
    assert f'href="/sample/commit/{sample.tag}"' in html
    assert "Add binaries, images and code" in html


def test_tags_page_without_tags(client, db, storage) -> None:
    create_repository(db, "untagged")
    commit(Repository(db, storage, "untagged"), "main", {"a": b"1"}, "one", 1)
    assert "No tags yet." in page(client, "/untagged/tags")
