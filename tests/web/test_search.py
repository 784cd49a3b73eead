"""Search pages: global and per repository, never showing what the caller may not read."""

from __future__ import annotations

from flask.testing import FlaskClient

from dataworkflow.services.changes import Put
from dataworkflow.services.installation import create_repository
from dataworkflow.services.repository import Repository
from dataworkflow.services.search import catch_up
from tests.web.conftest import Forms, page


def _index(sample) -> None:
    catch_up(sample.repo.db, sample.repo.storage)


def test_content_search_shows_matching_lines_linked_to_the_file(
    anonymous: FlaskClient, sample
) -> None:
    _index(sample)
    html = page(anonymous, "/search?q=Lima")
    assert "data/weather.csv" in html
    assert "Lima,19.0,0" in html
    assert f"/sample/blob/{sample.head}/data/weather.csv#L-3" in html


def test_commit_search_ranks_and_links(anonymous: FlaskClient, sample) -> None:
    html = page(anonymous, "/search?q=binaries&kind=commits")
    assert "Add binaries, images and code" in html
    assert f"/sample/commit/{sample.commits[1]}" in html


def test_repository_search_finds_paths_by_glob(anonymous: FlaskClient, sample) -> None:
    html = page(anonymous, "/sample/search?q=*.parquet&kind=paths")
    assert "data/cities.parquet" in html
    assert "weather.csv" not in html
    html = page(anonymous, "/sample/search?q=data/**/leaf.txt&kind=paths&rev=main")
    assert "data/nested/deep/leaf.txt" in html


def test_private_repositories_never_show_up(
    anonymous: FlaskClient, client: FlaskClient, sample, db, storage
) -> None:
    create_repository(db, "hidden", private=True)
    Repository(db, storage, "hidden").commit(
        "main", [Put("secret.txt", b"Lima secret plans\n")], "Lima plans"
    )
    catch_up(db, storage)
    assert "secret.txt" not in page(anonymous, "/search?q=Lima")
    assert "Lima plans" not in page(anonymous, "/search?q=plans&kind=commits")
    assert "secret.txt" in page(client, "/search?q=Lima")  # the administrator reads it
    assert anonymous.get("/hidden/search?q=Lima").status_code == 404


def test_writes_through_the_web_are_indexed(client: FlaskClient, forms: Forms, sample) -> None:
    _index(sample)
    response = forms.post(
        "/sample/upload/main",
        {
            "message": "Add notes",
            "files": [(__import__("io").BytesIO(b"zanzibar plans\n"), "zanzibar.txt")],
        },
        form_page="/sample/upload/main",
        content_type="multipart/form-data",
    )
    assert response.status_code == 303
    assert "zanzibar.txt" in page(client, "/search?q=zanzibar")


def test_bad_queries_are_explained_not_crashed(anonymous: FlaskClient, sample) -> None:
    for query in ('"', "*", "%_", "NEAR(", "x" * 2000):
        response = anonymous.get(f"/search?q={query}")
        assert response.status_code in (200, 400), (query, response.status)
        response.close()
    response = anonymous.get("/sample/search?q=[&kind=paths")
    assert response.status_code == 400
    assert "flash-error" in response.get_data(as_text=True)
