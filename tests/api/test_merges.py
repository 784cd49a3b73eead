"""Merge, revert and cherry-pick over the API: results, conflicts as data, and errors."""

from collections.abc import Iterator

import httpx
import pytest

from dataworkflow.client import Client, MergeResult
from dataworkflow.errors import InvalidInput, MergeConflict, RefConflict
from dataworkflow.services import merging
from tests.api.helpers import assert_problem, json_of
from tests.web.conftest import README, commit

REPO = "/api/v1/repos/sample"
MERGES = f"{REPO}/merges"
REVERTS = f"{REPO}/reverts"
PICKS = f"{REPO}/cherry-picks"


def head(client, branch: str) -> str:
    return json_of(client.get(f"{REPO}/branches/{branch}"))["commit"]


def read(client, rev: str, path: str) -> bytes:
    response = client.get(f"{REPO}/files", query_string={"ref": rev, "path": path})
    assert response.status_code == 200, response.status
    return response.get_data()


def exists(client, rev: str, path: str) -> bool:
    response = client.get(f"{REPO}/stat", query_string={"ref": rev, "path": path})
    return response.status_code == 200


def parents(client, rev: str) -> list[str]:
    return json_of(client.get(f"{REPO}/commits/{rev}"))["parents"]


@pytest.fixture
def rival(sample) -> str:
    """Branch ``rival`` from v1.0 changing README.md, which main changed too."""
    sample.repo.create_branch("rival", sample.tag)
    return commit(sample.repo, "rival", {"README.md": b"rival\n"}, "Rewrite README", 9)


def test_fast_forward(client, sample) -> None:
    client.post(f"{REPO}/branches", json={"name": "old", "from": "v1.0"})
    body = json_of(client.post(MERGES, json={"source": "main", "into": "old"}))
    assert body == {
        "status": "fast-forward",
        "commit": sample.head,
        "target": sample.tag,
        "bases": [sample.tag],
    }
    assert head(client, "old") == sample.head


def test_up_to_date(client, sample) -> None:
    body = json_of(client.post(MERGES, json={"source": "v1.0", "into": "main"}))
    assert body["status"] == "up-to-date"
    assert body["commit"] == body["target"] == sample.head
    assert head(client, "main") == sample.head


def test_a_merge_commit_has_two_parents(client, sample) -> None:
    request = {
        "source": "feature/x",
        "into": "main",
        "message": "Bring in the feature",
        "author": {"name": "Grace Hopper", "email": "grace@example.com"},
    }
    body = json_of(client.post(MERGES, json=request))
    assert body["status"] == "merged"
    assert (body["target"], body["bases"]) == (sample.head, [sample.tag])
    assert head(client, "main") == body["commit"]
    made = json_of(client.get(f"{REPO}/commits/{body['commit']}"))
    assert made["parents"] == [sample.head, sample.feature]
    assert made["message"] == "Bring in the feature"
    assert made["author"]["name"] == "Grace Hopper"
    assert read(client, "main", "feature.txt") == b"only on feature/x\n"
    assert read(client, "main", "README.md") == README + b"\nUpdated.\n"


def test_no_fast_forward_makes_a_merge_commit(client, sample) -> None:
    client.post(f"{REPO}/branches", json={"name": "old", "from": "v1.0"})
    request = {"source": "main", "into": "old", "fast_forward": False}
    body = json_of(client.post(MERGES, json=request))
    assert body["status"] == "merged"
    assert parents(client, body["commit"]) == [sample.tag, sample.head]


def test_conflicts_are_a_409_listing_them_and_nothing_moves(client, sample, rival) -> None:
    response = client.post(MERGES, json={"source": "rival", "into": "main"})
    body = assert_problem(response, 409, "merge-conflict", detail="1 path changed")
    [conflict] = body["conflicts"]
    assert conflict["path"] == "README.md"
    assert conflict["kind"] == "modify/modify"
    blobs = {side: conflict[side]["id"] for side in ("base", "ours", "theirs")}
    assert len(set(blobs.values())) == 3
    assert conflict["ours"]["mode"] == "100644" and conflict["ours"]["type"] == "blob"
    assert head(client, "main") == sample.head


def test_strategy_theirs_resolves_every_conflict(client, sample, rival) -> None:
    request = {"source": "rival", "into": "main", "strategy": "theirs"}
    body = json_of(client.post(MERGES, json=request))
    assert body["status"] == "merged"
    assert parents(client, "main") == [sample.head, rival]
    assert read(client, "main", "README.md") == b"rival\n"


@pytest.mark.parametrize(
    ("choice", "expected"),
    [("ours", README + b"\nUpdated.\n"), ("theirs", b"rival\n"), (None, None)],
)
def test_per_path_resolutions(client, sample, rival, choice, expected) -> None:
    request = {"source": "rival", "into": "main", "resolutions": {"README.md": choice}}
    assert json_of(client.post(MERGES, json=request))["status"] == "merged"
    if expected is None:
        assert not exists(client, "main", "README.md")
    else:
        assert read(client, "main", "README.md") == expected


