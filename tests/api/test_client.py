"""The Python client against a real server on a loopback port: round trips, errors, races."""

import hashlib
import io
import os
import threading
from collections.abc import Iterator

import httpx
import pytest
from werkzeug.serving import make_server

from dataworkflow.client import (
    Client,
    Delete,
    Put,
    PutBlob,
    ServerUnreachable,
)
from dataworkflow.errors import (
    AlreadyExists,
    AuthenticationRequired,
    ChecksumMismatch,
    InvalidInput,
    NotAFile,
    NotFound,
    PathNotFound,
    PermissionDenied,
    ProtectedBranch,
    RateLimited,
    RefConflict,
    RefNotFound,
    RepositoryNotFound,
    RevisionNotFound,
)
from tests.web.conftest import CSV, GeneratedCsv

MB = 1024 * 1024


@pytest.fixture
def server(app, monkeypatch) -> Iterator[str]:
    """The app served by Werkzeug's threaded server on a free loopback port.

    Clients authenticate as the administrator through ``DW_TOKEN``.
    """
    monkeypatch.setenv("DW_TOKEN", app.config["TEST_TOKEN"])
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        thread.join()
        httpd.server_close()


@pytest.fixture
def remote(server) -> Iterator[Client]:
    with Client(server) as client:
        yield client


def generated_chunks(size: int) -> Iterator[bytes]:
    """A few MB of CSV produced on the fly, in uneven chunks."""
    source = GeneratedCsv(size)
    while chunk := source.read(300_001):
        yield chunk


def digest_of(chunks) -> str:
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


def test_round_trip_of_a_few_megabytes(remote, tmp_path) -> None:
    remote.create_repository("data", description="Round trip")
    size = 5 * MB
    expected = digest_of(generated_chunks(size))
    # A generator streams with chunked encoding; a file path sends its length.
    streamed = remote.upload_blob("data", generated_chunks(size))
    assert (streamed.id, streamed.size) == (expected, size)
    local = tmp_path / "local.bin"
    local.write_bytes(os.urandom(3 * MB + 17))
    result = remote.commit(
        "data",
        "main",
        [
            PutBlob("big/generated.csv", streamed.id),
            Put("big/random.bin", local),
            Put("small/readme.txt", b"inline\n"),
            Put("small/stream.bin", io.BytesIO(b"from a stream")),
            Put("tools/run.sh", b"#!/bin/sh\n", executable=True),
        ],
        "Import",
        expected_head=None,
        author="Ada",
        author_email="ada@example.com",
        metadata={"source": "test"},
    )
    assert result.created and result.parent_id is None
    assert result.files_stored == 2  # the file and the stream were uploaded, the rest inline
    target = tmp_path / "copy.csv"
    assert remote.download("data", "main", "big/generated.csv", target) == size
    assert digest_of([target.read_bytes()]) == expected
    copied = tmp_path / "random.bin"
    remote.download("data", result.commit_id, "big/random.bin", copied)
    assert copied.read_bytes() == local.read_bytes()
    assert remote.read_file("data", "main", "small/readme.txt") == b"inline\n"
    assert remote.read_file("data", "main", "small/stream.bin") == b"from a stream"
    assert remote.read_range("data", "main", "big/random.bin", 10, 20) == local.read_bytes()[10:20]
    buffer = io.BytesIO()
    remote.download_blob("data", streamed.id, buffer)
    assert digest_of([buffer.getvalue()]) == expected
    stat = remote.stat("data", "main", "tools/run.sh")
    assert stat.entry.mode.value == "100755" and stat.size == 10
    assert remote.missing_blobs("data", [streamed.id, "0" * 64]) == ["0" * 64]


def test_reads_match_the_local_repository(remote, sample) -> None:
    repo = sample.repo
    local = [(e.path, e.entry, e.size) for e in repo.list_tree(None, "", recursive=True)]
    listing = remote.list_tree("sample", recursive=True, page_size=3)
    paged = [(e.path, e.entry, e.size) for e in listing]
    assert paged == local
    assert [e.id for e in remote.iter_log("sample", "feature/x", page_size=1)] == [
        sample.feature,
        *sample.commits[1::-1],
    ]
    entry = remote.get_commit("sample", "v1.0")
    assert entry.commit == repo.get_commit("v1.0").commit
    assert entry.commit.id == sample.tag
    remote_changes = remote.diff("sample", sample.commits[0], "main", page_size=2)
    local_changes = repo.diff(sample.commits[0], "main")
    assert [(c.kind, c.status, c.path, c.old_path, c.old, c.new) for c in remote_changes] == [
        (c.kind, c.status, c.path, c.old_path, c.old, c.new) for c in local_changes
    ]
    assert remote.list_branches("sample") == repo.list_branches()
    assert remote.list_tags("sample") == repo.list_tags()
    assert [r.name for r in remote.list_repositories()] == ["sample"]


