"""File downloads (ranges, ETags, headers) and stat, with their errors."""

import hashlib

import pytest

from tests.api.helpers import assert_problem, json_of
from tests.web.conftest import BINARY, CSV, README, SCRIPT

FILES = "/api/v1/repos/sample/files"


def get(client, url: str, **kwargs):
    response = client.get(url, **kwargs)
    response.get_data()
    return response


def test_download_sends_the_bytes_as_an_attachment(client, sample) -> None:
    response = get(client, f"{FILES}?path=data/weather.csv")
    assert response.status_code == 200
    assert response.data == CSV
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["Content-Length"] == str(len(CSV))
    assert response.headers["Content-Disposition"].startswith('attachment; filename="weather.csv"')
    assert response.headers["ETag"] == f'"{hashlib.sha256(CSV).hexdigest()}"'
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-DataWorkflow-Commit"] == sample.head
    assert response.headers["X-DataWorkflow-Mode"] == "100644"
    assert "sandbox" in response.headers["Content-Security-Policy"]


def test_download_at_an_older_revision(client, sample) -> None:
    assert get(client, f"{FILES}?ref=v1.0&path=README.md").data == README
    assert get(client, f"{FILES}?ref=v1.0&path=notes.txt").data == b"to be deleted\n"
    executable = get(client, f"{FILES}?path=bin/run.sh")
    assert executable.data == SCRIPT
    assert executable.headers["X-DataWorkflow-Mode"] == "100755"


@pytest.mark.parametrize(
    ("header", "start", "stop"),
    [
        pytest.param("bytes=0-9", 0, 10, id="first-ten"),
        pytest.param("bytes=-5", len(BINARY) - 5, len(BINARY), id="suffix"),
        pytest.param("bytes=1000-", 1000, len(BINARY), id="open-ended"),
    ],
)
def test_ranges(client, sample, header, start, stop) -> None:
    response = get(client, f"{FILES}?path=bin/blob.bin", headers={"Range": header})
    assert response.status_code == 206
    assert response.data == BINARY[start:stop]
    assert response.headers["Content-Range"] == f"bytes {start}-{stop - 1}/{len(BINARY)}"


def test_an_unsatisfiable_range_is_a_416_problem(client, sample) -> None:
    response = get(client, f"{FILES}?path=bin/blob.bin", headers={"Range": "bytes=5000-6000"})
    assert_problem(response, 416, "about:blank")
    assert response.headers["Content-Range"] == f"bytes */{len(BINARY)}"


def test_conditional_requests(client, sample) -> None:
    etag = get(client, f"{FILES}?path=data/weather.csv").headers["ETag"]
    cached = get(client, f"{FILES}?path=data/weather.csv", headers={"If-None-Match": etag})
    assert cached.status_code == 304
    assert cached.data == b""
    stale = get(
        client,
        f"{FILES}?path=data/weather.csv",
        headers={"Range": "bytes=0-3", "If-Range": '"' + "0" * 64 + '"'},
    )
    assert stale.status_code == 200
    assert stale.data == CSV


def test_head_gives_the_headers_without_the_body(client, sample) -> None:
    response = client.head(f"{FILES}?path=bin/blob.bin")
    assert response.status_code == 200
    assert response.data == b""
    assert response.headers["Content-Length"] == str(len(BINARY))
    assert response.headers["ETag"] == f'"{hashlib.sha256(BINARY).hexdigest()}"'
    assert client.head(f"{FILES}?path=missing").status_code == 404


def test_stat_of_a_file_a_folder_and_the_root(client, sample) -> None:
    stat = json_of(client.get("/api/v1/repos/sample/stat?path=data/weather.csv"))
    assert stat == {
        "commit": sample.head,
        "path": "data/weather.csv",
        "name": "weather.csv",
        "mode": "100644",
        "type": "blob",
        "id": hashlib.sha256(CSV).hexdigest(),
        "size": len(CSV),
    }
    folder = json_of(client.get("/api/v1/repos/sample/stat?path=data/&ref=v1.0"))
    assert (folder["type"], folder["path"], folder["size"], folder["commit"]) == (
        "tree",
        "data",
        None,
        sample.tag,
    )
    root = json_of(client.get("/api/v1/repos/sample/stat"))
    assert (root["type"], root["path"], root["name"]) == ("tree", "", "")
    assert root["id"] == json_of(client.get("/api/v1/repos/sample/commits/main"))["tree"]


@pytest.mark.parametrize(
    ("url", "status", "problem_type"),
    [
        pytest.param(f"{FILES}?path=data", 409, "not-a-file", id="folder"),
        pytest.param(f"{FILES}?path=notes.txt", 404, "path-not-found", id="deleted"),
        pytest.param(f"{FILES}?path=README.md/x", 404, "path-not-found", id="below-file"),
        pytest.param(f"{FILES}", 400, "invalid-parameters", id="no-path"),
        pytest.param(f"{FILES}?path=/", 400, "invalid-parameters", id="root"),
        pytest.param(f"{FILES}?path=a&ref=nope", 404, "revision-not-found", id="ref"),
        pytest.param("/api/v1/repos/nope/files?path=a", 404, "repository-not-found", id="repo"),
        pytest.param("/api/v1/repos/sample/stat?path=nope", 404, "path-not-found", id="stat"),
        pytest.param("/api/v1/repos/sample/stat?path=a%00b", 400, "invalid-parameters", id="nul"),
    ],
)
def test_file_errors(client, sample, url, status, problem_type) -> None:
    assert_problem(get(client, url), status, problem_type)