def test_a_resolution_may_put_an_uploaded_blob(client, sample, rival) -> None:
    blob = sample.repo.create_blob(b"#!/bin/sh\nboth\n")
    resolution = {"blob": blob, "mode": "100755"}
    request = {"source": "rival", "into": "main", "resolutions": {"README.md": resolution}}
    assert json_of(client.post(MERGES, json=request))["status"] == "merged"
    assert read(client, "main", "README.md") == b"#!/bin/sh\nboth\n"
    stat = json_of(client.get(f"{REPO}/stat", query_string={"ref": "main", "path": "README.md"}))
    assert stat["mode"] == "100755"


def test_a_branch_moved_meanwhile_is_a_ref_conflict(client, sample, monkeypatch) -> None:
    read_head = merging._head

    def stale(session, repo, branch):  # the head as read before another commit landed
        found = read_head(session, repo, branch)
        return sample.commits[1] if found == sample.head else found

    monkeypatch.setattr(merging, "_head", stale)
    response = client.post(MERGES, json={"source": "feature/x", "into": "main"})
    body = assert_problem(response, 409, "ref-conflict")
    assert (body["ref"], body["current"]) == ("refs/heads/main", sample.head)
    assert head(client, "main") == sample.head


def test_revert(client, sample) -> None:
    body = json_of(client.post(REVERTS, json={"commit": "main", "branch": "main"}))
    assert (body["status"], body["target"], body["bases"]) == ("merged", sample.head, [])
    made = json_of(client.get(f"{REPO}/commits/main"))
    assert made["parents"] == [sample.head]
    assert made["message"].startswith('Revert "Update README, drop notes"')
    assert read(client, "main", "README.md") == README
    assert read(client, "main", "notes.txt") == b"to be deleted\n"


def test_revert_a_merge_commit_against_its_first_parent(client, sample) -> None:
    merged = json_of(client.post(MERGES, json={"source": "feature/x", "into": "main"}))
    request = {"commit": merged["commit"], "branch": "main", "mainline": 1}
    assert json_of(client.post(REVERTS, json=request))["status"] == "merged"
    assert not exists(client, "main", "feature.txt")
    request["mainline"] = 3
    assert_problem(client.post(REVERTS, json=request), 422, "invalid-input", detail="parent")


def test_revert_conflicts_are_reported(client, sample) -> None:
    commit(sample.repo, "main", {"README.md": b"again\n"}, "Edit README again", 5)
    request = {"commit": sample.head, "branch": "main"}
    body = assert_problem(client.post(REVERTS, json=request), 409, "merge-conflict")
    assert [c["path"] for c in body["conflicts"]] == ["README.md"]
    request["resolutions"] = {"README.md": "ours"}
    assert json_of(client.post(REVERTS, json=request))["status"] == "merged"
    assert read(client, "main", "README.md") == b"again\n"


def test_cherry_pick(client, sample) -> None:
    body = json_of(client.post(PICKS, json={"commit": "feature/x", "onto": "main"}))
    assert (body["status"], body["target"]) == ("merged", sample.head)
    made = json_of(client.get(f"{REPO}/commits/main"))
    assert made["parents"] == [sample.head]
    assert f"(cherry picked from commit {sample.feature})" in made["message"]
    assert read(client, "main", "feature.txt") == b"only on feature/x\n"
    again = json_of(client.post(PICKS, json={"commit": "feature/x", "onto": "main"}))
    assert again["status"] == "up-to-date"


