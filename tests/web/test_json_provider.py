"""orjson encodes Flask's JSON: same documents as the standard library's, faster."""

from __future__ import annotations

import dataclasses
import decimal
import json
import uuid
from datetime import UTC, datetime

import pytest
from flask import Flask, render_template_string
from flask.json.provider import DefaultJSONProvider

from dataworkflow.web.json_provider import OrjsonProvider


@pytest.fixture
def app() -> Flask:
    app = Flask("json-test")
    app.json = OrjsonProvider(app)
    return app


@dataclasses.dataclass
class Point:
    y: int
    x: int


SAMPLES = [
    {"b": 1, "a": [1, 2.5, None, True], "c": {"z": "é ✓", "y": ""}},
    {"when": datetime(2026, 11, 28, 12, 30, tzinfo=UTC)},
    {"id": uuid.UUID(int=7), "amount": decimal.Decimal("1.50"), "point": Point(2, 1)},
    {3: "three", 1: "one"},
    [{"path": f"folder/f{i}", "size": i} for i in range(50)],
]


@pytest.mark.parametrize("value", SAMPLES)
def test_documents_decode_to_what_the_standard_library_wrote(app: Flask, value: object) -> None:
    standard = DefaultJSONProvider(app)
    with app.app_context():
        ours = app.json.dumps(value)
    assert json.loads(ours) == json.loads(standard.dumps(value))
    assert ours == json.dumps(
        json.loads(ours), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )  # sorted, compact


def test_what_orjson_refuses_goes_to_the_standard_library(app: Flask) -> None:
    with app.app_context():
        assert json.loads(app.json.dumps({"n": 2**70})) == {"n": 2**70}
        with pytest.raises(TypeError):
            app.json.dumps({"x": object()})
        assert app.json.dumps({"b": 1, "a": 2}, indent=2) == '{\n  "a": 2,\n  "b": 1\n}'


def test_responses_are_compact_json_lines(app: Flask) -> None:
    @app.get("/")
    def index() -> dict[str, object]:
        return {"b": "é", "a": 1}

    response = app.test_client().get("/")
    assert response.mimetype == "application/json"
    assert response.get_data() == '{"a":1,"b":"é"}\n'.encode()


def test_debug_responses_stay_indented(app: Flask) -> None:
    app.debug = True
    with app.test_request_context():
        assert app.json.response({"a": 1}).get_data() == b'{\n  "a": 1\n}\n'


def test_templates_still_get_html_safe_json(app: Flask) -> None:
    with app.test_request_context():
        out = render_template_string("{{ value|tojson }}", value={"x": "</script><b>&'"})
    assert not set("<>&'") & set(out)
    assert json.loads(out) == {"x": "</script><b>&'"}
