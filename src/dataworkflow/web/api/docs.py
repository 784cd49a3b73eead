"""The OpenAPI document, served as JSON, and a readable page rendered from it.

``openapi.yaml`` beside this module is the source of truth; a test checks that it and
the app's URL map list the same operations.
"""

from __future__ import annotations

import functools
from importlib.resources import files
from typing import Any

import yaml
from flask import render_template
from flask.typing import ResponseReturnValue
from markupsafe import Markup

from dataworkflow import errors
from dataworkflow.errors import DataWorkflowError
from dataworkflow.web.api import bp
from dataworkflow.web.auth import access
from dataworkflow.web.errors import (
    InvalidContent,
    InvalidParameters,
    problem_slug,
    status_for_class,
)
from dataworkflow.web.previews import render_markdown

METHODS = ("get", "head", "post", "put", "patch", "delete")


@functools.cache
def openapi_document() -> dict[str, Any]:
    """The parsed ``openapi.yaml`` (read once per process)."""
    text = files("dataworkflow.web.api").joinpath("openapi.yaml").read_text(encoding="utf-8")
    document: dict[str, Any] = yaml.safe_load(text)
    return document


@bp.get("/openapi.json")
@access("public")
def openapi() -> ResponseReturnValue:
    """The OpenAPI 3.1 document."""
    return openapi_document()


@bp.get("/docs")
@access("public")
def docs() -> ResponseReturnValue:
    """Every operation with its parameters, body and answers, the schemas and problems."""
    document = openapi_document()
    operations = [
        _operation(document, path, method, item)
        for path, item in document["paths"].items()
        for method in METHODS
        if method in item
    ]
    schemas = {
        name: _resolve(document, schema)
        for name, schema in document["components"]["schemas"].items()
    }
    return render_template(
        "api/docs.html",
        info=document["info"],
        operations=operations,
        schemas=schemas,
        problems=problem_types(),
        schema_label=schema_label,
        md=markdown,
    )


def problem_types() -> list[tuple[str, int, str]]:
    """``(slug, status, description)`` of every problem type an error can have."""
    found: list[tuple[str, int, str]] = []
    classes: list[type[DataWorkflowError]] = [DataWorkflowError]
    classes += [InvalidParameters, InvalidContent]
    classes += [
        value
        for value in vars(errors).values()
        if isinstance(value, type)
        and issubclass(value, DataWorkflowError)
        and value is not DataWorkflowError
    ]
    for cls in classes:
        doc = (cls.__doc__ or "").strip().splitlines()
        found.append((problem_slug(cls), status_for_class(cls), doc[0] if doc else ""))
    return sorted(set(found))


def _operation(
    document: dict[str, Any], path: str, method: str, item: dict[str, Any]
) -> dict[str, Any]:
    operation = item[method]
    parameters = [
        _resolve(document, p)
        for p in [*item.get("parameters", []), *operation.get("parameters", [])]
    ]
    body = operation.get("requestBody")
    responses = {
        status: _resolve(document, response)
        for status, response in operation.get("responses", {}).items()
    }
    return {
        "id": operation["operationId"],
        "method": method.upper(),
        "path": path,
        "summary": operation.get("summary", ""),
        "description": operation.get("description", ""),
        "parameters": parameters,
        "body": _resolve(document, body) if body else None,
        "responses": responses,
    }


def _resolve(document: dict[str, Any], node: Any) -> Any:
    """Follow a local ``$ref`` (one level: the page links to schemas by name)."""
    if isinstance(node, dict) and "$ref" in node:
        target: Any = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        return target
    return node


def markdown(text: str | None) -> Markup:
    """The document's CommonMark as sanitized HTML; one paragraph is returned inline."""
    html = str(render_markdown(text or "")).strip()
    if html.startswith("<p>") and html.endswith("</p>") and html.count("<p>") == 1:
        html = html[3:-4]
    return Markup(html)


def schema_label(schema: Any) -> str:
    """A short description of a schema: its type, or the name of the schema it refers to."""
    if not isinstance(schema, dict):
        return ""
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    if "oneOf" in schema:
        return " | ".join(schema_label(option) for option in schema["oneOf"])
    if "allOf" in schema:
        return " & ".join(schema_label(part) for part in schema["allOf"])
    if "enum" in schema:
        return " | ".join("null" if v is None else repr(v) for v in schema["enum"])
    if "const" in schema:
        return repr(schema["const"])
    kind = schema.get("type", "any")
    if isinstance(kind, list):
        kind = " | ".join(kind)
    if kind == "array":
        return f"array of {schema_label(schema.get('items'))}"
    return str(kind)
