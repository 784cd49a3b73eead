"""File downloads (ranges, ETags, headers) and stat, with their errors."""

import hashlib
from typing import Any, ClassVar

import pytest
from werkzeug.wsgi import FileWrapper

from tests.api.helpers import assert_problem, json_of
from tests.web.conftest import BINARY, CSV, README, SCRIPT

REPO = "/api/v1/repos/sample"
FILES = f"{REPO}/files"


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


class RecordingFileWrapper(FileWrapper):
    """A server's ``wsgi.file_wrapper`` (gunicorn's sends it with sendfile); records its files."""

    files: ClassVar[list[Any]] = []

    def __init__(self, file: Any, buffer_size: int = 8192) -> None:
        super().__init__(file, buffer_size)
        self.files.append(file)


@pytest.fixture
def wrapping_client(app, monkeypatch):
    """A client of a server with a file wrapper; ``.files`` are the files it wrapped."""
    monkeypatch.setattr(RecordingFileWrapper, "files", [])
    client = app.test_client()
    client.environ_base["wsgi.file_wrapper"] = RecordingFileWrapper
    client.files = RecordingFileWrapper.files
    return client


def test_a_whole_file_goes_to_the_servers_file_wrapper(client, wrapping_client, sample) -> None:
    url = f"{FILES}?path=data/weather.csv"
    plain = get(client, url)
    with wrapping_client.get(url) as wrapped:
        assert wrapped.status_code == 200
        assert wrapped.get_data() == CSV
        assert sorted(wrapped.headers.items()) == sorted(plain.headers.items())
        assert len(wrapping_client.files) == 1
    assert wrapping_client.files[0].closed, "the server closes the wrapper, which closes the file"
    blob_id = hashlib.sha256(BINARY).hexdigest()
    with wrapping_client.get(f"/api/v1/repos/sample/objects/{blob_id}") as by_id:
        assert by_id.get_data() == BINARY
    assert len(wrapping_client.files) == 2


@pytest.mark.parametrize(
    ("method", "headers", "status", "body"),
    [
        pytest.param("GET", {"Range": "bytes=1000-"}, 206, BINARY[1000:], id="range"),
        pytest.param("HEAD", {}, 200, b"", id="head"),
        pytest.param(
            "GET", {"If-None-Match": f'"{hashlib.sha256(BINARY).hexdigest()}"'}, 304, b"", id="304"
        ),
    ],
)
def test_ranges_head_and_304_do_not_use_the_file_wrapper(
    client, wrapping_client, sample, method, headers, status, body
) -> None:
    url = f"{FILES}?path=bin/blob.bin"
    plain = client.open(url, method=method, headers=headers)
    with wrapping_client.open(url, method=method, headers=headers) as wrapped:
        assert (wrapped.status_code, wrapped.get_data()) == (status, body)
        assert sorted(wrapped.headers.items()) == sorted(plain.headers.items())
    plain.close()
    assert wrapping_client.files == []


def test_a_large_file_through_the_file_wrapper(wrapping_client, sample) -> None:
    data = bytes(range(256)) * (3 * 1024 * 1024 // 256 + 1)
    headers = {"Content-Type": "application/octet-stream"}
    blob = json_of(wrapping_client.post(f"{REPO}/objects", data=data, headers=headers), 201)
    put = {"op": "put", "path": "large.bin", "blob": blob["id"]}
    change = {"branch": "main", "message": "large", "expected_head": sample.head, "changes": [put]}
    json_of(wrapping_client.post(f"{REPO}/commits", json=change), 201)
    with wrapping_client.get(f"{FILES}?path=large.bin") as response:
        assert response.headers["Content-Length"] == str(len(data))
        assert response.get_data() == data
    assert len(wrapping_client.files) == 1


def test_a_packed_file_is_streamed_not_handed_to_the_file_wrapper(
    wrapping_client, sample, storage
) -> None:
    from dataworkflow.storage.packs import PackWriter

    blob_id = hashlib.sha256(CSV).hexdigest()
    pack = PackWriter(str(storage.root / "packs"))
    pack.add(blob_id, CSV)
    pack.finish(durable=True)
    (storage.root / "objects" / blob_id[:2] / blob_id).unlink()  # packed only, now

    with wrapping_client.get(f"{FILES}?path=data/weather.csv") as response:
        assert response.status_code == 200
        assert response.get_data() == CSV
    with wrapping_client.get(
        f"{FILES}?path=data/weather.csv", headers={"Range": "bytes=2-5"}
    ) as part:
        assert part.get_data() == CSV[2:6]
    assert wrapping_client.files == []