def test_refs_and_repository_settings(remote, sample) -> None:
    assert remote.create_branch("sample", "exp/a", "v1.0") == sample.tag
    assert remote.move_branch("sample", "exp/a", "main", expected=sample.tag) == sample.head
    remote.delete_branch("sample", "exp/a", expected=sample.head)
    assert remote.head("sample", "exp/a") is None
    assert remote.create_tag("sample", "v2") == sample.head
    assert remote.move_tag("sample", "v2", "v1.0", expected=sample.head) == sample.tag
    remote.delete_tag("sample", "v2")
    info = remote.update_repository("sample", description="Edited", default_branch="feature/x")
    assert (info.description, info.default_branch) == ("Edited", "feature/x")
    assert remote.get_repository("sample").default_branch == "feature/x"
    remote.create_repository("gone")
    remote.delete_repository("gone")
    with pytest.raises(RepositoryNotFound) as caught:
        remote.get_repository("gone")
    assert caught.value.name == "gone"


def test_errors_come_back_as_the_domain_families(remote, sample) -> None:
    with pytest.raises(RefConflict) as caught:
        remote.move_branch("sample", "main", "v1.0", expected=sample.commits[0])
    assert (caught.value.name, caught.value.actual) == ("refs/heads/main", sample.head)
    assert str(caught.value).startswith("ref refs/heads/main has moved")
    with pytest.raises(RefNotFound):
        remote.get_branch("sample", "nope")
    with pytest.raises(RevisionNotFound):
        remote.log("sample", "nope")
    with pytest.raises(PathNotFound) as missing:
        remote.read_file("sample", "main", "nope.txt")
    assert missing.value.path == "nope.txt"
    with pytest.raises(NotAFile):
        remote.read_file("sample", "main", "data")
    with pytest.raises(AlreadyExists):
        remote.create_branch("sample", "main")
    with pytest.raises(InvalidInput) as invalid:
        remote.commit("sample", "main", [Delete("a//b")], "x", expected_head=sample.head)
    assert invalid.value.status == 422
    assert invalid.value.problem["errors"][0]["pointer"] == "/changes/0/path"
    with pytest.raises(NotFound):
        remote._request("GET", "no/such/route")


def test_an_unreachable_server(remote) -> None:
    with Client("http://127.0.0.1:9", timeout=2) as nowhere:
        with pytest.raises(ServerUnreachable, match="cannot reach"):
            nowhere.list_repositories()


def test_corrupted_answers_are_detected() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/files"):
            return httpx.Response(200, content=b"tampered", headers={"ETag": f'"{"0" * 64}"'})
        commit = {
            "id": "0" * 64,
            "tree": "1" * 64,
            "parents": [],
            "author": {"name": "a", "email": "e", "time": "2024-01-01T00:00:00+00:00"},
            "committer": {"name": "a", "email": "e", "time": "2024-01-01T00:00:00+00:00"},
            "message": "m",
            "metadata": {},
        }
        return httpx.Response(200, json=commit)

    with Client("http://test", transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(ChecksumMismatch):
            client.read_file("r", "main", "a.txt")
        with pytest.raises(ChecksumMismatch):
            client.get_commit("r", "main")


@pytest.mark.parametrize("tampered", [False, True])
def test_downloads_in_many_chunks_are_verified_whole(tmp_path, tampered: bool) -> None:
    # Many chunks, so the hash runs on its helper thread while chunks are written.
    body = bytes(range(256)) * 12_288  # 3 MiB
    etag = hashlib.sha256(body).hexdigest()
    sent = body[:-1] + b"!" if tampered else body

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=sent, headers={"ETag": f'"{etag}"'})

    target = tmp_path / "out.bin"
    with Client("http://test", transport=httpx.MockTransport(handler)) as client:
        if tampered:
            with pytest.raises(ChecksumMismatch):
                client.download("r", "main", "a.bin", target, chunk_size=64 * 1024)
            assert list(tmp_path.iterdir()) == []  # nothing renamed into place, no temp left
        else:
            assert client.download("r", "main", "a.bin", target, chunk_size=64 * 1024) == len(body)
            assert target.read_bytes() == body


