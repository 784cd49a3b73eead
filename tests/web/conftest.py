"""Web UI fixtures: the app on SQLite and PostgreSQL, a form-posting client, a sample repository."""

from __future__ import annotations

import io
import re
import struct
import zlib
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, BinaryIO

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from dataworkflow.core.ids import ObjectId
from dataworkflow.services.accounts import User, create_user
from dataworkflow.services.changes import Change, Delete, Put
from dataworkflow.services.installation import create_repository
from dataworkflow.services.repository import Repository
from dataworkflow.settings import Settings
from dataworkflow.web import create_app

T0 = 1_700_000_000  # fixed commit times: 2023-11-14
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def app(database_url: str, db: Any, storage: Any, tmp_path: Path) -> Flask:
    """The web app on the test database (SQLite, then PostgreSQL) and filesystem storage."""
    settings = Settings(
        database_url=database_url, storage_path=tmp_path / "unused", flask_secret_key="test"
    )
    return create_app(settings, db=db, storage=storage, test_config={"TESTING": True})


ADMIN_PASSWORD = "correct horse battery staple"


@pytest.fixture
def admin_user(db: Any) -> User:
    """The installation's administrator (most UI tests act as them)."""
    return create_user(db, "admin", email="admin@example.com", password=ADMIN_PASSWORD, admin=True)


def sign_in(client: FlaskClient, username: str, password: str) -> TestResponse:
    """Sign in through the form, the way a browser does."""
    page_html = client.get("/login").get_data(as_text=True)
    token = CSRF_INPUT.search(page_html)
    assert token, "no csrf_token on the sign-in form"
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token.group(1)},
    )


@pytest.fixture
def client(app: Flask, admin_user: User) -> FlaskClient:
    """A browser signed in as the administrator."""
    browser = app.test_client()
    response = sign_in(browser, admin_user.username, ADMIN_PASSWORD)
    assert response.status_code == 303, response.get_data(as_text=True)[:300]
    return browser


@pytest.fixture
def anonymous(app: Flask) -> FlaskClient:
    """A browser that has not signed in."""
    return app.test_client()


class Forms:
    """Posting forms the way a browser does: fetch the page, keep its CSRF token, submit."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def token(self, page_url: str) -> str:
        """The CSRF token of the form on ``page_url``."""
        response = self.client.get(page_url)
        assert response.status_code == 200, response.status
        found = CSRF_INPUT.search(response.get_data(as_text=True))
        assert found, f"no csrf_token field on {page_url}"
        with self.client.session_transaction() as session:
            assert session["csrf_token"] == found.group(1)
        return found.group(1)

    def post(
        self, url: str, data: dict[str, Any], *, form_page: str | None = None, **kwargs: Any
    ) -> TestResponse:
        """POST ``data`` with the token of the form on ``form_page`` (default ``url``)."""
        data = {**data, "csrf_token": self.token(form_page or url)}
        response = self.client.post(url, data=data, **kwargs)
        response.get_data()
        # The test client spools large multipart bodies to a temporary file it never closes.
        response.request.environ["wsgi.input"].close()
        return response


@pytest.fixture
def forms(client: FlaskClient) -> Forms:
    return Forms(client)


# --- reading pages -------------------------------------------------------------------


class Tags(HTMLParser):
    """Every start tag of a page as ``(tag, attributes)``."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, dict[str, str | None]]] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, dict(attrs)))

    def all(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.found if name == tag]

    def hrefs(self) -> list[str]:
        return [a["href"] or "" for a in self.all("a") if "href" in a]


def page(client: FlaskClient, url: str, status: int = 200) -> str:
    """GET an HTML page, check its status and return its text."""
    response = client.get(url)
    assert response.status_code == status, (url, response.status, response.get_data()[:500])
    assert response.mimetype == "text/html"
    return response.get_data(as_text=True)


# --- the sample repository -----------------------------------------------------------


def png_bytes() -> bytes:
    """A valid 1x1 red PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def parquet_bytes() -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {"city": ["Oslo", "Lima", "Pune"], "population": [709_037, 10_004_000, 3_124_458]}
    )
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def big_parquet_bytes() -> bytes:
    """About 9 MB of incompressible Parquet: 80,000 rows in 8 row groups."""
    import os

    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = 80_000
    table = pa.table({"n": range(rows), "noise": [os.urandom(100) for _ in range(rows)]})
    sink = io.BytesIO()
    pq.write_table(table, sink, row_group_size=10_000, compression="none")
    return sink.getvalue()


README = b"""# Sample data

Weather readings for **three cities**.

<script>alert("readme")</script>

