"""The activity page: the ref log of a repository, newest first, paginated and filterable."""

from __future__ import annotations

import io
import re

import pytest

from dataworkflow.metadata.tables import RefLogRow
from dataworkflow.services.installation import (
    create_repository,
    get_repository_info,
    update_repository,
)
from dataworkflow.services.repository import Repository
from tests.web.conftest import commit, page


def rows(html: str) -> list[str]:
    return re.findall(r'<tr id="entry-\d+">.*?</tr>', html, flags=re.S)


def reasons(html: str) -> list[str]:
    return re.findall(r'<span class="badge reason-[a-z-]+">([a-z-]+)</span>', html)


def test_activity_lists_commit_merge_force_and_delete_with_the_actor(
    client, forms, db, storage, sample
) -> None:
    upload = forms.post(
        "/sample/upload/main",
        {"files": [(io.BytesIO(b"x\n"), "x.txt")], "message": "Add x"},
        content_type="multipart/form-data",
    )
    assert upload.status_code == 303
    uploaded = sample.repo.resolve("main")
    merged = forms.post(
        "/sample/compare/main...feature/x/merge",
        {"message": "Merge feature"},
        form_page="/sample/compare/main...feature/x",
    )
    assert merged.status_code == 303
    merge = sample.repo.resolve("main")
    Repository(db, storage, "sample", actor="grace").create_or_update_ref(
        "feature/x", sample.commits[0]
    )
    deleted = forms.post(
        "/sample/branches/delete", {"name": "feature/x"}, form_page="/sample/branches"
    )
    assert deleted.status_code == 303

    html = page(client, "/sample/activity")
    found = rows(html)
    assert reasons(html)[:4] == ["delete", "force", "merge", "commit"]
    delete, force, merge_row, commit_row = found[:4]
    assert "<strong>admin</strong>" in delete and ">feature/x</a>" in delete
    assert f'href="/sample/commit/{sample.commits[0]}"' in delete  # the commit it pointed at
    assert "<strong>grace</strong>" in force
    assert f'href="/sample/commit/{sample.feature}"' in force
    assert f'href="/sample/commit/{sample.commits[0]}"' in force
    assert "<strong>admin</strong>" in merge_row
    assert f'href="/sample/commit/{merge}"' in merge_row
    assert f'href="/sample/commit/{uploaded}"' in commit_row
    assert f'href="/sample/commit/{sample.head}"' in commit_row
    assert "<strong>admin</strong>" in commit_row and ">main</a>" in commit_row
    # the sample's own history is further down: its tag and branch creations too
    assert "create" in reasons(html)
    assert "/sample/activity" in html  # the tab


def test_filter_by_ref_including_a_deleted_branch(client, sample) -> None:
    sample.repo.delete_branch("feature/x")
    html = page(client, "/sample/activity?ref=feature/x")
    assert reasons(html) == ["delete", "commit", "create"]
    assert all(">feature/x</a>" in found for found in rows(html))
    tags = page(client, "/sample/activity?ref=v1.0")
    assert reasons(tags) == ["create"] and ">v1.0</a>" in tags
    full = page(client, "/sample/activity?ref=refs/tags/v1.0")
    assert reasons(full) == ["create"]
    assert "Show all" in html


def test_a_ref_that_never_moved_has_no_entries(client, sample) -> None:
    html = page(client, "/sample/activity?ref=nothing-here")
    assert rows(html) == [] and "nothing-here has never moved." in html


@pytest.mark.parametrize("ref", ["a..b", "refs/remotes/x", "bad name"])
def test_a_malformed_ref_is_a_message(client, sample, ref) -> None:
    response = client.get("/sample/activity", query_string={"ref": ref})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'class="flash flash-error"' in html and rows(html) == []


@pytest.mark.parametrize("before", ["x", "-3", "0", "99999999999999999999999"])
def test_a_bad_page_shows_the_newest(client, sample, before) -> None:
    html = page(client, f"/sample/activity?before={before}")
    assert "showing the newest entries" in html
    assert len(rows(html)) == len(sample.repo.ref_log())


def test_pages_of_fifty(client, sample) -> None:
    for n in range(55):
        sample.repo.create_branch(f"b{n:02d}")
    total = len(sample.repo.ref_log(limit=1000))
    first = page(client, "/sample/activity")
    assert len(rows(first)) == 50
    older = re.search(r'href="(/sample/activity\?before=\d+)">Older</a>', first)
    assert older and "Newest" not in first
    second = page(client, older.group(1))
    assert len(rows(second)) == total - 50
    assert "Older</a>" not in second and ">Newest</a>" in second
    ids = [int(i) for i in re.findall(r'<tr id="entry-(\d+)">', first + second)]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == total


def test_paging_keeps_the_ref_filter(client, sample) -> None:
    for n in range(52):
        commit(sample.repo, "feature/x", {f"f{n}.txt": b"x"}, f"commit {n}", 10 + n)
    first = page(client, "/sample/activity?ref=feature/x")
    older = re.search(r'href="([^"]*before=\d+[^"]*)">Older</a>', first)
    assert older and "ref=feature/x" in older.group(1).replace("%2F", "/")
    second = page(client, older.group(1).replace("&amp;", "&"))
    assert all(">feature/x</a>" in found for found in rows(second))


def test_commits_gone_after_gc_are_shown_without_a_link(client, db, sample) -> None:
    gone = "f" * 64
    repository_id = get_repository_info(db, "sample").id
    with db.transaction() as session:
        session.add(
            RefLogRow(
                repository_id=repository_id,
                ref="refs/heads/old",
                old_commit_id=gone,
                new_commit_id=sample.head,
                actor="robot",
                reason="force",
                message="<script>alert(1)</script>",
                created_at=1_700_000_000,
            )
        )
    html = page(client, "/sample/activity")
    first = rows(html)[0]
    assert f"/sample/commit/{gone}" not in first
    assert f'title="{gone}: no longer in the repository">{gone[:10]}</span>' in first
    assert f'href="/sample/commit/{sample.head}"' in first
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in first and "<script>" not in first


def test_activity_of_a_private_repository_is_hidden(anonymous, client, db, sample) -> None:
    update_repository(db, "sample", private=True)
    assert anonymous.get("/sample/activity").status_code == 404
    assert page(client, "/sample/activity")


def test_an_empty_repository_has_no_activity_yet(client, db) -> None:
    create_repository(db, "blank")
    html = page(client, "/blank/activity")
    assert "Nothing has happened in this repository yet." in html
