"""The ObjectStorage contract, written once and run against every backend."""

from __future__ import annotations

import hashlib
import io
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dataworkflow.core.ids import EMPTY_BLOB_ID, ObjectId
from dataworkflow.errors import ChecksumMismatch, InvalidInput, InvalidObjectId, ObjectNotFound
from dataworkflow.storage.base import ObjectStorage, SupportsObjectListing
from dataworkflow.storage.filesystem import FileSystemStorage
from dataworkflow.storage.memory import MemoryStorage

MiB = 1024 * 1024
MISSING = ObjectId("0" * 64)
LARGE = 12 * MiB + 12345  # three 5 MiB parts on S3, the last one short


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(
    params=["memory", "filesystem", pytest.param("s3", marks=pytest.mark.s3)],
)
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStorage:
    if request.param == "memory":
        return MemoryStorage()
    if request.param == "filesystem":
        return FileSystemStorage(tmp_path / "objects")
    from dataworkflow.storage.s3 import S3Storage

    endpoint = request.getfixturevalue("moto_server")  # starts moto only for this param
    return S3Storage(
        bucket=request.getfixturevalue("s3_bucket"),
        prefix="t/",
        endpoint_url=endpoint,
        region="us-east-1",
        access_key_id="testing",
        secret_access_key="testing",
        multipart_threshold=5 * MiB,
        part_size=5 * MiB,
        max_concurrency=4,
    )


@pytest.fixture(scope="module")
def large_payload() -> bytes:
    return os.urandom(LARGE)


def read_all(storage: ObjectStorage, object_id: ObjectId) -> bytes:
    with storage.open(object_id) as f:
        return f.read()


def test_every_backend_satisfies_the_protocol(storage: ObjectStorage) -> None:
    assert isinstance(storage, ObjectStorage)


# --- put and open -----------------------------------------------------------------------


def test_put_bytes_then_open_returns_the_same_bytes(storage: ObjectStorage) -> None:
    stored = storage.put_bytes(b"hello")

    assert stored.id == sha256(b"hello")
    assert (stored.size, stored.written) == (5, True)
    assert read_all(storage, stored.id) == b"hello"


def test_putting_the_same_bytes_twice_stores_one_object(storage: ObjectStorage) -> None:
    first = storage.put_bytes(b"same")
    second = storage.put_stream(io.BytesIO(b"same"))

    assert first.id == second.id
    assert (first.written, second.written) == (True, False)
    assert second.size == 4
    assert list(storage.iter_ids()) == [first.id]
    assert getattr(storage, "writes") == 1  # noqa: B009 - not part of the Protocol


@pytest.mark.parametrize("hint", ["none", "exact", "too small"])
def test_put_stream_of_a_large_stream(
    storage: ObjectStorage, large_payload: bytes, hint: str
) -> None:
    size_hint = {"none": None, "exact": LARGE, "too small": 10}[hint]

    stored = storage.put_stream(io.BytesIO(large_payload), size_hint=size_hint)

    assert stored.id == sha256(large_payload)
    assert (stored.size, stored.written) == (LARGE, True)
    assert storage.size(stored.id) == LARGE
    assert sha256(read_all(storage, stored.id)) == stored.id
    assert list(storage.iter_ids()) == [stored.id]


def test_put_stream_of_a_large_stream_twice_dedupes(
    storage: ObjectStorage, large_payload: bytes
) -> None:
    first = storage.put_stream(io.BytesIO(large_payload))
    second = storage.put_stream(io.BytesIO(large_payload), size_hint=LARGE)

    assert second == type(second)(first.id, LARGE, written=False)
    assert list(storage.iter_ids()) == [first.id]


@pytest.mark.parametrize("size_hint", [None, 5])
def test_put_stream_of_a_small_stream(storage: ObjectStorage, size_hint: int | None) -> None:
    stored = storage.put_stream(io.BytesIO(b"small"), size_hint=size_hint)

    assert stored.id == sha256(b"small")
    assert read_all(storage, stored.id) == b"small"


def test_open_streams_in_chunks(storage: ObjectStorage, large_payload: bytes) -> None:
    stored = storage.put_bytes(large_payload)
    digest = hashlib.sha256()
    with storage.open(stored.id) as f:
        while chunk := f.read(MiB):
            digest.update(chunk)

    assert digest.hexdigest() == stored.id


