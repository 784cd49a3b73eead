"""History, one commit, and commits made through the API, with their errors."""

import base64
import hashlib

import pytest

from tests.api.helpers import assert_problem, json_of
from tests.web.conftest import README

COMMITS = "/api/v1/repos/sample/commits"


def commit_request(sample, changes, **fields):
    return {
        "branch": "main",
        "message": "API commit",
        "expected_head": sample.head,
        "changes": changes,
        **fields,
    }


def file_bytes(client, path: str, ref: str = "main") -> bytes:
    response = client.get(f"/api/v1/repos/sample/files?ref={ref}&path={path}")
    assert response.status_code == 200, response.get_data()
    return response.get_data()


# --- log ------------------------------------------------------------------------------


def test_log_is_newest_first(client, sample) -> None:
    body = json_of(client.get(COMMITS))
    assert [c["id"] for c in body["commits"]] == sample.commits[::-1]
    assert body["next"] is None
    first = body["commits"][-1]
    assert first["parents"] == []
    assert first["message"].startswith("Import weather data")
    assert first["author"] == {
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "time": "2023-11-14T22:14:20+00:00",
    }
    assert body["commits"][1]["metadata"] == {
        "pipeline run": "2023-11-14",
        "source": "station-42",
    }


def test_log_pages_with_a_cursor(client, sample) -> None:
    seen, cursor = [], None
    while True:
        url = f"{COMMITS}?ref=feature/x&limit=1" + (f"&cursor={cursor}" if cursor else "")
        body = json_of(client.get(url))
        assert len(body["commits"]) <= 1
        seen += [c["id"] for c in body["commits"]]
        cursor = body["next"]
        if cursor is None:
            break
    assert seen == [sample.feature, sample.commits[1], sample.commits[0]]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param("path=README.md", [2, 0], id="file"),
        pytest.param("path=data", [1, 0], id="folder"),
        pytest.param("path=notes.txt", [2, 0], id="deleted-file"),
        pytest.param("ref=v1.0", [1, 0], id="tag"),
        pytest.param("ref=main~1", [1, 0], id="expression"),
    ],
)
def test_log_filters(client, sample, query, expected) -> None:
    body = json_of(client.get(f"{COMMITS}?{query}"))
    assert [c["id"] for c in body["commits"]] == [sample.commits[i] for i in expected]


@pytest.mark.parametrize(
    "rev", ["main", "v1.0~0", "feature/x", "feature/x~1", "full", "short"], ids=str
)
def test_get_one_commit(client, sample, rev) -> None:
    expected = {
        "main": sample.head,
        "v1.0~0": sample.tag,
        "feature/x": sample.feature,
        "feature/x~1": sample.commits[1],
        "full": sample.commits[0],
        "short": sample.commits[0],
    }[rev]
    rev = {"full": sample.commits[0], "short": sample.commits[0][:10]}.get(rev, rev)
    body = json_of(client.get(f"{COMMITS}/{rev}"))
    assert body["id"] == expected
    assert set(body) == {"id", "tree", "parents", "author", "committer", "message", "metadata"}


@pytest.mark.parametrize(
    ("url", "status", "problem_type"),
    [
        pytest.param(f"{COMMITS}?ref=nope", 404, "revision-not-found", id="ref"),
        pytest.param(f"{COMMITS}?ref=main~9", 404, "revision-not-found", id="too-far"),
        pytest.param(f"{COMMITS}?ref=main~x", 400, "invalid-parameters", id="syntax"),
        pytest.param(f"{COMMITS}?limit=0", 400, "invalid-parameters", id="limit-0"),
        pytest.param(f"{COMMITS}?limit=1001", 400, "invalid-parameters", id="limit-big"),
        pytest.param(f"{COMMITS}?limit=ten", 400, "invalid-parameters", id="limit-text"),
        pytest.param(f"{COMMITS}?limit=1&limit=2", 400, "invalid-parameters", id="twice"),
        pytest.param(f"{COMMITS}?cursor=abc", 400, "invalid-input", id="cursor"),
        pytest.param(f"{COMMITS}?path=a//b", 400, "invalid-parameters", id="path"),
        pytest.param(f"{COMMITS}?ref=%00", 400, "invalid-parameters", id="nul"),
        pytest.param(f"{COMMITS}/nope", 404, "revision-not-found", id="one"),
        pytest.param(f"{COMMITS}/{'f' * 64}", 404, "revision-not-found", id="one-id"),
        pytest.param(f"{COMMITS}/main~~x", 400, "invalid-revision", id="one-syntax"),
        pytest.param("/api/v1/repos/nope/commits", 404, "repository-not-found", id="repo"),
    ],
)
def test_log_errors(client, sample, url, status, problem_type) -> None:
    assert_problem(client.get(url), status, problem_type)


# --- commits --------------------------------------------------------------------------