[click me](javascript:alert(1)) and [docs](https://example.com/docs)
"""
CSV = b"city,temp,rain\nOslo,4.5,12\nLima,19.0,0\nPune,28.1,3\n"
TSV = b"id\tname\n1\talpha\n2\tbeta\n"
BINARY = bytes(range(256)) * 4
SCRIPT = b"#!/bin/sh\necho hello\n"
CODE = b"import os\n\n\ndef main():\n    return os.getcwd()\n"


@dataclass
class Sample:
    """The sample repository and the ids tests check against."""

    repo: Repository
    commits: list[ObjectId] = field(default_factory=list)
    """main's commits, oldest first."""
    feature: str = ""
    """The head of feature/x."""
    tag: str = ""
    """The commit v1.0 names."""

    @property
    def head(self) -> ObjectId:
        return self.commits[-1]


def commit(
    repo: Repository, branch: str, files: dict[str, bytes | None], message: str, n: int, **kw: Any
) -> ObjectId:
    """Commit ``files`` (None deletes; ``*.sh`` are executable) to ``branch`` at ``T0 + n`` min."""
    changes: list[Change] = [
        Delete(path) if data is None else Put(path, data, executable=path.endswith(".sh"))
        for path, data in files.items()
    ]
    result = repo.commit(
        branch,
        changes,
        message,
        author=kw.pop("author", "Ada Lovelace"),
        author_email=kw.pop("author_email", "ada@example.com"),
        authored_at=T0 + 60 * n,
        **kw,
    )
    assert result.commit_id is not None
    return result.commit_id


@pytest.fixture
def sample(db: Any, storage: Any) -> Sample:
    """A repository ``sample`` with every kind of file, a branch with a slash and a tag.

    main: 1 README + data/; 2 more files; 3 README changed, notes deleted.
    feature/x: main's commit 2 plus one commit. v1.0: main's commit 2.
    """
    create_repository(db, "sample", description="Weather readings, daily")
    repo = Repository(db, storage, "sample")
    s = Sample(repo)
    s.commits.append(
        commit(
            repo,
            "main",
            {
                "README.md": README,
                "data/weather.csv": CSV,
                "data/ids.tsv": TSV,
                "data/nested/deep/leaf.txt": b"leaf\n",
                "notes.txt": b"to be deleted\n",
            },
            "Import weather data\n\nFirst import from the station archive.",
            1,
        )
    )
    s.commits.append(
        commit(
            repo,
            "main",
            {
                "data/cities.parquet": parquet_bytes(),
                "images/pixel.png": png_bytes(),
                "bin/blob.bin": BINARY,
                "bin/run.sh": SCRIPT,
                "empty.txt": b"",
                "src/main.py": CODE,
            },
            "Add binaries, images and code",
            2,
            metadata={"source": "station-42", "pipeline run": "2023-11-14"},
        )
    )
    s.tag = repo.create_tag("v1.0", s.commits[-1])
    repo.create_branch("feature/x", s.commits[-1])
    s.feature = commit(
        repo, "feature/x", {"feature.txt": b"only on feature/x\n"}, "Feature work", 3
    )
    s.commits.append(
        commit(
            repo,
            "main",
            {"README.md": README + b"\nUpdated.\n", "notes.txt": None},
            "Update README, drop notes",
            4,
            author="Grace Hopper",
            author_email="grace@example.com",
        )
    )
    return s


class GeneratedCsv(io.RawIOBase):
    """A large CSV produced on the fly, so tests never hold it in memory."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.position = 0
        self.row = 0
        self.pending = b"id,value,label\n"

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        want = min(len(buffer), self.size - self.position)
        rows = [self.pending]
        have = len(self.pending)
        while have < want:
            self.row += 1
            rows.append(f"{self.row},{self.row * 7 % 1000},row-{self.row:08d}\n".encode())
            have += len(rows[-1])
        joined = b"".join(rows)
        out, self.pending = joined[:want], joined[want:]
        buffer[: len(out)] = out
        self.position += len(out)
        return len(out)


class CountingStorage:
    """Wraps a storage and counts the bytes read from it (streams and ranges)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.bytes_read = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def open(self, object_id: ObjectId) -> BinaryIO:
        return _CountingReader(self.inner.open(object_id), self)  # type: ignore[return-value]

    def read_range(self, object_id: ObjectId, start: int, end: int) -> bytes:
        data: bytes = self.inner.read_range(object_id, start, end)
        self.bytes_read += len(data)
        return data


class _CountingReader(io.RawIOBase):
    def __init__(self, inner: BinaryIO, owner: CountingStorage) -> None:
        self.inner = inner
        self.owner = owner

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self.inner.seekable()

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.inner.seek(offset, whence)

    def tell(self) -> int:
        return self.inner.tell()

    def readinto(self, buffer: Any) -> int:
        data = self.inner.read(len(buffer))
        self.owner.bytes_read += len(data)
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self.inner.close()
        super().close()


@pytest.fixture
def counting_app(
    database_url: str, db: Any, storage: Any, tmp_path: Path
) -> tuple[Flask, CountingStorage]:
    """An app whose storage counts the bytes requests read, and that counter."""
    counting = CountingStorage(storage)
    settings = Settings(database_url=database_url, storage_path=tmp_path, flask_secret_key="test")
    return create_app(settings, db=db, storage=counting), counting  # type: ignore[arg-type]
