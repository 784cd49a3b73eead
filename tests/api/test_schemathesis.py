"""Schemathesis drives every documented operation against the app, in process.

It generates valid and invalid requests from openapi.yaml (its examples point at the
seeded ``sample`` repository, so reads find real branches and paths) and checks that
no answer is a server error and every answer matches the document: status code,
content type, headers and body schema; invalid data must be rejected.

Requests carry the installation administrator's write token, so every write operation
(user and role administration included) gets past the access check and is exercised.
"""

import pytest
import schemathesis
from hypothesis import HealthCheck, assume, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from dataworkflow.services.accounts import create_token, list_tokens
from dataworkflow.web.api.docs import openapi_document

# Invalid data must get one of the 4xx answers the document uses, never a 2xx or 5xx.
CONFIG = schemathesis.Config.from_dict(
    {
        "checks": {
            "negative_data_rejection": {
                "expected-statuses": ["400", "404", "405", "409", "411", "413", "415", "422"]
            }
        }
    }
)
schema = schemathesis.openapi.from_dict(openapi_document(), config=CONFIG)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@pytest.fixture
def seeded_app(app, sample):
    """The app with the sample repository (branches feature/x and main, tag v1.0)."""
    return app


@pytest.fixture
def auth(db, admin_token):
    """The administrator's token as a header, and its id; spare tokens to revoke."""
    (token,) = list_tokens(db, "admin")
    for name in ("spare", "another"):
        create_token(db, "admin", scope="write", name=name)
    return {"Authorization": f"Bearer {admin_token}"}, token.id


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
)
def test_the_api_keeps_its_documented_promises(case, seeded_app, auth) -> None:
    headers, token_id = auth
    # Revoking the token the requests carry would turn every later example into a 401.
    if case.operation.path == "/user/tokens/{token_id}":
        assume((case.path_parameters or {}).get("token_id") != token_id)
    response = case.call(app=seeded_app, headers=headers)
    case.validate_response(response, checks=CHECKS)
