"""The compare page, content diffs on commit pages, and merging from the browser."""

import re

import pytest

from dataworkflow.services.changes import Put
from dataworkflow.services.installation import create_repository
from dataworkflow.services.repository import Repository


@pytest.fixture
def forked(db, storage):
    create_repository(db, "fork")
    repo = Repository(db, storage, "fork")
    csv = "id,name,score\n" + "".join(f"{i},n{i},{i * 3}\n" for i in range(20))
    repo.commit(
        "main",
        [Put("data/t.csv", csv.encode()), Put("notes.txt", b"one\ntwo\nthree\n")],
        "base",
        authored_at=1_700_000_000,
    )
    repo.create_branch("feature/clean")
    changed = csv.replace("5,n5,15", "5,n5,999").replace("7,n7,21\n", "") + "20,n20,60\n"
    repo.commit(
        "feature/clean",
        [Put("data/t.csv", changed.encode()), Put("notes.txt", b"one\n2\nthree\n")],
        "clean <b>data</b>",
        authored_at=1_700_000_100,
    )
    return repo


def csrf(client, url):
    html = client.get(url).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_compare_lists_commits_and_table_diff(client, forked):
    response = client.get("/fork/compare/main...feature/clean?key=id")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "1 commit ahead, 0 behind" in html
    assert "clean &lt;b&gt;data&lt;/b&gt;" in html
    assert "+1 rows" in html and "−1 rows" in html and "~1 changed" in html  # noqa: RUF001 (the page shows a real minus sign)
    assert re.search(r'<td class="cell-changed"><del>15</del> <ins>999</ins></td>', html)
    assert 'class="row-added"' in html and 'class="row-removed"' in html
    assert "Merge into main" in html


def test_unkeyed_and_split_views(client, forked):
    html = client.get("/fork/compare/main...feature/clean?view=split").get_data(as_text=True)
    assert "matched by whole rows" in html
    assert 'class="code-diff split"' in html
    assert '<td class="del">two</td>' in html and '<td class="ins">2</td>' in html


def test_commit_page_shows_content_diffs(client, forked):
    html = client.get("/fork/commit/feature/clean").get_data(as_text=True)
    assert '<tr class="del"><td>-two</td></tr>' in html
    assert '<tr class="ins"><td>+2</td></tr>' in html


@pytest.mark.parametrize("spec", ["main", "main..feature/clean", "...main", "main..."])
def test_bad_compare_specs_are_400(client, forked, spec):
    assert client.get(f"/fork/compare/{spec}").status_code == 400


def test_unknown_revisions_are_404(client, forked):
    assert client.get("/fork/compare/main...nope").status_code == 404


def test_merge_button_merges(client, forked):
    url = "/fork/compare/main...feature/clean"
    response = client.post(
        url + "/merge", data={"csrf_token": csrf(client, url), "message": "Merge it"}
    )
    assert response.status_code == 303
    assert forked.resolve("main") == forked.resolve("feature/clean")  # fast-forward


def test_merge_with_conflicts_shows_them_and_changes_nothing(client, forked):
    forked.commit("main", [Put("notes.txt", b"one\nTWO\nthree\n")], "main edit")
    head = forked.resolve("main")
    url = "/fork/compare/main...feature/clean"
    response = client.post(url + "/merge", data={"csrf_token": csrf(client, url)})
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "cannot be merged automatically" in html and "notes.txt" in html
    assert forked.resolve("main") == head


def test_merge_without_csrf_is_refused(client, forked):
    head = forked.resolve("main")
    assert client.post("/fork/compare/main...feature/clean/merge").status_code == 400
    assert forked.resolve("main") == head


def test_merge_into_a_tag_is_refused(client, forked):
    forked.create_tag("v1", "main")
    token = csrf(client, "/fork/branches")
    assert (
        client.post(
            "/fork/compare/v1...feature/clean/merge", data={"csrf_token": token}
        ).status_code
        == 400
    )
