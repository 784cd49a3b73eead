"""Blob uploads (streamed, capped), downloads by id, and the missing-blobs query."""

import contextlib
import hashlib
import io
import random
import socket
import threading

import pytest
from gunicorn.http.body import Body, LengthReader
from gunicorn.http.unreader import SocketUnreader
from werkzeug.test import EnvironBuilder, TestResponse, run_wsgi_app
from werkzeug.wrappers import Request

from dataworkflow.storage.filesystem import STREAM_BUFFER
from tests.api.helpers import assert_problem, json_of
from tests.web.conftest import CSV, GeneratedCsv

OBJECTS = "/api/v1/repos/sample/objects"


def upload(client, data: bytes, **kwargs):
    headers = {"Content-Type": "application/octet-stream", **kwargs.pop("headers", {})}
    return client.post(OBJECTS, data=data, headers=headers, **kwargs)


def test_upload_answers_the_id_and_size(client, sample) -> None:
    data = b"station,reading\n42,7.5\n"
    response = upload(client, data)
    body = json_of(response, 201)
    blob_id = hashlib.sha256(data).hexdigest()
    assert body == {"id": blob_id, "size": len(data)}
    assert response.headers["Location"] == f"{OBJECTS}/{blob_id}"
    again = json_of(upload(client, data), 201)
    assert again == body


def test_download_a_blob_by_id(client, sample) -> None:
    blob_id = hashlib.sha256(CSV).hexdigest()
    response = client.get(f"{OBJECTS}/{blob_id}")
    assert response.status_code == 200
    assert response.get_data() == CSV
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["ETag"] == f'"{blob_id}"'
    ranged = client.get(f"{OBJECTS}/{blob_id}", headers={"Range": "bytes=5-9"})
    assert (ranged.status_code, ranged.get_data()) == (206, CSV[5:10])
    head = client.head(f"{OBJECTS}/{blob_id}")
    assert (head.status_code, head.headers["Content-Length"]) == (200, str(len(CSV)))


