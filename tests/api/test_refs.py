"""Branches and tags: list, show, create, move by compare-and-swap, delete, and errors."""

import pytest

from tests.api.helpers import assert_problem, json_of

BRANCHES = "/api/v1/repos/sample/branches"
TAGS = "/api/v1/repos/sample/tags"


def test_list_branches(client, sample) -> None:
    body = json_of(client.get(BRANCHES))
    assert body == {
        "branches": [
            {"name": "feature/x", "commit": sample.feature},
            {"name": "main", "commit": sample.head},
        ]
    }


@pytest.mark.parametrize("spelling", ["feature/x", "feature%2Fx"])
def test_a_branch_name_with_a_slash_is_the_end_of_the_url(client, sample, spelling) -> None:
    body = json_of(client.get(f"{BRANCHES}/{spelling}"))
    assert body == {"name": "feature/x", "commit": sample.feature}


def test_create_a_branch(client, sample) -> None:
    response = client.post(BRANCHES, json={"name": "exp/one", "from": "v1.0"})
    assert json_of(response, 201) == {"name": "exp/one", "commit": sample.tag}
    assert response.headers["Location"] == f"{BRANCHES}/exp/one"
    default = json_of(client.post(BRANCHES, json={"name": "copy"}), 201)
    assert default["commit"] == sample.head
    assert json_of(client.get(f"{BRANCHES}/exp/one"))["commit"] == sample.tag


def test_move_a_branch_with_the_expected_commit(client, sample) -> None:
    body = json_of(
        client.patch(f"{BRANCHES}/main", json={"commit": "main~2", "expected": sample.head})
    )
    assert body == {"name": "main", "commit": sample.commits[0]}
    assert json_of(client.get(f"{BRANCHES}/main"))["commit"] == sample.commits[0]


def test_move_from_a_stale_commit_is_a_conflict_naming_the_current_head(client, sample) -> None:
    response = client.patch(
        f"{BRANCHES}/main", json={"commit": sample.feature, "expected": sample.commits[0]}
    )
    body = assert_problem(response, 409, "ref-conflict", detail="has moved")
    assert body["ref"] == "refs/heads/main"
    assert body["expected"] == sample.commits[0]
    assert body["current"] == sample.head
    assert json_of(client.get(f"{BRANCHES}/main"))["commit"] == sample.head


def test_delete_a_branch(client, sample) -> None:
    response = client.delete(f"{BRANCHES}/feature/x?expected={sample.feature}")
    assert response.status_code == 204
    assert_problem(client.get(f"{BRANCHES}/feature/x"), 404, "ref-not-found")
    assert [b["name"] for b in json_of(client.get(BRANCHES))["branches"]] == ["main"]


def test_delete_a_moved_branch_is_a_conflict(client, sample) -> None:
    response = client.delete(f"{BRANCHES}/feature/x?expected={sample.head}")
    body = assert_problem(response, 409, "ref-conflict")
    assert body["current"] == sample.feature
    assert json_of(client.get(f"{BRANCHES}/feature/x"))["commit"] == sample.feature


def test_tags(client, sample) -> None:
    assert json_of(client.get(TAGS)) == {"tags": [{"name": "v1.0", "commit": sample.tag}]}
    assert json_of(client.get(f"{TAGS}/v1.0")) == {"name": "v1.0", "commit": sample.tag}
    response = client.post(TAGS, json={"name": "releases/v2", "from": "main"})
    assert json_of(response, 201) == {"name": "releases/v2", "commit": sample.head}
    assert response.headers["Location"] == f"{TAGS}/releases/v2"
    assert client.delete(f"{TAGS}/releases/v2").status_code == 204
    assert_problem(client.get(f"{TAGS}/releases/v2"), 404, "ref-not-found")


def test_a_tag_moves_only_when_forced(client, sample) -> None:
    move = {"commit": "main", "expected": sample.tag}
    assert_problem(client.patch(f"{TAGS}/v1.0", json=move), 409, "already-exists")
    assert json_of(client.get(f"{TAGS}/v1.0"))["commit"] == sample.tag
    body = json_of(client.patch(f"{TAGS}/v1.0", json={**move, "force": True}))
    assert body == {"name": "v1.0", "commit": sample.head}
    stale = client.patch(f"{TAGS}/v1.0", json={**move, "force": True})
    assert assert_problem(stale, 409, "ref-conflict")["current"] == sample.head