def test_open_then_close_without_reading_everything(storage: ObjectStorage) -> None:
    stored = storage.put_bytes(b"0123456789")
    with storage.open(stored.id) as f:
        assert f.read(3) == b"012"


# --- put_file ---------------------------------------------------------------------------


@pytest.mark.parametrize("with_id", [False, True])
def test_put_file(
    storage: ObjectStorage, tmp_path: Path, large_payload: bytes, with_id: bool
) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(large_payload)
    object_id = ObjectId(sha256(large_payload)) if with_id else None

    stored = storage.put_file(str(path), object_id)

    assert stored.id == sha256(large_payload)
    assert (stored.size, stored.written) == (LARGE, True)
    assert sha256(read_all(storage, stored.id)) == stored.id


def test_put_file_with_a_wrong_id_stores_nothing(storage: ObjectStorage, tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(b"actual bytes")
    wrong = ObjectId(sha256(b"other bytes"))

    with pytest.raises(ChecksumMismatch) as caught:
        storage.put_file(str(path), wrong)

    assert (caught.value.expected, caught.value.got) == (wrong, sha256(b"actual bytes"))
    assert list(storage.iter_ids()) == []
    assert not storage.exists(wrong)


def test_put_file_with_a_stored_id_does_not_read_the_file(
    storage: ObjectStorage, tmp_path: Path
) -> None:
    stored = storage.put_bytes(b"already here")

    again = storage.put_file(str(tmp_path / "does-not-exist"), stored.id)

    assert again == type(again)(stored.id, 12, written=False)


def test_put_file_without_id_dedupes(storage: ObjectStorage, tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(b"twice")

    first = storage.put_file(str(path))
    second = storage.put_file(str(path))

    assert (first.written, second.written) == (True, False)
    assert first.id == second.id


# --- empty objects and ranges -----------------------------------------------------------


def test_empty_object(storage: ObjectStorage) -> None:
    stored = storage.put_bytes(b"")

    assert stored.id == EMPTY_BLOB_ID
    assert read_all(storage, stored.id) == b""
    assert storage.size(stored.id) == 0
    assert storage.read_range(stored.id, 0, 10) == b""
    assert storage.put_stream(io.BytesIO(b"")).written is False
    assert storage.put_stream(io.BytesIO(b""), size_hint=0).id == EMPTY_BLOB_ID


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (0, 4, b"0123"),
        (3, 7, b"3456"),
        (8, 10, b"89"),
        (8, 100, b"89"),  # clipped at the end
        (10, 20, b""),  # starts at the end
        (50, 60, b""),  # starts past the end
        (4, 4, b""),  # empty range
        (0, 10, b"0123456789"),
    ],
)
def test_read_range(storage: ObjectStorage, start: int, end: int, expected: bytes) -> None:
    stored = storage.put_bytes(b"0123456789")

    assert storage.read_range(stored.id, start, end) == expected


def test_read_range_across_parts(storage: ObjectStorage, large_payload: bytes) -> None:
    stored = storage.put_stream(io.BytesIO(large_payload))
    start, end = 5 * MiB - 10, 5 * MiB + 10

    assert storage.read_range(stored.id, start, end) == large_payload[start:end]
    assert storage.read_range(stored.id, LARGE - 3, LARGE + 2**40) == large_payload[-3:]


@pytest.mark.parametrize(("start", "end"), [(-1, 4), (5, 4)])
def test_read_range_rejects_a_bad_range(storage: ObjectStorage, start: int, end: int) -> None:
    stored = storage.put_bytes(b"0123456789")

    with pytest.raises(InvalidInput):
        storage.read_range(stored.id, start, end)


# --- exists, size, delete, iter_ids -----------------------------------------------------


def test_exists_and_size(storage: ObjectStorage) -> None:
    stored = storage.put_bytes(b"abc")

    assert storage.exists(stored.id)
    assert not storage.exists(MISSING)
    assert storage.size(stored.id) == 3


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda s: s.open(MISSING), id="open"),
        pytest.param(lambda s: s.size(MISSING), id="size"),
        pytest.param(lambda s: s.read_range(MISSING, 0, 10), id="read_range"),
        pytest.param(lambda s: s.read_range(MISSING, 0, 0), id="read_range-empty"),
    ],
)
def test_missing_object_raises_object_not_found(
    storage: ObjectStorage, call: Callable[[ObjectStorage], Any]
) -> None:
    with pytest.raises(ObjectNotFound) as caught:
        call(storage)

    assert caught.value.object_id == MISSING


