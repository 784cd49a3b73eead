"""The OpenAPI document: every route is in it, everything in it exists, and it is served."""

import re

import yaml
from openapi_spec_validator import validate

from dataworkflow.web.api.docs import openapi_document, problem_types
from tests.api.helpers import json_of

DOCUMENTED_METHODS = {"get", "head", "post", "put", "patch", "delete"}


def app_operations(app) -> set[tuple[str, str]]:
    """``(method, OpenAPI path)`` of every /api/v1 rule; HEAD and OPTIONS come free."""
    found = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule.removeprefix("/api/v1"))
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            found.add((method.lower(), path))
    return found


def documented_operations() -> set[tuple[str, str]]:
    document = openapi_document()
    return {
        (method, path)
        for path, item in document["paths"].items()
        for method in item
        if method in DOCUMENTED_METHODS
    }


def test_every_route_is_documented(app) -> None:
    missing = app_operations(app) - documented_operations()
    assert not missing, f"routes missing from openapi.yaml: {sorted(missing)}"


def test_every_documented_operation_exists(app) -> None:
    rules = {}
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule.removeprefix("/api/v1"))
        rules.setdefault(path, set()).update(m.lower() for m in rule.methods)
    for method, path in documented_operations():
        assert method in rules.get(path, set()), f"{method.upper()} {path} is documented only"


def test_the_document_is_valid_openapi_3_1() -> None:
    document = openapi_document()
    assert document["openapi"].startswith("3.1")
    validate(document)
    ids = [
        operation["operationId"]
        for item in document["paths"].values()
        for method, operation in item.items()
        if method in DOCUMENTED_METHODS
    ]
    assert len(ids) == len(set(ids)), "operationIds are unique"


def test_openapi_json_is_the_yaml_file(client) -> None:
    from importlib.resources import files

    served = json_of(client.get("/api/v1/openapi.json"))
    text = files("dataworkflow.web.api").joinpath("openapi.yaml").read_text()
    assert served == yaml.safe_load(text)


def test_docs_page_lists_operations_schemas_and_problems(client) -> None:
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    document = openapi_document()
    for item in document["paths"].values():
        for method, operation in item.items():
            if method in DOCUMENTED_METHODS:
                assert f'id="op-{operation["operationId"]}"' in html
    for name in document["components"]["schemas"]:
        assert f'id="schema-{name}"' in html
    for slug, _status, _text in problem_types():
        assert f'id="problem-{slug}"' in html
    assert "https://" not in re.sub(r"<p>.*?</p>", "", html, flags=re.S), "no CDN"
    assert "Content-Security-Policy" in response.headers


def test_problem_types_cover_the_statuses_the_api_uses() -> None:
    statuses = {slug: status for slug, status, _ in problem_types()}
    assert statuses["ref-conflict"] == 409
    assert statuses["repository-not-found"] == 404
    assert statuses["invalid-name"] == 400
    assert statuses["invalid-content"] == 422
    assert statuses["storage-error"] == 503


def test_api_shapes_match_dw_json(sample) -> None:
    """A remote ``dw --json`` can print what the API sends, byte for byte."""
    from dataworkflow.cli import output
    from dataworkflow.services.installation import get_repository_info
    from dataworkflow.web.api import schemas

    repo = sample.repo
    entry = repo.get_commit(sample.head)
    assert schemas.commit_json(entry.id, entry.commit) == output.commit_json(entry.id, entry.commit)
    for item in repo.list_tree(sample.head, "", recursive=True):
        assert schemas.entry_json(item) == output.entry_json(item)
    for change in repo.diff(sample.commits[0], sample.head):
        assert schemas.change_json(change) == output.change_json(change)
    info = get_repository_info(repo.db, "sample")
    assert schemas.repository_json(info) == output.repository_json(info)
