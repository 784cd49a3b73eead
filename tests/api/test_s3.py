"""Upload, commit and download through the API with objects in S3 (moto over real HTTP)."""

import hashlib
import io

import pytest

from tests.api.helpers import assert_problem, json_of
from tests.web.conftest import GeneratedCsv

pytestmark = pytest.mark.s3


@pytest.fixture
def s3_client(make_app, moto_server, s3_bucket):
    from dataworkflow.storage.s3 import S3Storage

    storage = S3Storage(
        bucket=s3_bucket,
        prefix="api/",
        endpoint_url=moto_server,
        region="us-east-1",
        access_key_id="testing",
        secret_access_key="testing",
    )
    client = make_app(storage_override=storage).test_client()
    assert client.post("/api/v1/repos", json={"name": "cloud"}).status_code == 201
    return client, storage


def test_upload_commit_and_download_in_s3(s3_client) -> None:
    client, storage = s3_client
    big = GeneratedCsv(12 * 1024 * 1024).read()  # several multipart parts
    upload = json_of(
        client.post(
            "/api/v1/repos/cloud/objects",
            data=io.BytesIO(big),
            headers={"Content-Type": "application/octet-stream"},
        ),
        201,
    )
    assert upload == {"id": hashlib.sha256(big).hexdigest(), "size": len(big)}
    assert storage.exists(upload["id"])
    commit = {
        "branch": "main",
        "message": "Into S3",
        "expected_head": None,
        "changes": [
            {"op": "put", "path": "data/big.csv", "blob": upload["id"]},
            {"op": "put", "path": "notes.txt", "content": "inline in S3\n"},
        ],
    }
    result = json_of(client.post("/api/v1/repos/cloud/commits", json=commit), 201)
    response = client.get("/api/v1/repos/cloud/files?path=data/big.csv")
    assert response.status_code == 200
    assert hashlib.sha256(response.get_data()).hexdigest() == upload["id"]
    ranged = client.get(
        "/api/v1/repos/cloud/files?path=data/big.csv", headers={"Range": "bytes=9000000-9000099"}
    )
    assert (ranged.status_code, ranged.get_data()) == (206, big[9_000_000:9_000_100])
    inline = client.get(f"/api/v1/repos/cloud/files?ref={result['commit']}&path=notes.txt")
    assert inline.get_data() == b"inline in S3\n"
    assert json_of(
        client.post("/api/v1/repos/cloud/objects/missing", json={"ids": [upload["id"]]})
    ) == {"missing": []}
    by_id = client.get(
        f"/api/v1/repos/cloud/objects/{upload['id']}", headers={"Range": "bytes=0-9"}
    )
    assert by_id.get_data() == big[:10]


def test_a_stale_commit_in_s3_writes_no_metadata(s3_client) -> None:
    client, _storage = s3_client
    first = {
        "branch": "main",
        "message": "one",
        "expected_head": None,
        "changes": [{"op": "put", "path": "a.txt", "content": "a"}],
    }
    json_of(client.post("/api/v1/repos/cloud/commits", json=first), 201)
    again = client.post("/api/v1/repos/cloud/commits", json={**first, "message": "two"})
    assert_problem(again, 409, "ref-conflict")
    log = json_of(client.get("/api/v1/repos/cloud/commits"))
    assert [c["message"] for c in log["commits"]] == ["one"]
