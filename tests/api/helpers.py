"""Assertions shared by the API tests: the one error shape, and JSON answers."""

from __future__ import annotations

import functools
from typing import Any

import jsonschema
from werkzeug.test import TestResponse

from dataworkflow.web.api.docs import openapi_document


@functools.cache
def _problem_validator() -> jsonschema.Draft202012Validator:
    document = openapi_document()
    schema = {**document["components"]["schemas"]["Problem"], "$defs": {}}
    return jsonschema.Draft202012Validator(schema)


def assert_problem(
    response: TestResponse,
    status: int,
    problem_type: str | None = None,
    *,
    detail: str | None = None,
) -> dict[str, Any]:
    """Check an RFC 9457 problem answer and return its body.

    ``problem_type`` is the slug of a domain problem (``ref-conflict``) or
    ``about:blank``; ``detail`` must appear in the problem's detail.
    """
    body_text = response.get_data(as_text=True)
    assert response.status_code == status, (response.status, body_text[:500])
    assert response.mimetype == "application/problem+json", response.mimetype
    body = response.get_json()
    assert isinstance(body, dict), body
    _problem_validator().validate(body)
    assert body["status"] == status
    assert body["title"] and body["detail"]
    assert "Traceback" not in body_text
    if problem_type == "about:blank":
        assert body["type"] == "about:blank", body["type"]
    elif problem_type is not None:
        assert body["type"] == f"/api/v1/docs#problem-{problem_type}", body["type"]
    if detail is not None:
        assert detail in body["detail"], body["detail"]
    return body


def json_of(response: TestResponse, status: int = 200) -> Any:
    """The JSON body of a successful answer, after checking its status and type."""
    assert response.status_code == status, (response.status, response.get_data()[:500])
    assert response.mimetype == "application/json", response.mimetype
    return response.get_json()
