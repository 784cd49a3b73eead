"""S3Storage only: key layout, multipart and temp keys, presigned URLs, errors, the factory."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dataworkflow.core.ids import ObjectId
from dataworkflow.errors import ObjectNotFound, StorageError
from dataworkflow.settings import Settings
from dataworkflow.storage import SupportsPresignedUrls, open_storage
from dataworkflow.storage.filesystem import FileSystemStorage
from dataworkflow.storage.s3 import S3Storage

pytestmark = pytest.mark.s3

MiB = 1024 * 1024
CREDENTIALS: dict[str, Any] = {"access_key_id": "testing", "secret_access_key": "testing"}


class FailingStream(io.RawIOBase):
    """Gives ``good`` bytes, then fails the way a dropped upload does."""

    def __init__(self, good: int) -> None:
        self._left = good

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self._left == 0:
            raise ConnectionResetError("client went away")
        n = min(len(buffer), self._left)
        buffer[:n] = b"x" * n
        self._left -= n
        return n


@pytest.fixture
def client(moto_server: str) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=moto_server,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture
def storage(moto_server: str, s3_bucket: str) -> S3Storage:
    return S3Storage(
        bucket=s3_bucket,
        prefix="t/",
        endpoint_url=moto_server,
        region="us-east-1",
        multipart_threshold=5 * MiB,
        part_size=5 * MiB,
        max_concurrency=4,
        **CREDENTIALS,
    )


@pytest.fixture
def calls(storage: S3Storage) -> Iterator[list[str]]:
    """Names of the S3 operations ``storage`` makes, in order."""
    seen: list[str] = []

    def record(model: Any, **_: Any) -> None:
        seen.append(model.name)

    storage.client.meta.events.register("before-call.s3", record)
    yield seen
    storage.client.meta.events.unregister("before-call.s3", record)


def keys(client: Any, bucket: str) -> list[str]:
    response = client.list_objects_v2(Bucket=bucket)
    return sorted(item["Key"] for item in response.get("Contents", []))


def open_uploads(client: Any, bucket: str) -> list[Any]:
    return list(client.list_multipart_uploads(Bucket=bucket).get("Uploads", []))


def test_key_layout_with_prefix(storage: S3Storage, client: Any, s3_bucket: str) -> None:
    stored = storage.put_bytes(b"hello")

    assert keys(client, s3_bucket) == [f"t/objects/{stored.id[:2]}/{stored.id[2:4]}/{stored.id}"]


def test_prefix_gets_a_trailing_slash(moto_server: str, s3_bucket: str, client: Any) -> None:
    storage = S3Storage(s3_bucket, prefix="data", endpoint_url=moto_server, **CREDENTIALS)

    stored = storage.put_bytes(b"x")

    assert storage.prefix == "data/"
    assert keys(client, s3_bucket) == [f"data/objects/{stored.id[:2]}/{stored.id[2:4]}/{stored.id}"]


def test_iter_ids_ignores_keys_outside_the_layout(
    storage: S3Storage, client: Any, s3_bucket: str
) -> None:
    stored = storage.put_bytes(b"listed")
    client.put_object(Bucket=s3_bucket, Key="t/objects/ab/cd/not-an-id", Body=b"")
    client.put_object(Bucket=s3_bucket, Key=f"t/objects/00/00/{'ab' * 32}", Body=b"")
    client.put_object(Bucket=s3_bucket, Key=f"other/objects/ab/ab/{'ab' * 32}", Body=b"")

    assert list(storage.iter_ids()) == [stored.id]


def test_small_stream_is_one_put(storage: S3Storage, calls: list[str]) -> None:
    storage.put_stream(io.BytesIO(b"small"), size_hint=5)

    assert calls == ["HeadObject", "PutObject"]


def test_large_stream_uses_multipart_and_leaves_no_temp_key(
    storage: S3Storage, client: Any, s3_bucket: str, calls: list[str]
) -> None:
    payload = os.urandom(12 * MiB)

    stored = storage.put_stream(io.BytesIO(payload), size_hint=len(payload))

    assert stored.id == hashlib.sha256(payload).hexdigest()
    assert calls.count("CreateMultipartUpload") >= 1
    assert calls.count("UploadPart") == 3
    assert "CompleteMultipartUpload" in calls
    assert {"CopyObject", "UploadPartCopy"} & set(calls)  # temp key -> final key, server-side
    assert "PutObject" not in calls
    assert keys(client, s3_bucket) == [f"t/objects/{stored.id[:2]}/{stored.id[2:4]}/{stored.id}"]
    assert open_uploads(client, s3_bucket) == []
    assert storage.writes == 1


def test_large_stream_already_stored_is_not_copied(
    storage: S3Storage, client: Any, s3_bucket: str, calls: list[str]
) -> None:
    payload = os.urandom(11 * MiB)
    storage.put_bytes(payload)
    calls.clear()

    stored = storage.put_stream(io.BytesIO(payload))

    assert stored.written is False
    assert not {"CopyObject", "UploadPartCopy"} & set(calls)
    assert len(keys(client, s3_bucket)) == 1  # the temp key is gone
    assert storage.writes == 1


def test_a_failing_stream_aborts_the_upload(
    storage: S3Storage, client: Any, s3_bucket: str, calls: list[str]
) -> None:
    with pytest.raises(ConnectionResetError):
        storage.put_stream(io.BufferedReader(FailingStream(12 * MiB)), size_hint=20 * MiB)

    assert "AbortMultipartUpload" in calls
    assert open_uploads(client, s3_bucket) == []
    assert keys(client, s3_bucket) == []
    assert storage.writes == 0


def test_put_file_uploads_straight_to_the_final_key(
    storage: S3Storage, client: Any, s3_bucket: str, calls: list[str], tmp_path: Path
) -> None:
    payload = os.urandom(11 * MiB)
    path = tmp_path / "data.bin"
    path.write_bytes(payload)

    stored = storage.put_file(path)

    assert "CreateMultipartUpload" in calls  # upload_file went multipart
    assert not {"CopyObject", "UploadPartCopy"} & set(calls)
    assert keys(client, s3_bucket) == [f"t/objects/{stored.id[:2]}/{stored.id[2:4]}/{stored.id}"]
    assert storage.read_range(stored.id, 0, 100) == payload[:100]


def test_part_size_grows_so_huge_streams_fit_in_10000_parts() -> None:
    storage = S3Storage("bucket", region="us-east-1", **CREDENTIALS)  # default 16 MiB parts
    sizes = [storage._part_size(n, None) for n in range(1, 10_001)]
    assert sizes[0] == 16 * MiB
    assert sum(sizes) > 900 * 1024 * MiB  # unknown size: ~1 TiB fits
    assert max(sizes) <= 5 * 1024 * MiB

    hinted = storage._part_size(1, 400 * 1024 * MiB)  # known size: parts sized up front
    assert hinted * 9_000 >= 400 * 1024 * MiB


def test_presigned_url_downloads_the_bytes(storage: S3Storage) -> None:
    stored = storage.put_bytes(b"shared without credentials")

    assert isinstance(storage, SupportsPresignedUrls)
    url = storage.presigned_url(stored.id, expires_in=60)
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == b"shared without credentials"


def test_unreachable_endpoint_raises_storage_error() -> None:
    storage = S3Storage(
        "bucket",
        endpoint_url="http://127.0.0.1:1",
        region="us-east-1",
        connect_timeout=1,
        max_attempts=1,
        **CREDENTIALS,
    )
    started = time.monotonic()

    for call in (
        lambda: storage.exists(ObjectId("0" * 64)),
        lambda: storage.put_bytes(b"x"),
        lambda: storage.open(ObjectId("0" * 64)),
        lambda: list(storage.iter_ids()),
    ):
        with pytest.raises(StorageError) as caught:
            call()
        assert "testing" not in str(caught.value)  # no credentials in messages

    assert time.monotonic() - started < 20


def test_a_missing_bucket_raises_storage_error(moto_server: str) -> None:
    storage = S3Storage("no-such-bucket", endpoint_url=moto_server, **CREDENTIALS)

    with pytest.raises(StorageError, match="NoSuchBucket"):
        storage.put_bytes(b"x")
    with pytest.raises(ObjectNotFound):
        storage.size(ObjectId("0" * 64))  # HEAD has no body: 404 is all S3 says


def test_open_storage_picks_s3_when_a_bucket_is_set(moto_server: str, s3_bucket: str) -> None:
    settings = Settings(
        s3_bucket=s3_bucket,
        s3_prefix="p/",
        s3_endpoint_url=moto_server,
        aws_region="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )

    storage = open_storage(settings)

    assert isinstance(storage, S3Storage)
    assert (storage.bucket, storage.prefix) == (s3_bucket, "p/")
    stored = storage.put_bytes(b"via settings")
    assert storage.read_range(stored.id, 4, 12) == b"settings"


def test_open_storage_defaults_to_the_filesystem(tmp_path: Path) -> None:
    assert isinstance(open_storage(Settings()), FileSystemStorage)

    storage = open_storage(Settings(storage_path=tmp_path / "objects"))

    assert isinstance(storage, FileSystemStorage)
    assert storage.root == tmp_path / "objects"


def test_importing_storage_does_not_import_boto3() -> None:
    code = (
        "import sys, dataworkflow.storage, dataworkflow.storage.filesystem, "
        "dataworkflow.storage.memory; assert 'boto3' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