# --- errors ---------------------------------------------------------------------------


def test_creating_an_existing_branch_or_tag_is_a_conflict(client, sample) -> None:
    assert_problem(client.post(BRANCHES, json={"name": "main"}), 409, "already-exists")
    assert_problem(client.post(TAGS, json={"name": "v1.0"}), 409, "already-exists")


@pytest.mark.parametrize(
    ("body", "pointer", "problem_type"),
    [
        pytest.param({"name": "a..b"}, "/name", "invalid-content", id="bad-name"),
        pytest.param({"name": "x", "from": "main~x"}, "/from", "invalid-content", id="bad-rev"),
        pytest.param({"name": "x", "from": "nope"}, None, "revision-not-found", id="unknown"),
        pytest.param({}, "/name", "invalid-content", id="missing-name"),
        pytest.param({"name": "x", "at": "main"}, "/at", "invalid-content", id="unknown-member"),
    ],
)
@pytest.mark.parametrize("url", [BRANCHES, TAGS])
def test_create_with_a_bad_body_is_unprocessable(client, sample, url, body, pointer, problem_type):
    problem = assert_problem(client.post(url, json=body), 422, problem_type)
    if pointer:
        assert pointer in [e["pointer"] for e in problem["errors"]]


def test_branches_of_an_empty_repository(client) -> None:
    client.post("/api/v1/repos", json={"name": "empty"})
    assert json_of(client.get("/api/v1/repos/empty/branches")) == {"branches": []}
    response = client.post("/api/v1/repos/empty/branches", json={"name": "x"})
    assert_problem(response, 422, "revision-not-found", detail="'main' not found")


@pytest.mark.parametrize(
    ("url", "status", "problem_type"),
    [
        pytest.param(f"{BRANCHES}/nope", 404, "ref-not-found", id="branch"),
        pytest.param(f"{TAGS}/nope", 404, "ref-not-found", id="tag"),
        pytest.param(f"{BRANCHES}/a..b", 400, "invalid-name", id="bad-branch-name"),
        pytest.param(f"{TAGS}/x.lock", 400, "invalid-name", id="bad-tag-name"),
        pytest.param("/api/v1/repos/nope/branches/main", 404, "repository-not-found", id="repo"),
        pytest.param("/api/v1/repos/nope/tags", 404, "repository-not-found", id="repo-tags"),
    ],
)
def test_show_errors(client, sample, url, status, problem_type) -> None:
    assert_problem(client.get(url), status, problem_type)


@pytest.mark.parametrize(
    ("body", "status", "problem_type"),
    [
        pytest.param({"commit": "main"}, 422, "invalid-content", id="no-expected"),
        pytest.param({"commit": "main", "expected": "abc"}, 422, "invalid-content", id="short"),
        pytest.param({"expected": "0" * 64}, 422, "invalid-content", id="no-commit"),
        pytest.param({"commit": "nope", "expected": "0" * 64}, 422, "revision-not-found", id="rev"),
    ],
)
def test_move_with_a_bad_body(client, sample, body, status, problem_type) -> None:
    assert_problem(client.patch(f"{BRANCHES}/main", json=body), status, problem_type)


def test_moving_a_missing_branch_is_not_found(client, sample) -> None:
    response = client.patch(f"{BRANCHES}/nope", json={"commit": "main", "expected": sample.head})
    assert_problem(response, 404, "ref-not-found")


def test_delete_errors(client, sample) -> None:
    assert_problem(client.delete(f"{BRANCHES}/main"), 400, "invalid-input", detail="default")
    assert_problem(client.delete(f"{BRANCHES}/nope"), 404, "ref-not-found")
    body = assert_problem(client.delete(f"{BRANCHES}/feature/x?expected=xyz"), 400)
    assert body["errors"][0]["parameter"] == "expected"
    assert_problem(client.delete(f"{TAGS}/nope"), 404, "ref-not-found")
