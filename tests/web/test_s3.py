"""The file page and raw downloads with objects in S3 (a moto server over real HTTP)."""

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask.testing import FlaskClient

from dataworkflow.services.installation import create_repository
from dataworkflow.services.repository import Repository
from dataworkflow.settings import Settings
from dataworkflow.web import create_app
from tests.web.conftest import BINARY, CSV, CountingStorage, big_parquet_bytes, commit, page

pytestmark = pytest.mark.s3


@pytest.fixture
def s3_storage(moto_server: str, s3_bucket: str) -> Any:
    from dataworkflow.storage.s3 import S3Storage

    return S3Storage(
        bucket=s3_bucket,
        prefix="web/",
        endpoint_url=moto_server,
        region="us-east-1",
        access_key_id="testing",
        secret_access_key="testing",
    )


@pytest.fixture
def cloud(db, s3_storage) -> Repository:
    """Repository ``cloud`` with its objects in S3."""
    create_repository(db, "cloud")
    repo = Repository(db, s3_storage, "cloud")
    commit(repo, "main", {"data/weather.csv": CSV, "blob.bin": BINARY}, "Cloud data", 1)
    return repo


@pytest.fixture
def counting(s3_storage) -> CountingStorage:
    return CountingStorage(s3_storage)


@pytest.fixture
def s3_client(database_url, db, counting, cloud, tmp_path: Path) -> FlaskClient:
    """A client of an app storing objects in S3 that counts the bytes it reads."""
    settings = Settings(database_url=database_url, storage_path=tmp_path, flask_secret_key="t")
    return create_app(settings, db=db, storage=counting).test_client()  # type: ignore[arg-type]


def test_blob_page_previews_from_s3(s3_client) -> None:
    html = page(s3_client, "/cloud/blob/main/data/weather.csv")
    assert "3 columns" in html
    assert "<td>Lima</td><td>19.0</td><td>0</td>" in html
    assert "Binary file" in page(s3_client, "/cloud/blob/main/blob.bin")


def test_raw_streams_from_s3(s3_client) -> None:
    response = s3_client.get("/cloud/raw/main/data/weather.csv")
    assert response.status_code == 200
    assert response.get_data() == CSV
    assert response.headers["Content-Length"] == str(len(CSV))
    assert response.mimetype == "text/plain"


def test_raw_range_from_s3(s3_client) -> None:
    response = s3_client.get("/cloud/raw/main/blob.bin", headers={"Range": "bytes=300-309"})
    assert response.status_code == 206
    assert response.get_data() == BINARY[300:310]


def test_download_redirects_to_a_presigned_url(s3_client, moto_server: str, s3_bucket) -> None:
    response = s3_client.get("/cloud/raw/main/data/weather.csv?download=1")
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith(moto_server)
    assert s3_bucket in location
    assert "Signature=" in location or "X-Amz-Signature=" in location
    assert "Expires=" in location or "X-Amz-Expires=" in location
    import urllib.request

    with urllib.request.urlopen(location) as fetched:  # the URL works without credentials
        assert fetched.read() == CSV
        assert fetched.headers["Content-Disposition"].startswith(
            'attachment; filename="weather.csv"'
        )
    assert urlsplit(location).hostname == "127.0.0.1"


def test_parquet_preview_reads_only_what_it_needs(s3_client, cloud, counting) -> None:
    commit(cloud, "main", {"big.parquet": big_parquet_bytes()}, "Big parquet", 2)
    html = page(s3_client, "/cloud/blob/main/big.parquet")
    assert "<td>n</td><td><code>int64</code></td>" in html
    assert "80,000 rows" in html
    assert counting.bytes_read < 2 * 1024 * 1024