def test_commit_inline_uploaded_and_deleted_files(client, sample) -> None:
    upload = json_of(client.post("/api/v1/repos/sample/objects", data=b"big,data\n1,2\n"), 201)
    changes = [
        {"op": "put", "path": "text/hello.txt", "content": "héllo\n"},
        {"op": "put", "path": "bin/zeros.bin", "content": "AAAA", "encoding": "base64"},
        {"op": "put", "path": "data/big.csv", "blob": upload["id"]},
        {"op": "put", "path": "tool.sh", "content": "#!/bin/sh\n", "executable": True},
        {"op": "delete", "path": "images"},
    ]
    request = commit_request(
        sample,
        changes,
        author="Grace Hopper",
        author_email="grace@example.com",
        metadata={"source": "api-test"},
    )
    response = client.post(COMMITS, json=request)
    body = json_of(response, 201)
    assert body["branch"] == "main"
    assert body["parent"] == sample.head
    assert body["created"] is True
    assert response.headers["Location"] == f"{COMMITS}/{body['commit']}"
    assert file_bytes(client, "text/hello.txt") == "héllo\n".encode()
    assert file_bytes(client, "bin/zeros.bin") == b"\0\0\0"
    assert file_bytes(client, "data/big.csv") == b"big,data\n1,2\n"
    tool = json_of(client.get("/api/v1/repos/sample/stat?path=tool.sh"))
    assert tool["mode"] == "100755"
    assert_problem(client.get("/api/v1/repos/sample/stat?path=images"), 404, "path-not-found")
    commit = json_of(client.get(f"{COMMITS}/main"))
    assert commit["id"] == body["commit"]
    assert commit["tree"] == body["tree"]
    assert commit["parents"] == [sample.head]
    assert commit["author"]["name"] == "Grace Hopper"
    assert commit["metadata"] == {"source": "api-test"}
    assert commit["message"] == "API commit"


def test_a_commit_that_changes_nothing_is_not_made(client, sample) -> None:
    same = [{"op": "put", "path": "README.md", "content": (README + b"\nUpdated.\n").decode()}]
    body = json_of(client.post(COMMITS, json=commit_request(sample, same)), 200)
    assert body["created"] is False
    assert body["commit"] == sample.head


def test_commit_creates_a_branch_when_expected_head_is_null(client, sample) -> None:
    request = commit_request(sample, [{"op": "put", "path": "a.txt", "content": "a"}])
    request.update(branch="fresh/start", expected_head=None)
    body = json_of(client.post(COMMITS, json=request), 201)
    assert body["parent"] is None
    branches = json_of(client.get("/api/v1/repos/sample/branches"))["branches"]
    assert {"name": "fresh/start", "commit": body["commit"]} in branches


def test_a_stale_expected_head_is_a_conflict_and_writes_nothing(client, sample) -> None:
    request = commit_request(sample, [{"op": "put", "path": "late.txt", "content": "late"}])
    request["expected_head"] = sample.commits[1]
    body = assert_problem(client.post(COMMITS, json=request), 409, "ref-conflict")
    assert body["current"] == sample.head
    assert body["expected"] == sample.commits[1]
    assert body["ref"] == "refs/heads/main"
    assert json_of(client.get(f"{COMMITS}/main"))["id"] == sample.head
    assert_problem(client.get("/api/v1/repos/sample/stat?path=late.txt"), 404)


def test_a_null_expected_head_on_an_existing_branch_is_a_conflict(client, sample) -> None:
    request = commit_request(sample, [{"op": "delete", "path": "empty.txt"}])
    request["expected_head"] = None
    body = assert_problem(client.post(COMMITS, json=request), 409, "ref-conflict")
    assert body["current"] == sample.head


@pytest.mark.parametrize(
    ("changes", "pointer"),
    [
        pytest.param([{"op": "put", "path": "a//b", "content": ""}], "/changes/0/path", id="path"),
        pytest.param([{"op": "put", "path": "", "content": ""}], "/changes/0/path", id="root"),
        pytest.param([{"op": "move", "path": "a"}], "/changes/0/op", id="op"),
        pytest.param([{"path": "a"}], "/changes/0/op", id="no-op"),
        pytest.param([{"op": "put", "path": "a"}], "/changes/0/blob", id="no-content"),
        pytest.param(
            [{"op": "put", "path": "a", "content": "", "blob": "0" * 64}],
            "/changes/0/blob",
            id="both",
        ),
        pytest.param([{"op": "put", "path": "a", "blob": "xyz"}], "/changes/0/blob", id="blob"),
        pytest.param(
            [{"op": "put", "path": "a", "content": "!!", "encoding": "base64"}],
            "/changes/0/content",
            id="base64",
        ),
        pytest.param(
            [{"op": "put", "path": "a", "content": "", "encoding": "latin-1"}],
            "/changes/0/encoding",
            id="encoding",
        ),
        pytest.param([{"op": "delete", "path": "a", "x": 1}], "/changes/0/x", id="member"),
        pytest.param(["a.txt"], "/changes/0", id="not-object"),
        pytest.param({"a": 1}, "/changes", id="not-array"),
    ],
)
def test_invalid_changes_are_unprocessable(client, sample, changes, pointer) -> None:
    body = assert_problem(client.post(COMMITS, json=commit_request(sample, changes)), 422)
    assert pointer in [e["pointer"] for e in body["errors"]], body["errors"]
    assert json_of(client.get(f"{COMMITS}/main"))["id"] == sample.head