class RecordingBody(io.BytesIO):
    """A request body that records how much the server asks for at each read."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.reads: list[int] = []

    def read(self, size: int | None = -1) -> bytes:
        self.reads.append(-1 if size is None else size)
        return super().read(size)

    def readinto(self, buffer) -> int:
        self.reads.append(len(buffer))
        return super().readinto(buffer)


def test_a_large_upload_is_streamed_in_chunks(client, sample) -> None:
    data = GeneratedCsv(3 * STREAM_BUFFER - 5).read()
    body_stream = RecordingBody(data)
    builder = EnvironBuilder(
        path=OBJECTS,
        method="POST",
        input_stream=body_stream,
        content_type="application/octet-stream",
    )
    body = json_of(client.open(builder), 201)
    assert body == {"id": hashlib.sha256(data).hexdigest(), "size": len(data)}
    assert len(body_stream.reads) > 2
    assert all(0 <= size <= STREAM_BUFFER for size in body_stream.reads), "never read whole"


def raw_post(app, body: bytes, *, length: bool = True, chunked: bool = False, terminated=True):
    """POST ``body`` to the upload URL straight through WSGI, with exactly these headers.

    (The test client would recompute Content-Length from the body stream.)
    """
    environ = EnvironBuilder(path=OBJECTS, method="POST").get_environ()
    environ["wsgi.input"] = io.BytesIO(body)
    environ.pop("CONTENT_LENGTH", None)
    if length:
        environ["CONTENT_LENGTH"] = str(len(body))
    if chunked:
        environ["HTTP_TRANSFER_ENCODING"] = "chunked"
    environ["wsgi.input_terminated"] = terminated
    environ["HTTP_AUTHORIZATION"] = f"Bearer {app.config['TEST_TOKEN']}"
    app_iter, status, headers = run_wsgi_app(app, environ, buffered=True)
    return TestResponse(app_iter, status, headers, request=Request(environ))


def gunicorn_post(app, body: bytes, *, buffered: int, then: bytes = b"", sent: int | None = None):
    """POST ``body`` through gunicorn's own request body reader over a socket pair.

    The client sends ``body`` and then ``then`` (a pipelined next request), or only its
    first ``sent`` bytes before going away. The first ``buffered`` bytes are already in
    gunicorn's buffer (they came with the headers), the rest arrive on the socket.
    Returns the answer and the bytes gunicorn reads next, for the next request.
    """
    stream = (body + then)[:sent]
    server, client = socket.socketpair()
    unreader = SocketUnreader(server)
    unreader.unread(stream[:buffered])

    def send() -> None:
        with contextlib.suppress(OSError):  # the server side closed early: a failed test
            client.sendall(stream[buffered:])
            client.shutdown(socket.SHUT_WR)

    sender = threading.Thread(target=send)
    sender.start()
    try:
        environ = EnvironBuilder(path=OBJECTS, method="POST").get_environ()
        reader = LengthReader(unreader, len(body))
        environ["wsgi.input"] = Body(reader)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ["CONTENT_TYPE"] = "application/octet-stream"
        environ["wsgi.input_terminated"] = True
        environ["HTTP_AUTHORIZATION"] = f"Bearer {app.config['TEST_TOKEN']}"
        app_iter, status, headers = run_wsgi_app(app, environ, buffered=True)
        response = TestResponse(app_iter, status, headers, request=Request(environ))
        response.get_data()
        if sent is None:
            assert reader.length == 0, "gunicorn would drain the rest of the body"
        following = b""
        while chunk := unreader.read():
            following += chunk
        return response, following
    finally:
        server.close()
        sender.join()
        client.close()


NEXT_REQUEST = b"GET /api/v1/repos HTTP/1.1\r\nHost: x\r\n\r\n"


@pytest.mark.parametrize(
    "buffered",
    [
        pytest.param(0, id="nothing-buffered"),
        pytest.param(5000, id="some-buffered"),
        pytest.param(2 * STREAM_BUFFER + 12345 + 10, id="body-and-next-buffered"),
    ],
)
def test_an_upload_read_straight_from_gunicorns_socket(app, sample, monkeypatch, buffered) -> None:
    def slow_read(self, size=None):
        raise AssertionError("read through gunicorn's 1 KiB reader")

    monkeypatch.setattr(Body, "read", slow_read)
    data = random.Random(buffered).randbytes(2 * STREAM_BUFFER + 12345)
    response, following = gunicorn_post(app, data, buffered=buffered, then=NEXT_REQUEST)
    assert json_of(response, 201) == {"id": hashlib.sha256(data).hexdigest(), "size": len(data)}
    assert following == NEXT_REQUEST, "the connection stays in step for the next request"


def test_a_gunicorn_upload_cut_short_is_a_400_and_stores_nothing(app, sample) -> None:
    data = b"x" * (STREAM_BUFFER + 10)
    response, _ = gunicorn_post(app, data, buffered=100, sent=STREAM_BUFFER)
    assert_problem(response, 400, "about:blank")
    ids = [hashlib.sha256(data).hexdigest(), hashlib.sha256(data[:-10]).hexdigest()]
    missing = json_of(app.test_client().post(f"{OBJECTS}/missing", json={"ids": ids}))
    assert missing["missing"] == ids


def test_an_empty_upload(app, sample) -> None:
    body = json_of(raw_post(app, b""), 201)
    assert body == {"id": hashlib.sha256(b"").hexdigest(), "size": 0}


def test_a_chunked_upload_without_a_length(app, sample) -> None:
    body = json_of(raw_post(app, b"chunked body", length=False, chunked=True), 201)
    assert body == {"id": hashlib.sha256(b"chunked body").hexdigest(), "size": 12}


def test_an_upload_without_a_length_is_refused(app, sample) -> None:
    assert_problem(raw_post(app, b"", length=False), 411, "about:blank")


def test_a_chunked_body_the_server_cannot_delimit_is_refused(app, sample) -> None:
    response = raw_post(app, b"x", length=False, chunked=True, terminated=False)
    assert_problem(response, 411, "about:blank")


def test_an_upload_above_the_limit_is_too_large(make_app, sample) -> None:
    app = make_app(API_MAX_OBJECT_BYTES=10)
    assert json_of(raw_post(app, b"0123456789"), 201)["size"] == 10
    assert_problem(raw_post(app, b"0123456789!"), 413, "about:blank", detail="at most 10")
    chunked = raw_post(app, b"x" * 11, length=False, chunked=True)
    assert_problem(chunked, 413, "about:blank")
    query = {"ids": [hashlib.sha256(b"x" * 11).hexdigest()]}
    assert json_of(app.test_client().post(f"{OBJECTS}/missing", json=query))["missing"]


def test_missing_objects(client, sample) -> None:
    known = hashlib.sha256(CSV).hexdigest()
    unknown = ["a" * 64, "b" * 64]
    body = json_of(client.post(f"{OBJECTS}/missing", json={"ids": [unknown[1], known, unknown[0]]}))
    assert body == {"missing": [unknown[1], unknown[0]]}
    assert json_of(client.post(f"{OBJECTS}/missing", json={"ids": []})) == {"missing": []}


def test_blobs_of_another_repository_are_invisible(client, sample) -> None:
    client.post("/api/v1/repos", json={"name": "other"})
    secret = json_of(client.post("/api/v1/repos/other/objects", data=b"secret"), 201)["id"]
    assert_problem(client.get(f"{OBJECTS}/{secret}"), 404, "object-not-found")
    body = json_of(client.post(f"{OBJECTS}/missing", json={"ids": [secret]}))
    assert body == {"missing": [secret]}


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        pytest.param({"ids": ["abc"]}, "/ids/0", id="short"),
        pytest.param({"ids": ["A" * 64]}, "/ids/0", id="uppercase"),
        pytest.param({"ids": [7]}, "/ids/0", id="number"),
        pytest.param({"ids": "a" * 64}, "/ids", id="not-array"),
        pytest.param({}, "/ids", id="missing"),
        pytest.param({"ids": ["a" * 64] * 10_001}, "/ids", id="too-many"),
    ],
)
def test_missing_objects_with_a_bad_body(client, sample, body, pointer) -> None:
    problem = assert_problem(client.post(f"{OBJECTS}/missing", json=body), 422, "invalid-content")
    assert pointer in [e["pointer"] for e in problem["errors"]]


@pytest.mark.parametrize(
    ("url", "status", "problem_type"),
    [
        pytest.param(f"{OBJECTS}/{'0' * 64}", 404, "object-not-found", id="unknown"),
        pytest.param(f"{OBJECTS}/xyz", 400, "invalid-object-id", id="malformed"),
        pytest.param("/api/v1/repos/nope/objects/" + "0" * 64, 404, "repository-not-found", id="r"),
    ],
)
def test_download_errors(client, sample, url, status, problem_type) -> None:
    assert_problem(client.get(url), status, problem_type)


def test_upload_errors(client, sample) -> None:
    response = client.post(OBJECTS, data=b"{}", content_type="application/json")
    assert_problem(response, 415, "about:blank")
    response = client.post("/api/v1/repos/nope/objects", data=b"x")
    assert_problem(response, 404, "repository-not-found")
    assert_problem(client.get(OBJECTS), 405, "about:blank")
