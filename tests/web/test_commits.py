"""History pages (keyset-paginated) and the commit page."""

import re

import pytest

from dataworkflow.services.installation import create_repository
from dataworkflow.services.repository import Repository
from tests.web.conftest import T0, Tags, commit, page


def titles(html: str) -> list[str]:
    return re.findall(r'<a class="commit-title" href="[^"]*">([^<]*)</a>', html)


@pytest.fixture
def long_history(db, storage) -> Repository:
    """Repository ``long``: 60 commits on main, "change 1" to "change 60"."""
    create_repository(db, "long")
    repo = Repository(db, storage, "long")
    for n in range(1, 61):
        commit(repo, "main", {"counter.txt": f"{n}\n".encode()}, f"change {n}", n)
    return repo


def test_history_is_paginated(client, long_history) -> None:
    first = page(client, "/long/commits/main")
    assert titles(first) == [f"change {n}" for n in range(60, 10, -1)]
    older = re.search(r'href="([^"]+)">Older</a>', first)
    assert older
    second = page(client, older.group(1).replace("&amp;", "&"))
    assert titles(second) == [f"change {n}" for n in range(10, 0, -1)]
    assert "Older" not in second
    assert 'href="/long/commits/main">Newest</a>' in second


def test_history_row_has_author_date_short_id_and_copy_button(client, sample) -> None:
    html = page(client, "/sample/commits/main")
    assert titles(html) == [
        "Update README, drop notes",
        "Add binaries, images and code",
        "Import weather data",
    ]
    assert "<strong>Grace Hopper</strong> committed" in html
    assert " ago</time>" in html
    assert f">{sample.head[:10]}</a>" in html
    copy = [b for b in Tags(html).all("button") if b.get("class") == "copy"]
    assert {b["data-copy"] for b in copy} == set(sample.commits)


def test_history_of_a_branch_with_a_slash(client, sample) -> None:
    html = page(client, "/sample/commits/feature/x")
    assert titles(html) == ["Feature work", "Add binaries, images and code", "Import weather data"]


def test_history_of_one_path(client, sample) -> None:
    html = page(client, "/sample/commits/main/README.md")
    assert titles(html) == ["Update README, drop notes", "Import weather data"]
    assert "History of <code>README.md</code>" in html


def test_history_of_a_folder(client, sample) -> None:
    assert titles(page(client, "/sample/commits/main/bin")) == ["Add binaries, images and code"]


def test_history_of_a_path_that_never_existed(client, sample) -> None:
    html = page(client, "/sample/commits/main/nowhere.txt")
    assert titles(html) == []
    assert "No commits changed" in html


def test_commit_page(client, sample) -> None:
    html = page(client, f"/sample/commit/{sample.commits[0]}")
    assert "<h2>Import weather data</h2>" in html
    assert "First import from the station archive." in html
    assert "<strong>Ada Lovelace</strong>" in html
    assert "&lt;ada@example.com&gt;" in html
    assert sample.commits[0] in html


def test_commit_page_shows_metadata(client, sample) -> None:
    html = page(client, f"/sample/commit/{sample.commits[1]}")
    assert "<dt>source</dt><dd>station-42</dd>" in html
    assert "<dt>pipeline run</dt><dd>2023-11-14</dd>" in html


def test_commit_page_shows_a_different_committer(client, sample) -> None:
    repo = sample.repo
    tree = repo.get_commit("main").commit.tree
    made = repo.create_commit(
        tree,
        "Re-applied",
        "Ada Lovelace",
        "ada@example.com",
        sample.head,
        committer="Merge Bot",
        committer_email="bot@example.com",
        authored_at=T0,
        committed_at=T0 + 3600,
    )
    html = page(client, f"/sample/commit/{made}")
    assert "committed by <strong>Merge Bot</strong> &lt;bot@example.com&gt;" in html
    assert "No files changed." in html


def test_commit_page_links_its_parent(client, sample) -> None:
    hrefs = Tags(page(client, f"/sample/commit/{sample.head}")).hrefs()
    assert f"/sample/commit/{sample.commits[1]}" in hrefs
    assert f"/sample/tree/{sample.head}" in hrefs  # browse the files


def test_merge_commit_links_both_parents(client, sample) -> None:
    repo = sample.repo
    merge = repo.create_commit(
        repo.get_commit(sample.feature).commit.tree,
        "Merge feature/x",
        "Ada Lovelace",
        "ada@example.com",
        parent_hashes=[sample.head, sample.feature],
        authored_at=T0 + 600,
    )
    html = page(client, f"/sample/commit/{merge}")
    hrefs = Tags(html).hrefs()
    assert f"/sample/commit/{sample.head}" in hrefs
    assert f"/sample/commit/{sample.feature}" in hrefs
    assert "<dt>parents</dt>" in html


def changes(html: str) -> dict[str, str]:
    """``{path: status letter}`` from the files-changed table."""
    rows = re.findall(
        r'<td class="status[^"]*"[^>]*>(\w)</td>\s*'
        r'<td class="name">\s*(?:<a [^>]*>|<span [^>]*>)([^<]+)<',
        html,
    )
    return {path: status for status, path in rows}


def test_commit_page_lists_added_files_of_a_root_commit(client, sample) -> None:
    html = page(client, f"/sample/commit/{sample.commits[0]}")
    assert "none (first commit)" in html
    assert "5 files changed" in html
    assert changes(html) == {
        "README.md": "A",
        "data/ids.tsv": "A",
        "data/nested/deep/leaf.txt": "A",
        "data/weather.csv": "A",
        "notes.txt": "A",
    }


def test_commit_page_lists_modified_and_deleted_files(client, sample) -> None:
    html = page(client, f"/sample/commit/{sample.head}")
    assert changes(html) == {"README.md": "M", "notes.txt": "D"}
    assert f'href="/sample/blob/{sample.head}/README.md"' in html
    assert '<span class="deleted">notes.txt</span>' in html


def test_commit_by_branch_tag_and_short_id(client, sample) -> None:
    assert "<h2>Update README, drop notes</h2>" in page(client, "/sample/commit/main")
    assert "<h2>Add binaries, images and code</h2>" in page(client, "/sample/commit/v1.0")
    assert "<h2>Import weather data</h2>" in page(
        client, f"/sample/commit/{sample.commits[0][:12]}"
    )