@pytest.mark.parametrize(
    ("fields", "pointer"),
    [
        pytest.param({"message": "  "}, "/message", id="empty-message"),
        pytest.param({"message": None}, "/message", id="null-message"),
        pytest.param({"branch": "a b"}, "/branch", id="branch"),
        pytest.param({"expected_head": "main"}, "/expected_head", id="expected-not-id"),
        pytest.param({"metadata": {"k": 1}}, "/metadata/k", id="metadata"),
        pytest.param({"author": 5}, "/author", id="author"),
        pytest.param({"signed": True}, "/signed", id="unknown"),
    ],
)
def test_invalid_commit_fields_are_unprocessable(client, sample, fields, pointer) -> None:
    request = commit_request(sample, [{"op": "delete", "path": "empty.txt"}], **fields)
    body = assert_problem(client.post(COMMITS, json=request), 422, "invalid-content")
    assert pointer in [e["pointer"] for e in body["errors"]]


def test_expected_head_is_required(client, sample) -> None:
    request = commit_request(sample, [{"op": "delete", "path": "empty.txt"}])
    del request["expected_head"]
    body = assert_problem(client.post(COMMITS, json=request), 422, "invalid-content")
    assert body["errors"] == [{"pointer": "/expected_head", "detail": "is required"}]


@pytest.mark.parametrize(
    ("changes", "status", "problem_type"),
    [
        pytest.param(
            [{"op": "delete", "path": "nope.txt"}], 422, "path-not-found", id="delete-missing"
        ),
        pytest.param(
            [{"op": "put", "path": "a", "blob": "0" * 64}], 422, "object-not-found", id="blob"
        ),
        pytest.param(
            [{"op": "put", "path": "README.md/x", "content": ""}], 409, "not-a-file", id="cross"
        ),
        pytest.param(
            [{"op": "put", "path": "data", "content": ""}], 409, "not-a-file", id="folder"
        ),
        pytest.param(
            [{"op": "delete", "path": "a"}, {"op": "delete", "path": "a/"}],
            422,
            "invalid-input",
            id="twice",
        ),
    ],
)
def test_changes_that_do_not_fit_the_tree(client, sample, changes, status, problem_type) -> None:
    response = client.post(COMMITS, json=commit_request(sample, changes))
    assert_problem(response, status, problem_type)
    assert json_of(client.get(f"{COMMITS}/main"))["id"] == sample.head


def test_a_blob_of_another_repository_cannot_be_committed(client, sample) -> None:
    client.post("/api/v1/repos", json={"name": "other"})
    secret = json_of(client.post("/api/v1/repos/other/objects", data=b"secret"), 201)["id"]
    changes = [{"op": "put", "path": "leak.txt", "blob": secret}]
    assert_problem(client.post(COMMITS, json=commit_request(sample, changes)), 422)


def test_inline_content_above_the_cap_is_unprocessable(make_app, sample) -> None:
    client = make_app(API_MAX_INLINE_BYTES=8).test_client()
    ok = [
        {
            "op": "put",
            "path": "ok.txt",
            "content": base64.b64encode(b"12345678").decode(),
            "encoding": "base64",
        }
    ]
    assert json_of(client.post(COMMITS, json=commit_request(sample, ok)), 201)
    head = json_of(client.get(f"{COMMITS}/main"))["id"]
    big = [{"op": "put", "path": "big.txt", "content": "123456789"}]
    request = commit_request(sample, big, expected_head=head)
    body = assert_problem(client.post(COMMITS, json=request), 422, "invalid-content")
    assert body["errors"][0]["pointer"] == "/changes/0/content"
    assert "upload larger files" in body["errors"][0]["detail"]


def test_an_uploaded_blob_and_inline_content_have_the_same_id(client, sample) -> None:
    data = b"same bytes\n"
    request = commit_request(sample, [{"op": "put", "path": "same.txt", "content": "same bytes\n"}])
    json_of(client.post(COMMITS, json=request), 201)
    stat = json_of(client.get("/api/v1/repos/sample/stat?path=same.txt"))
    assert stat["id"] == hashlib.sha256(data).hexdigest()