def test_two_writers_racing_on_one_branch_never_lose_a_commit(server, sample) -> None:
    """Both commit on the same head: one lands, the other gets 409, re-reads and retries."""
    head = sample.head
    barrier = threading.Barrier(2)
    outcomes: dict[str, list[str]] = {"a": [], "b": []}
    landed: dict[str, str] = {}

    def writer(name: str) -> None:
        with Client(server) as client:
            expected = head
            barrier.wait()
            for _attempt in range(5):
                try:
                    result = client.commit(
                        "sample",
                        "main",
                        [Put(f"{name}.txt", name.encode())],
                        f"writer {name}",
                        expected_head=expected,
                    )
                except RefConflict as conflict:
                    outcomes[name].append("409")
                    assert conflict.actual is not None
                    expected = client.head("sample", "main")  # re-read, then retry
                    continue
                outcomes[name].append("201")
                landed[name] = result.commit_id
                return

    threads = [threading.Thread(target=writer, args=(n,)) for n in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    first_tries = sorted(attempts[0] for attempts in outcomes.values())
    assert first_tries == ["201", "409"], outcomes
    assert all(attempts[-1] == "201" for attempts in outcomes.values()), outcomes
    with Client(server) as client:
        history = [entry.id for entry in client.iter_log("sample", "main")]
        assert set(landed.values()) <= set(history[:2])
        assert history[2] == head
        assert client.read_file("sample", "main", "a.txt") == b"a"
        assert client.read_file("sample", "main", "b.txt") == b"b"


def test_in_process_transport(app, sample, monkeypatch) -> None:
    monkeypatch.setenv("DW_TOKEN", app.config["TEST_TOKEN"])
    with Client("http://app", transport=httpx.WSGITransport(app=app)) as client:
        assert client.read_file("sample", "main", "data/weather.csv") == CSV
        blob = client.upload_blob("sample", b"x" * 100_000)
        assert blob.size == 100_000
        stream = io.BytesIO(b"skip" + b"y" * 1000)
        stream.seek(4)  # the rest of a seekable stream has a known length
        assert client.upload_blob("sample", stream).size == 1000


def test_a_remote_import_sends_only_new_bytes(remote, sample, tmp_path) -> None:
    """What ``dw --server import`` does: hash locally, upload what is missing, commit ids."""
    known = tmp_path / "weather.csv"
    known.write_bytes(CSV)  # the sample repository has these bytes already
    new = tmp_path / "new.bin"
    new.write_bytes(os.urandom(2 * MB))
    files = {"data/weather.csv": known, "data/new.bin": new}
    ids = {path: hashlib.sha256(local.read_bytes()).hexdigest() for path, local in files.items()}
    sent: list[int] = []
    uploaded = remote.upload_missing(
        "sample", {ids[path]: local for path, local in files.items()}, progress=sent.append
    )
    assert [blob.id for blob in uploaded] == [ids["data/new.bin"]]
    assert sum(sent) == 2 * MB
    result = remote.commit(
        "sample",
        "main",
        [PutBlob(path, ids[path]) for path in files],
        "Import",
        expected_head=sample.head,
    )
    assert result.created
    received: list[int] = []
    target = tmp_path / "back.bin"
    remote.download("sample", "main", "data/new.bin", target, progress=received.append)
    assert target.read_bytes() == new.read_bytes()
    assert sum(received) == 2 * MB
    with pytest.raises(ChecksumMismatch):
        remote.upload_missing("sample", {"f" * 64: b"not what the id says"})


# --- tokens and access errors (MockTransport: no server, no auth needed) -----------------


def _recording(answer: httpx.Response | None = None):
    """A transport answering every request with ``answer`` (an empty listing by default)."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answer if answer is not None else httpx.Response(200, json={"repositories": []})

    return httpx.MockTransport(handler), seen


@pytest.mark.parametrize(
    ("env", "given", "expected"),
    [
        ("dw_from_env", None, "Bearer dw_from_env"),
        ("dw_from_env\n", None, "Bearer dw_from_env"),  # as read from a file
        ("dw_from_env", "dw_given", "Bearer dw_given"),
        ("dw_from_env", "", None),  # an explicit empty token opts out of DW_TOKEN
        (None, None, None),
        ("", None, None),
    ],
    ids=["env", "env-newline", "argument-wins", "opt-out", "none", "empty-env"],
)
def test_the_token_is_sent_as_a_bearer_header(monkeypatch, env, given, expected) -> None:
    if env is None:
        monkeypatch.delenv("DW_TOKEN", raising=False)
    else:
        monkeypatch.setenv("DW_TOKEN", env)
    transport, seen = _recording()
    with Client("http://test", given, transport=transport) as client:
        assert client.list_repositories() == []
    assert seen[0].headers.get("Authorization") == expected


@pytest.mark.parametrize(
    ("status", "family"),
    [(401, AuthenticationRequired), (403, PermissionDenied), (429, RateLimited)],
)
def test_access_statuses_map_to_the_access_families(monkeypatch, status, family) -> None:
    monkeypatch.delenv("DW_TOKEN", raising=False)
    answer = httpx.Response(status, json={"detail": "refused"}, headers={"Retry-After": "42"})
    transport, _ = _recording(answer)
    with Client("http://test", transport=transport) as client:
        with pytest.raises(family, match="refused") as refused:
            client.list_repositories()
    assert refused.value.status == status
    if family is RateLimited:
        assert refused.value.retry_after == 42


def test_a_protected_branch_problem_keeps_its_class(monkeypatch) -> None:
    monkeypatch.delenv("DW_TOKEN", raising=False)
    problem = {
        "type": "http://test/api/v1/docs#problem-protected-branch",
        "status": 403,
        "detail": "branch 'main' is protected: a force move refused; merge into it instead",
    }
    transport, _ = _recording(httpx.Response(403, json=problem))
    with Client("http://test", transport=transport) as client:
        with pytest.raises(ProtectedBranch, match="is protected") as refused:
            client.list_repositories()
    assert isinstance(refused.value, PermissionDenied)