def test_delete(storage: ObjectStorage) -> None:
    stored = storage.put_bytes(b"short-lived")
    kept = storage.put_bytes(b"kept")

    storage.delete(stored.id)
    storage.delete(stored.id)  # again: deleting a missing object is fine
    storage.delete(MISSING)

    assert not storage.exists(stored.id)
    assert list(storage.iter_ids()) == [kept.id]
    assert storage.put_bytes(b"short-lived").written  # and it can be stored again


def test_iter_ids_lists_exactly_what_was_put(storage: ObjectStorage) -> None:
    assert list(storage.iter_ids()) == []
    ids = {storage.put_bytes(f"object {i}".encode()).id for i in range(30)}

    listed = list(storage.iter_ids())

    assert len(listed) == 30
    assert set(listed) == ids


def test_concurrent_puts_of_the_same_bytes(storage: ObjectStorage) -> None:
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: storage.put_bytes(b"race"), range(16)))

    assert {r.id for r in results} == {sha256(b"race")}
    assert any(r.written for r in results)
    assert list(storage.iter_ids()) == [sha256(b"race")]


# --- iter_objects: sizes and ages, for gc and fsck ---------------------------------------


def test_every_backend_lists_objects_with_sizes_and_ages(storage: ObjectStorage) -> None:
    assert isinstance(storage, SupportsObjectListing)


def test_iter_objects_lists_ids_sizes_and_times_in_id_order(storage: ObjectStorage) -> None:
    assert isinstance(storage, SupportsObjectListing)
    assert list(storage.iter_objects()) == []
    before = time.time()
    payloads = {sha256(data): data for data in (b"x" * i for i in range(40))}
    for data in payloads.values():
        storage.put_bytes(data)

    listed = list(storage.iter_objects())

    assert [info.id for info in listed] == sorted(payloads)
    assert all(info.size == len(payloads[info.id]) for info in listed)
    # a small allowance: file mtimes and S3's LastModified have a coarser clock
    assert all(before - 2 <= info.stored_at <= time.time() + 2 for info in listed)


def test_iter_objects_leaves_out_deleted_objects(storage: ObjectStorage) -> None:
    assert isinstance(storage, SupportsObjectListing)
    gone = storage.put_bytes(b"gone")
    kept = storage.put_bytes(b"kept")
    storage.delete(gone.id)

    assert [(info.id, info.size) for info in storage.iter_objects()] == [(kept.id, 4)]


# --- ids are validated ------------------------------------------------------------------

BAD_IDS = [
    "",
    "abc",
    "A" * 64,  # uppercase
    "g" * 64,
    "a" * 63,
    "a" * 65,
    "../../etc/passwd",
    "../" + "a" * 61,
    "/" + "a" * 63,
    "aa/bb/" + "a" * 58,
]


@pytest.mark.parametrize("bad", BAD_IDS)
@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda s, i: s.open(i), id="open"),
        pytest.param(lambda s, i: s.read_range(i, 0, 1), id="read_range"),
        pytest.param(lambda s, i: s.exists(i), id="exists"),
        pytest.param(lambda s, i: s.size(i), id="size"),
        pytest.param(lambda s, i: s.delete(i), id="delete"),
        pytest.param(lambda s, i: s.put_file(__file__, i), id="put_file"),
    ],
)
def test_invalid_ids_are_rejected(
    storage: ObjectStorage, call: Callable[[ObjectStorage, ObjectId], Any], bad: str
) -> None:
    with pytest.raises(InvalidObjectId):
        call(storage, ObjectId(bad))


# --- property ---------------------------------------------------------------------------


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=2048))
def test_id_is_sha256_and_bytes_round_trip(storage: ObjectStorage, data: bytes) -> None:
    stored = storage.put_bytes(data)

    assert stored.id == sha256(data)
    assert stored.size == len(data)
    assert read_all(storage, stored.id) == data
    assert storage.exists(stored.id)
