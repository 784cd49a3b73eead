"""Folder listings: breadcrumbs, folders first, refs with slashes, pagination, redirects."""

import re

import pytest

from dataworkflow.services.installation import create_repository
from dataworkflow.services.repository import Repository
from tests.web.conftest import Tags, page


def listed_names(html: str) -> list[str]:
    """Entry names in listing order (the ``..`` row excluded)."""
    return re.findall(r'<td class="name">\s*<a href="[^"]*">([^<]*)</a>', html)


def test_tree_lists_a_folder(client, sample) -> None:
    html = page(client, "/sample/tree/main/data")
    assert listed_names(html) == ["nested", "cities.parquet", "ids.tsv", "weather.csv"]
    assert 'href="/sample/blob/main/data/weather.csv"' in html
    assert 'href="/sample/tree/main/data/nested"' in html


def test_tree_shows_sizes_and_executable_badge(client, sample) -> None:
    html = page(client, "/sample/tree/main/bin")
    assert "1.0 KB" in html  # blob.bin: 1024 bytes
    assert re.search(r">run\.sh</a>\s*<span class=\"badge\">executable</span>", html)


def test_breadcrumbs(client, sample) -> None:
    html = page(client, "/sample/tree/main/data/nested/deep")
    crumbs = html.split('class="breadcrumbs"', 1)[1].split("</nav>", 1)[0]
    assert 'href="/sample/tree/main"' in crumbs
    assert 'href="/sample/tree/main/data">data</a>' in crumbs
    assert 'href="/sample/tree/main/data/nested">nested</a>' in crumbs
    assert "<strong>deep</strong>" in crumbs
    assert 'href="/sample/tree/main/data/nested">..</a>' in html  # parent row


def test_tree_at_a_tag_and_a_commit_id(client, sample) -> None:
    assert "notes.txt" in page(client, "/sample/tree/v1.0")
    html = page(client, f"/sample/tree/{sample.commits[0]}/data/nested")
    assert "deep" in html


def test_longest_ref_wins(client, sample) -> None:
    sample.repo.create_branch("feature", sample.commits[0])
    on_x = page(client, "/sample/tree/feature/x")
    assert "feature.txt" in listed_names(on_x)
    on_feature = page(client, "/sample/tree/feature")
    assert "feature.txt" not in listed_names(on_feature)
    assert "notes.txt" in listed_names(on_feature)
    assert listed_names(page(client, "/sample/tree/feature/data/nested")) == ["deep"]
    html = page(client, "/sample/blob/feature/x/feature.txt")
    assert "only on feature/x" in html


def test_root_of_a_branch_with_a_slash_links_correctly(client, sample) -> None:
    hrefs = Tags(page(client, "/sample/tree/feature/x/data")).hrefs()
    assert "/sample/blob/feature/x/data/weather.csv" in hrefs
    assert "/sample/commits/feature/x/data" in hrefs
    assert "/sample/upload/feature/x/data" in hrefs


@pytest.fixture
def big_folder(db, storage) -> Repository:
    """A repository whose folder ``many`` holds 520 files and 3 folders."""
    create_repository(db, "big")
    repo = Repository(db, storage, "big")
    blob = repo.create_blob(b"x\n")
    sub = repo.create_tree([{"name": "x.txt", "type": "blob", "hash": blob}])
    entries = [{"name": f"f{i:04d}.txt", "type": "blob", "hash": blob} for i in range(520)]
    entries += [{"name": name, "type": "tree", "hash": sub} for name in ("a-dir", "m-dir", "z-dir")]
    many = repo.create_tree(entries)
    root = repo.create_tree([{"name": "many", "type": "tree", "hash": many}])
    repo.create_or_update_ref("main", repo.create_commit(root, "Many files", "T", "t@example.com"))
    return repo


def test_large_folder_is_paginated(client, big_folder) -> None:
    first = page(client, "/big/tree/main/many")
    names = listed_names(first)
    assert len(names) == 500
    found = re.search(r'href="(/big/tree/main/many\?after=[^"]+)">Next page', first)
    assert found
    second = page(client, found.group(1).replace("&amp;", "&"))
    rest = listed_names(second)
    assert len(rest) == 23
    assert sorted(names + rest) == sorted({*names, *rest})  # no entry twice
    assert len({*names, *rest}) == 523
    assert "Next page" not in second
    assert 'href="/big/tree/main/many">First page' in second
    assert listed_names(page(client, found.group(1).replace("&amp;", "&"))) == rest  # stable


def test_folders_come_first_across_pages(client, big_folder) -> None:
    first = listed_names(page(client, "/big/tree/main/many"))
    assert first[:4] == ["a-dir", "m-dir", "z-dir", "f0000.txt"]
    assert listed_names(page(client, "/big/tree/main/many?after=blob:f0517.txt")) == [
        "f0518.txt",
        "f0519.txt",
    ]
    assert listed_names(page(client, "/big/tree/main/many?after=tree:m-dir"))[:2] == [
        "z-dir",
        "f0000.txt",
    ]


@pytest.mark.parametrize("after", ["f0517.txt", "link:x", "tree:"])
def test_malformed_listing_position_is_a_400(client, big_folder, after) -> None:
    assert client.get(f"/big/tree/main/many?after={after}").status_code == 400


def test_tree_url_on_a_file_redirects_to_blob(client, sample) -> None:
    response = client.get("/sample/tree/main/data/weather.csv")
    assert response.status_code == 302
    assert response.headers["Location"] == "/sample/blob/main/data/weather.csv"


def test_blob_url_on_a_folder_redirects_to_tree(client, sample) -> None:
    response = client.get("/sample/blob/feature/x/data")
    assert response.status_code == 302
    assert response.headers["Location"] == "/sample/tree/feature/x/data"


def test_empty_root_folder(client, db, storage) -> None:
    create_repository(db, "hollow")
    repo = Repository(db, storage, "hollow")
    root = repo.create_commit(repo.create_tree([]), "Nothing", "T", "t@example.com")
    repo.create_or_update_ref("main", root)
    assert "This folder is empty." in page(client, "/hollow/tree/main")
    assert "This folder is empty." in page(client, "/hollow")


def test_repository_home_pages_a_large_root(client, db, storage) -> None:
    create_repository(db, "wide")
    repo = Repository(db, storage, "wide")
    blob = repo.create_blob(b"x")
    root = repo.create_tree(
        [{"name": f"f{i:04d}", "type": "blob", "hash": blob} for i in range(501)]
    )
    repo.create_or_update_ref("main", repo.create_commit(root, "Wide", "T", "t@example.com"))
    html = page(client, "/wide/")
    assert len(listed_names(html)) == 500
    assert 'href="/wide/tree/main?after=blob:f0499">Next page</a>' in html
    assert listed_names(page(client, "/wide/tree/main?after=blob:f0499")) == ["f0500"]