@pytest.mark.parametrize(
    ("url", "request_body", "slug", "pointer"),
    [
        (MERGES, {"source": "nope", "into": "main"}, "revision-not-found", None),
        (MERGES, {"source": "feature/x", "into": "v1.0"}, "ref-not-found", None),
        (MERGES, {"source": "feature/x", "into": "missing"}, "ref-not-found", None),
        (MERGES, {"source": "feature/x"}, "invalid-content", "/into"),
        (MERGES, {"source": "main\x01", "into": "main"}, "invalid-content", "/source"),
        (MERGES, {"source": "x", "into": "bad..name"}, "invalid-content", "/into"),
        (
            MERGES,
            {"source": "x", "into": "main", "strategy": "mine"},
            "invalid-content",
            "/strategy",
        ),
        (
            MERGES,
            {"source": "x", "into": "main", "fast_forward": "no"},
            "invalid-content",
            "/fast_forward",
        ),
        (MERGES, {"source": "x", "into": "main", "merge": 1}, "invalid-content", "/merge"),
        (MERGES, {"source": "x", "into": "main", "message": " "}, "invalid-content", "/message"),
        (MERGES, {"source": "x", "into": "main", "author": "me"}, "invalid-content", "/author"),
        (
            MERGES,
            {"source": "x", "into": "main", "author": {"nick": "me"}},
            "invalid-content",
            "/author/nick",
        ),
        (
            MERGES,
            {"source": "x", "into": "main", "resolutions": []},
            "invalid-content",
            "/resolutions",
        ),
        (
            MERGES,
            {"source": "x", "into": "main", "resolutions": {"a": "mine"}},
            "invalid-content",
            "/resolutions/a",
        ),
        (
            MERGES,
            {"source": "x", "into": "main", "resolutions": {"../a": "ours"}},
            "invalid-content",
            "/resolutions/..~1a",
        ),
        (
            MERGES,
            {"source": "x", "into": "main", "resolutions": {"a": {"blob": "x"}}},
            "invalid-content",
            "/resolutions/a/blob",
        ),
        (
            MERGES,
            {
                "source": "x",
                "into": "main",
                "resolutions": {"a": {"blob": "0" * 64, "mode": "040000"}},
            },
            "invalid-content",
            "/resolutions/a/mode",
        ),
        (
            REVERTS,
            {"commit": "main", "branch": "main", "mainline": 0},
            "invalid-content",
            "/mainline",
        ),
        (
            REVERTS,
            {"commit": "main", "branch": "main", "mainline": True},
            "invalid-content",
            "/mainline",
        ),
        (REVERTS, {"commit": "main", "onto": "main"}, "invalid-content", "/branch"),
        (REVERTS, {"commit": "main", "branch": "nope"}, "ref-not-found", None),
        (PICKS, {"commit": "nope", "onto": "main"}, "revision-not-found", None),
        (PICKS, {"commit": "main~2", "onto": "main"}, "invalid-input", None),
    ],
)
def test_invalid_requests(client, sample, url, request_body, slug, pointer) -> None:
    body = assert_problem(client.post(url, json=request_body), 422, slug)
    if pointer is not None:
        assert pointer in [e["pointer"] for e in body["errors"]], body["errors"]
    assert head(client, "main") == sample.head


def test_a_resolution_of_a_path_not_in_conflict_or_of_a_missing_blob(client, sample, rival) -> None:
    request = {"source": "rival", "into": "main", "resolutions": {"src/main.py": "ours"}}
    assert_problem(client.post(MERGES, json=request), 422, "invalid-input", detail="src/main.py")
    request["resolutions"] = {"README.md": {"blob": "0" * 64}}
    body = assert_problem(client.post(MERGES, json=request), 422, "object-not-found")
    assert body["object_id"] == "0" * 64
    assert head(client, "main") == sample.head


def test_unknown_repository_and_bad_bodies(client, sample) -> None:
    missing = client.post("/api/v1/repos/nope/merges", json={"source": "a", "into": "b"})
    assert_problem(missing, 404, "repository-not-found")
    assert_problem(client.post(MERGES, data="{", content_type="application/json"), 400)
    assert_problem(client.post(MERGES, data="x", content_type="text/plain"), 415)
    assert_problem(client.post(PICKS, json=[]), 422, "invalid-content")


# --- the Python client --------------------------------------------------------------------


@pytest.fixture
def remote(app) -> Iterator[Client]:
    token = app.config["TEST_TOKEN"]
    transport = httpx.WSGITransport(app=app)
    with Client("http://testserver", token=token, transport=transport) as client:
        yield client


def test_client_merge_revert_and_cherry_pick(remote, sample, rival) -> None:
    with pytest.raises(MergeConflict) as caught:
        remote.merge("sample", "rival", "main")
    assert [c["path"] for c in caught.value.conflicts] == ["README.md"]
    assert caught.value.conflicts[0]["kind"] == "modify/modify"
    assert remote.head("sample", "main") == sample.head

    blob = remote.upload_blob("sample", b"merged\n")
    result = remote.merge(
        "sample",
        "rival",
        "main",
        resolutions={"README.md": {"blob": blob.id}},
        message="Merge rival",
        author="Ada Lovelace",
    )
    assert isinstance(result, MergeResult)
    assert (result.status, result.target, result.bases) == ("merged", sample.head, (sample.tag,))
    assert remote.head("sample", "main") == result.commit_id
    assert remote.read_file("sample", "main", "README.md") == b"merged\n"
    assert remote.get_commit("sample", "main").commit.parents == (sample.head, rival)

    picked = remote.cherry_pick("sample", "feature/x", "main")
    assert picked.status == "merged" and picked.target == result.commit_id
    assert remote.read_file("sample", "main", "feature.txt") == b"only on feature/x\n"

    reverted = remote.revert("sample", "main", "main", strategy="theirs")
    assert reverted.status == "merged"
    assert remote.stat("sample", "main", "README.md")  # the cherry-pick undone, README kept
    with pytest.raises(InvalidInput):
        remote.revert("sample", "main", "main", mainline=2)
    assert remote.merge("sample", "v1.0", "main").status == "up-to-date"


def test_client_ref_conflict(remote, sample, monkeypatch) -> None:
    read_head = merging._head
    monkeypatch.setattr(
        merging,
        "_head",
        lambda session, repo, branch: (
            sample.commits[1]
            if read_head(session, repo, branch) == sample.head
            else read_head(session, repo, branch)
        ),
    )
    with pytest.raises(RefConflict) as caught:
        remote.merge("sample", "feature/x", "main", fast_forward=False)
    assert caught.value.actual == sample.head
