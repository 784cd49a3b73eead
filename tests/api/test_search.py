"""GET /api/v1/search: every kind, and nothing from repositories the caller cannot read."""

from __future__ import annotations

from dataworkflow.services.changes import Put
from dataworkflow.services.installation import create_repository
from dataworkflow.services.repository import Repository
from dataworkflow.services.search import catch_up
from tests.api.helpers import assert_problem, json_of

SEARCH = "/api/v1/search"


def test_commit_search(anonymous, sample) -> None:
    body = json_of(anonymous.get(f"{SEARCH}?q=binaries"))
    assert body["kind"] == "commits" and body["next"] is None
    assert [item["id"] for item in body["items"]] == [sample.commits[1]]
    assert body["items"][0]["repository"] == "sample"


def test_content_search_after_indexing(anonymous, sample) -> None:
    catch_up(sample.repo.db, sample.repo.storage)
    body = json_of(anonymous.get(f"{SEARCH}?q=Lima&kind=content"))
    hits = {(hit["repository"], hit["branch"], hit["path"]): hit for hit in body["items"]}
    assert set(hits) == {("sample", b, "data/weather.csv") for b in ("main", "feature/x")}
    hit = hits[("sample", "main", "data/weather.csv")]
    assert {"number": 3, "text": "Lima,19.0,0", "match": True} in hit["lines"]


def test_paths_and_history_need_a_repository(anonymous, sample) -> None:
    body = json_of(anonymous.get(f"{SEARCH}?q=*.parquet&kind=paths&repo=sample"))
    assert [item["path"] for item in body["items"]] == ["data/cities.parquet"]
    body = json_of(anonymous.get(f"{SEARCH}?q=README.md&kind=history&repo=sample"))
    assert [item["id"] for item in body["items"]] == [sample.commits[2], sample.commits[0]]
    assert_problem(anonymous.get(f"{SEARCH}?q=*.csv&kind=paths"), 400)
    assert_problem(anonymous.get(f"{SEARCH}?q=x&kind=everything"), 400)
    assert_problem(anonymous.get(SEARCH), 400)


def test_private_repositories_stay_hidden(anonymous, client, sample, db, storage) -> None:
    create_repository(db, "hidden", private=True)
    Repository(db, storage, "hidden").commit(
        "main", [Put("plans.txt", b"Lima plans\n")], "Lima plans"
    )
    catch_up(db, storage)
    for kind in ("commits", "content"):
        found = json_of(anonymous.get(f"{SEARCH}?q=Lima&kind={kind}"))["items"]
        assert all(item["repository"] != "hidden" for item in found)
        mine = json_of(client.get(f"{SEARCH}?q=Lima&kind={kind}"))["items"]
        assert any(item["repository"] == "hidden" for item in mine)
    assert_problem(anonymous.get(f"{SEARCH}?q=Lima&repo=hidden"), 404)
    assert_problem(anonymous.get(f"{SEARCH}?q=*.txt&kind=paths&repo=hidden"), 404)
