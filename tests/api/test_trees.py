"""Folder listings: one level and recursive, keyset-paginated, with their errors."""

import pytest

from dataworkflow.services.changes import Put
from dataworkflow.services.installation import create_repository
from dataworkflow.services.repository import Repository
from tests.api.helpers import assert_problem, json_of

TREE = "/api/v1/repos/sample/tree"


def test_root_listing_by_name(client, sample) -> None:
    body = json_of(client.get(TREE))
    assert body["commit"] == sample.head
    assert body["path"] == ""
    assert body["next"] is None
    names = [e["name"] for e in body["entries"]]
    assert names == ["README.md", "bin", "data", "empty.txt", "images", "src"]
    readme = body["entries"][0]
    assert readme["type"] == "blob" and readme["mode"] == "100644"
    assert readme["path"] == "README.md" and readme["size"] > 0
    data = body["entries"][2]
    assert data["type"] == "tree" and data["mode"] == "040000" and data["size"] is None


def test_subfolder_and_revision(client, sample) -> None:
    body = json_of(client.get(f"{TREE}?ref=v1.0&path=data/nested"))
    assert body["commit"] == sample.tag
    assert [e["path"] for e in body["entries"]] == ["data/nested/deep"]
    feature = json_of(client.get(f"{TREE}?ref=feature/x"))
    assert "feature.txt" in [e["name"] for e in feature["entries"]]


def test_recursive_listing_is_depth_first(client, sample) -> None:
    body = json_of(client.get(f"{TREE}?path=data&recursive=true"))
    assert [e["path"] for e in body["entries"]] == [
        "data/cities.parquet",
        "data/ids.tsv",
        "data/nested",
        "data/nested/deep",
        "data/nested/deep/leaf.txt",
        "data/weather.csv",
    ]


def collect(client, url: str) -> list[str]:
    paths, after = [], None
    while True:
        body = json_of(client.get(url + (f"&after={after}" if after else "")))
        paths += [e["path"] for e in body["entries"]]
        after = body["next"]
        if after is None:
            return paths


@pytest.mark.parametrize("recursive", ["false", "true"])
@pytest.mark.parametrize("limit", [1, 2, 5])
def test_pages_cover_the_listing_exactly_once(client, sample, recursive, limit) -> None:
    full = [e["path"] for e in json_of(client.get(f"{TREE}?recursive={recursive}"))["entries"]]
    paged = collect(client, f"{TREE}?ref={sample.head}&recursive={recursive}&limit={limit}")
    assert paged == full


def test_recursive_pages_follow_walk_order_not_byte_order(client, db, storage) -> None:
    # "-" sorts before "/" as a byte, but the walk lists a/x (inside a) before a-b.
    create_repository(db, "order")
    repo = Repository(db, storage, "order")
    repo.commit("main", [Put(p, b"x") for p in ("a/x", "a-b", "a/y/z", "b")], "files")
    url = "/api/v1/repos/order/tree?recursive=true"
    full = [e["path"] for e in json_of(client.get(url))["entries"]]
    assert full == ["a", "a/x", "a/y", "a/y/z", "a-b", "b"]
    for limit in (1, 2, 3):
        assert collect(client, f"{url}&limit={limit}") == full
    sub = "/api/v1/repos/order/tree?recursive=true&path=a&limit=1"
    assert collect(client, sub) == ["a/x", "a/y", "a/y/z"]


def test_an_empty_repository_has_no_tree(client) -> None:
    client.post("/api/v1/repos", json={"name": "empty"})
    assert_problem(client.get("/api/v1/repos/empty/tree"), 404, "revision-not-found")


@pytest.mark.parametrize(
    ("query", "status", "problem_type"),
    [
        pytest.param("path=missing", 404, "path-not-found", id="missing"),
        pytest.param("path=README.md", 409, "not-a-file", id="file"),
        pytest.param("ref=nope", 404, "revision-not-found", id="ref"),
        pytest.param("path=../etc", 400, "invalid-parameters", id="dotdot"),
        pytest.param("after=a/b", 400, "invalid-parameters", id="after-name"),
        pytest.param("recursive=yes", 400, "invalid-parameters", id="recursive"),
        pytest.param("limit=10001", 400, "invalid-parameters", id="limit"),
        pytest.param("limit=-1", 400, "invalid-parameters", id="negative"),
    ],
)
def test_listing_errors(client, sample, query, status, problem_type) -> None:
    assert_problem(client.get(f"{TREE}?{query}"), status, problem_type)


# --- pages kept by tree id --------------------------------------------------------------


def test_a_listing_follows_its_branch_and_keeps_old_commits(client, db, storage) -> None:
    # Pages are kept per tree id, so a moved branch lists its new folder at once and the
    # old commit still lists the old one.
    create_repository(db, "moving")
    repo = Repository(db, storage, "moving")
    first = repo.commit("main", [Put("d/a.txt", b"a"), Put("d/b.txt", b"bb")], "two").commit_id
    url = "/api/v1/repos/moving/tree?path=d"
    assert [e["name"] for e in json_of(client.get(url))["entries"]] == ["a.txt", "b.txt"]
    second = repo.commit("main", [Put("d/b.txt", b"bbb"), Put("d/c.txt", b"c")], "more").commit_id
    body = json_of(client.get(url))
    assert body["commit"] == second
    assert [(e["name"], e["size"]) for e in body["entries"]] == [
        ("a.txt", 1),
        ("b.txt", 3),
        ("c.txt", 1),
    ]
    old = json_of(client.get(f"{url}&ref={first}"))
    assert old["commit"] == first
    assert [(e["name"], e["size"]) for e in old["entries"]] == [("a.txt", 1), ("b.txt", 2)]


def test_one_folder_under_two_paths_lists_each_path(client, db, storage) -> None:
    # The same tree (same id) at x/ and y/z/: paths in a page are the page's own.
    create_repository(db, "twins")
    repo = Repository(db, storage, "twins")
    repo.commit("main", [Put(p, b"same") for p in ("x/f", "x/g/h", "y/z/f", "y/z/g/h")], "m")
    for path, limit in (("x", 1000), ("y/z", 1000), ("x", 1), ("y/z", 1)):
        body = json_of(client.get(f"/api/v1/repos/twins/tree?path={path}&limit={limit}"))
        assert [e["path"] for e in body["entries"]] == [f"{path}/f", f"{path}/g"][:limit]
        deep = json_of(
            client.get(f"/api/v1/repos/twins/tree?path={path}&recursive=true&limit={limit}")
        )
        assert [e["path"] for e in deep["entries"]] == [f"{path}/f", f"{path}/g", f"{path}/g/h"][
            :limit
        ]
    ids = {json_of(client.get(f"/api/v1/repos/twins/stat?path={p}"))["id"] for p in ("x", "y/z")}
    assert len(ids) == 1  # really one tree, so the pages above shared a tree id


def test_a_private_repository_is_not_listed_through_a_public_twin(anonymous, db, storage) -> None:
    # A page kept from a public repository must not answer for a private one holding the
    # same tree: the access check and the path lookup come before the kept pages.
    for name, private in (("open", False), ("closed", True)):
        create_repository(db, name, private=private)
        Repository(db, storage, name).commit("main", [Put("d/f", b"x")], "m")
    assert json_of(anonymous.get("/api/v1/repos/open/tree?path=d"))["entries"]
    assert_problem(anonymous.get("/api/v1/repos/closed/tree?path=d"), 404, "repository-not-found")
