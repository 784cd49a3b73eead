"""Repositories: list, create, show, update, delete, and their errors."""

import pytest

from tests.api.helpers import assert_problem, json_of


def create(client, name: str = "data", **fields):
    return client.post("/api/v1/repos", json={"name": name, **fields})


def test_list_is_empty_on_a_new_installation(client) -> None:
    assert json_of(client.get("/api/v1/repos")) == {"repositories": []}


def test_create_show_and_list(client) -> None:
    response = create(client, "data", description="Daily weather", default_branch="trunk")
    body = json_of(response, 201)
    assert response.headers["Location"] == "/api/v1/repos/data"
    assert body["name"] == "data"
    assert body["description"] == "Daily weather"
    assert body["default_branch"] == "trunk"
    assert body["private"] is False
    assert body["created_at"]
    assert json_of(client.get("/api/v1/repos/data")) == body
    create(client, "alpha", private=True)
    names = [r["name"] for r in json_of(client.get("/api/v1/repos"))["repositories"]]
    assert names == ["alpha", "data"]


def test_update_description_and_default_branch(client, sample) -> None:
    body = json_of(client.patch("/api/v1/repos/sample", json={"description": "New words"}))
    assert body["description"] == "New words"
    assert body["default_branch"] == "main"
    body = json_of(client.patch("/api/v1/repos/sample", json={"default_branch": "feature/x"}))
    assert body["default_branch"] == "feature/x"
    assert json_of(client.get("/api/v1/repos/sample"))["description"] == "New words"
    # The default branch is what an unqualified read sees now.
    tree = json_of(client.get("/api/v1/repos/sample/tree"))
    assert "feature.txt" in [e["name"] for e in tree["entries"]]


def test_an_empty_repository_may_name_any_default_branch(client) -> None:
    create(client, "empty")
    body = json_of(client.patch("/api/v1/repos/empty", json={"default_branch": "develop"}))
    assert body["default_branch"] == "develop"


def test_delete(client, sample) -> None:
    response = client.delete("/api/v1/repos/sample")
    assert response.status_code == 204
    assert response.data == b""
    assert_problem(client.get("/api/v1/repos/sample"), 404, "repository-not-found")
    assert_problem(client.get("/api/v1/repos/sample/branches"), 404, "repository-not-found")


# --- errors ---------------------------------------------------------------------------


def test_create_a_taken_name_is_a_conflict(client) -> None:
    create(client, "data")
    assert_problem(create(client, "data"), 409, "already-exists", detail="already exists")


@pytest.mark.parametrize(
    ("fields", "pointer"),
    [
        pytest.param({"name": "bad name"}, None, id="space"),
        pytest.param({"name": "api"}, None, id="reserved"),
        pytest.param({"name": "-x"}, None, id="leading-dash"),
        pytest.param({"name": 7}, "/name", id="not-a-string"),
        pytest.param({"name": "ok", "default_branch": "a..b"}, "/default_branch", id="branch"),
        pytest.param({"name": "ok", "description": "x" * 10_001}, "/description", id="long"),
        pytest.param({"name": "ok", "private": "yes"}, "/private", id="private"),
        pytest.param({"name": "ok", "colour": "red"}, "/colour", id="unknown-member"),
        pytest.param({"description": "no name"}, "/name", id="missing-name"),
        pytest.param({"name": "ok", "description": "nul\0"}, "/description", id="nul"),
    ],
)
def test_create_with_invalid_fields_is_unprocessable(client, fields, pointer) -> None:
    body = assert_problem(client.post("/api/v1/repos", json=fields), 422)
    if pointer:
        assert pointer in [e["pointer"] for e in body["errors"]]
    assert json_of(client.get("/api/v1/repos")) == {"repositories": []}


def test_create_needs_a_json_object(client) -> None:
    assert_problem(client.post("/api/v1/repos", json=["data"]), 422, "invalid-content")
    assert_problem(
        client.post("/api/v1/repos", data='{"name": ', content_type="application/json"),
        400,
        "about:blank",
        detail="not valid JSON",
    )
    assert_problem(
        client.post("/api/v1/repos", data="name=data"), 415, "about:blank", detail="JSON"
    )


def test_lone_surrogates_are_refused_not_stored(client) -> None:
    raw = '{"name": "ok", "description": "\\ud800"}'
    body = assert_problem(
        client.post("/api/v1/repos", data=raw, content_type="application/json"), 422
    )
    assert body["errors"] == [{"pointer": "/description", "detail": "is not valid Unicode text"}]


def test_a_body_above_the_json_limit_is_too_large(make_app) -> None:
    client = make_app(API_MAX_JSON_BYTES=100).test_client()
    response = client.post("/api/v1/repos", json={"name": "data", "description": "x" * 200})
    assert_problem(response, 413, "about:blank")


@pytest.mark.parametrize(
    ("method", "kwargs"),
    [
        pytest.param("get", {}, id="get"),
        pytest.param("patch", {"json": {"description": "x"}}, id="patch"),
        pytest.param("delete", {}, id="delete"),
    ],
)
def test_a_missing_repository_is_not_found(client, method, kwargs) -> None:
    response = getattr(client, method)("/api/v1/repos/nope", **kwargs)
    body = assert_problem(response, 404, "repository-not-found", detail="'nope' not found")
    assert body["repository"] == "nope"


def test_a_name_no_repository_can_have_is_not_found(client) -> None:
    assert_problem(client.get("/api/v1/repos/.hidden"), 404, "repository-not-found")


def test_reading_the_default_repository_never_creates_it(client) -> None:
    assert_problem(client.get("/api/v1/repos/default/branches"), 404, "repository-not-found")
    assert json_of(client.get("/api/v1/repos")) == {"repositories": []}


def test_update_to_a_missing_default_branch_is_unprocessable(client, sample) -> None:
    response = client.patch("/api/v1/repos/sample", json={"default_branch": "nope"})
    assert_problem(response, 422, "invalid-input", detail="'nope' does not exist")
    assert json_of(client.get("/api/v1/repos/sample"))["default_branch"] == "main"


def test_update_with_bad_values_is_unprocessable(client, sample) -> None:
    response = client.patch("/api/v1/repos/sample", json={"description": None, "name": "x"})
    body = assert_problem(response, 422, "invalid-content")
    assert {e["pointer"] for e in body["errors"]} == {"/description", "/name"}
