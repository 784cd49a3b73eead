"""S3Storage: objects in an S3 bucket (AWS or any S3-compatible endpoint).

The only module that imports boto3, so ``import dataworkflow`` stays light.

A stream's id is known only once it has been read, so a large stream is uploaded by
multipart to ``{prefix}tmp/<uuid>`` while it is hashed, then copied server-side to its
final key (or dropped, if that object exists already). Failed uploads are aborted and
temporary keys deleted; for uploads interrupted by a crash, give the bucket a lifecycle
rule that aborts incomplete multipart uploads and expires ``{prefix}tmp/`` after a day.
"""

from __future__ import annotations

import io
import os
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, BinaryIO, Protocol

import boto3
from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from dataworkflow.core.hashing import HashingReader, hash_bytes, hash_stream
from dataworkflow.core.ids import ObjectId, is_object_id, parse_object_id
from dataworkflow.errors import (
    ChecksumMismatch,
    DataWorkflowError,
    InvalidInput,
    InvalidSetting,
    ObjectNotFound,
    StorageError,
)
from dataworkflow.storage.base import ObjectInfo, StoredObject, object_key

MiB = 1024 * 1024
MIN_PART_SIZE = 5 * MiB  # S3 rejects smaller parts (except the last)
_MAX_PART_SIZE = 5 * 1024 * MiB
_MAX_PARTS = 10_000
_PARTS_PER_DOUBLING = 2_000  # grow parts of unknown-size streams so 10,000 parts always suffice
_NOT_FOUND = frozenset({"404", "NoSuchKey", "NotFound"})


class S3Storage:
    """Content-addressed objects in an S3 bucket, under ``{prefix}objects/ab/cd/<id>``.

    Memory stays bounded: a stream is held at most ``multipart_threshold`` bytes at a time
    when ``size_hint`` says it is small, otherwise about ``max_concurrency + 1`` parts.

    Attributes:
        bucket: The bucket name.
        prefix: Key prefix, ending in ``/`` unless empty.
        client: The boto3 S3 client, for callers that need raw access.
        writes: How many objects this instance actually wrote (dedupe hits not counted).
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        multipart_threshold: int = 64 * MiB,
        part_size: int = 16 * MiB,
        max_concurrency: int = 8,
        *,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        max_attempts: int = 5,
    ) -> None:
        if part_size < MIN_PART_SIZE:
            raise InvalidSetting(f"S3 part size must be at least {MIN_PART_SIZE} bytes")
        if max_concurrency < 1:
            raise InvalidSetting("S3 max_concurrency must be at least 1")
        self.bucket = bucket
        self.prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"
        self.multipart_threshold = multipart_threshold
        self.part_size = part_size
        self.max_concurrency = max_concurrency
        self.writes = 0
        self._lock = threading.Lock()
        config = Config(
            max_pool_connections=max(10, max_concurrency * 2),
            retries={"mode": "standard", "max_attempts": max_attempts},
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            signature_version="s3v4",  # presigned URLs: SigV2 is refused by newer regions and R2
        )
        self.client: Any = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            config=config,
        )
        self._transfer_config = TransferConfig(
            multipart_threshold=multipart_threshold,
            multipart_chunksize=part_size,
            max_concurrency=max_concurrency,
        )

    def __repr__(self) -> str:
        return f"S3Storage(bucket={self.bucket!r}, prefix={self.prefix!r})"

    # --- writes -----------------------------------------------------------------------

    def put_bytes(self, data: bytes) -> StoredObject:
        """Store ``data`` with one PUT; one HEAD skips it when the object exists already."""
        object_id = hash_bytes(data)
        if self.exists(object_id):
            return StoredObject(object_id, len(data), written=False)
        with self._errors("upload an object"):
            self.client.put_object(Bucket=self.bucket, Key=self._key(object_id), Body=data)
        return self._written(object_id, len(data))

    def put_stream(self, stream: BinaryIO, size_hint: int | None = None) -> StoredObject:
        """Store a stream, hashing while uploading.

        A ``size_hint`` below ``multipart_threshold`` buffers the stream (at most that many
        bytes) for a single PUT. Otherwise parts stream to a temporary key by multipart
        upload, then are copied server-side to the final key; a stream that turns out to
        fit in one part still gets a single PUT.
        """
        reader = HashingReader(stream)
        source: _Readable = reader
        if size_hint is not None and size_hint < self.multipart_threshold:
            head = _read_full(reader, self.multipart_threshold)
            if len(head) < self.multipart_threshold:
                return self._put_small(reader.object_id, head)
            source = _Prepended(head, reader)  # the hint was wrong: carry on by multipart
        return self._put_large(reader, source, size_hint)

    def put_file(
        self, path: str | os.PathLike[str], object_id: ObjectId | None = None
    ) -> StoredObject:
        """Upload a local file straight to its final key, after hashing it.

        A known id that is stored already costs one HEAD and the file is not read.

        Raises:
            ChecksumMismatch: if ``object_id`` is given and the file's bytes do not match it;
                nothing is stored then.
            StorageError: if the file changed while it was being uploaded.
        """
        if object_id is not None:
            object_id = parse_object_id(object_id)
            stored_size = self._head_size(object_id)
            if stored_size is not None:
                return StoredObject(object_id, stored_size, written=False)
        before = os.stat(path)
        with open(path, "rb") as f:
            got, size = hash_stream(f)
        if object_id is not None and got != object_id:
            raise ChecksumMismatch(object_id, got)
        if object_id is None and self.exists(got):
            return StoredObject(got, size, written=False)
        key = self._key(got)
        with self._errors("upload an object"):
            self.client.upload_file(os.fspath(path), self.bucket, key, Config=self._transfer_config)
        after = os.stat(path)
        if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
            self._delete_quietly(key)  # what was uploaded may not hash to ``got``
            raise StorageError(f"{os.fspath(path)!r} changed while it was being stored")
        return self._written(got, size)

    def _put_small(self, object_id: ObjectId, data: bytes) -> StoredObject:
        if self.exists(object_id):
            return StoredObject(object_id, len(data), written=False)
        with self._errors("upload an object"):
            self.client.put_object(Bucket=self.bucket, Key=self._key(object_id), Body=data)
        return self._written(object_id, len(data))

    def _put_large(
        self, reader: HashingReader, source: _Readable, size_hint: int | None
    ) -> StoredObject:
        first_size = self._part_size(1, size_hint)
        first = _read_full(source, first_size)
        if len(first) < first_size:  # the whole stream fits in one part
            return self._put_small(reader.object_id, first)
        temp_key = f"{self.prefix}tmp/{uuid.uuid4().hex}"
        with self._errors("upload an object"):
            upload_id = self.client.create_multipart_upload(Bucket=self.bucket, Key=temp_key)[
                "UploadId"
            ]
        try:
            with self._errors("upload an object"):
                parts = self._upload_parts(temp_key, upload_id, first, source, size_hint)
                self.client.complete_multipart_upload(
                    Bucket=self.bucket,
                    Key=temp_key,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": parts},
                )
        except BaseException:
            self._abort_quietly(temp_key, upload_id)
            raise
        try:
            object_id = reader.object_id
            if self.exists(object_id):
                return StoredObject(object_id, reader.size, written=False)
            with self._errors("copy an object"):
                self.client.copy(
                    CopySource={"Bucket": self.bucket, "Key": temp_key},
                    Bucket=self.bucket,
                    Key=self._key(object_id),
                    Config=self._transfer_config,  # multipart copy when large (needed > 5 GB)
                )
            return self._written(object_id, reader.size)
        finally:
            self._delete_quietly(temp_key)

    def _upload_parts(
        self,
        key: str,
        upload_id: str,
        first: bytes,
        source: _Readable,
        size_hint: int | None,
    ) -> list[dict[str, Any]]:
        """Upload ``first`` then the rest of ``source``, at most ``max_concurrency`` at once."""
        parts: list[dict[str, Any]] = []
        in_flight: deque[Future[dict[str, Any]]] = deque()
        pool = ThreadPoolExecutor(self.max_concurrency, thread_name_prefix="dw-s3-part")
        try:
            number, data = 1, first
            while True:
                in_flight.append(pool.submit(self._upload_part, key, upload_id, number, data))
                if len(in_flight) >= self.max_concurrency:
                    parts.append(in_flight.popleft().result())
                if len(data) < self._part_size(number, size_hint):
                    break  # a short part is the last one
                number += 1
                if number > _MAX_PARTS:
                    raise StorageError("stream is too large for one S3 multipart upload")
                data = _read_full(source, self._part_size(number, size_hint))
                if not data:
                    break
            parts.extend(future.result() for future in in_flight)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        return parts

    def _upload_part(self, key: str, upload_id: str, number: int, data: bytes) -> dict[str, Any]:
        response = self.client.upload_part(
            Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=data
        )
        return {"PartNumber": number, "ETag": response["ETag"]}

    def _part_size(self, number: int, size_hint: int | None) -> int:
        """Size of part ``number``: sized so a stream never needs more than 10,000 parts."""
        base = self.part_size
        if size_hint:
            base = max(base, -(-size_hint // (_MAX_PARTS - 1_000)))
        return min(base << ((number - 1) // _PARTS_PER_DOUBLING), _MAX_PART_SIZE)

    # --- reads ------------------------------------------------------------------------

    def open(self, object_id: ObjectId) -> BinaryIO:
        """Stream an object (a context manager; close it to free the connection).

        Raises:
            ObjectNotFound: if the object is not stored.
        """
        with self._errors("read an object", object_id):
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(object_id))
        return io.BufferedReader(_BodyReader(response["Body"], self._translate))

    def read_range(self, object_id: ObjectId, start: int, end: int) -> bytes:
        """Bytes ``start`` to ``end`` (exclusive), clipped to the object, by one ranged GET.

        Raises:
            InvalidInput: if ``start`` is negative or ``end`` is before ``start``.
            ObjectNotFound: if the object is not stored.
        """
        if start < 0 or end < start:
            raise InvalidInput(f"invalid byte range {start}-{end}: need 0 <= start <= end")
        key = self._key(object_id)
        if start == end:
            if self._head_size(object_id) is None:
                raise ObjectNotFound(object_id)
            return b""
        try:
            response = self.client.get_object(
                Bucket=self.bucket, Key=key, Range=f"bytes={start}-{end - 1}"
            )
        except ClientError as exc:
            if _error_code(exc) == "InvalidRange":  # starts at or past the end
                return b""
            raise self._translate(exc, "read an object", object_id) from exc
        except BotoCoreError as exc:
            raise self._translate(exc, "read an object", object_id) from exc
        body = response["Body"]
        try:
            with self._errors("read an object", object_id):
                data: bytes = body.read()
        finally:
            body.close()
        return data[: end - start]

    def exists(self, object_id: ObjectId) -> bool:
        """Whether the object is stored (one HEAD)."""
        return self._head_size(object_id) is not None

    def size(self, object_id: ObjectId) -> int:
        """The object's size in bytes. Raises ObjectNotFound."""
        size = self._head_size(object_id)
        if size is None:
            raise ObjectNotFound(object_id)
        return size

    def delete(self, object_id: ObjectId) -> None:
        """Remove the object; S3 deletes are idempotent, so a missing object is fine."""
        with self._errors("delete an object"):
            self.client.delete_object(Bucket=self.bucket, Key=self._key(object_id))

    def iter_ids(self) -> Iterator[ObjectId]:
        """Every stored id, listed page by page under ``{prefix}objects/``."""
        paginator = self.client.get_paginator("list_objects_v2")
        with self._errors("list objects"):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=f"{self.prefix}objects/"):
                for item in page.get("Contents", ()):
                    key: str = item["Key"]
                    name = key.rsplit("/", 1)[-1]
                    if is_object_id(name) and key == object_key(self.prefix, ObjectId(name)):
                        yield ObjectId(name)

    def iter_objects(self) -> Iterator[ObjectInfo]:
        """Every object with its size and LastModified, in id order.

        S3 lists keys in UTF-8 binary order, and the fan-out folders are id prefixes, so
        the listing is already sorted by id: a thousand objects per request, no HEADs.
        """
        paginator = self.client.get_paginator("list_objects_v2")
        with self._errors("list objects"):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=f"{self.prefix}objects/"):
                for item in page.get("Contents", ()):
                    key: str = item["Key"]
                    name = key.rsplit("/", 1)[-1]
                    if is_object_id(name) and key == object_key(self.prefix, ObjectId(name)):
                        yield ObjectInfo(
                            ObjectId(name), int(item["Size"]), item["LastModified"].timestamp()
                        )

    def presigned_url(
        self,
        object_id: ObjectId,
        expires_in: int = 3600,
        *,
        content_disposition: str | None = None,
        content_type: str | None = None,
    ) -> str:
        """A URL that downloads the object without credentials for ``expires_in`` seconds.

        ``content_disposition`` and ``content_type`` become the response's headers, so a
        download keeps its file name instead of the object's hash.
        """
        params = {"Bucket": self.bucket, "Key": self._key(object_id)}
        if content_disposition:
            params["ResponseContentDisposition"] = content_disposition
        if content_type:
            params["ResponseContentType"] = content_type
        with self._errors("sign a URL"):
            url: str = self.client.generate_presigned_url(
                "get_object", Params=params, ExpiresIn=expires_in
            )
        return url

    # --- helpers ----------------------------------------------------------------------

    def _key(self, object_id: ObjectId) -> str:
        return object_key(self.prefix, parse_object_id(object_id))

    def _head_size(self, object_id: ObjectId) -> int | None:
        try:
            with self._errors("read an object", object_id):
                response = self.client.head_object(Bucket=self.bucket, Key=self._key(object_id))
        except ObjectNotFound:
            return None
        return int(response["ContentLength"])

    def _written(self, object_id: ObjectId, size: int) -> StoredObject:
        with self._lock:
            self.writes += 1
        return StoredObject(object_id, size, written=True)

    def _delete_quietly(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=key)
        except (BotoCoreError, ClientError):
            pass  # a stray temp key costs only space; the lifecycle rule removes it

    def _abort_quietly(self, key: str, upload_id: str) -> None:
        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        except (BotoCoreError, ClientError):
            pass  # the lifecycle rule aborts it later

    @contextmanager
    def _errors(self, action: str, object_id: ObjectId | None = None) -> Iterator[None]:
        """Turn boto errors into ours: ObjectNotFound for a missing object, else StorageError."""
        try:
            yield
        except (BotoCoreError, ClientError, S3UploadFailedError) as exc:
            raise self._translate(exc, action, object_id) from exc

    def _translate(
        self, exc: Exception, action: str, object_id: ObjectId | None = None
    ) -> DataWorkflowError:
        """A short message safe to show a user: no URLs, signatures or keys."""
        if isinstance(exc, ClientError):
            code = _error_code(exc)
            if object_id is not None and code in _NOT_FOUND:
                return ObjectNotFound(object_id)
            return StorageError(f"S3 could not {action} in bucket {self.bucket!r}: {code}")
        return StorageError(
            f"S3 could not {action} in bucket {self.bucket!r}: {type(exc).__name__}"
        )


class _Readable(Protocol):
    def read(self, n: int = -1, /) -> bytes: ...


class _BodyReader(io.RawIOBase):
    """A botocore StreamingBody as a raw stream, so BufferedReader can wrap and close it."""

    def __init__(self, body: Any, translate: Callable[[Exception, str], DataWorkflowError]) -> None:
        self._body = body
        self._translate = translate

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self._read(len(view))
        view[: len(data)] = data
        return len(data)

    def readall(self) -> bytes:
        return self._read(None)

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()

    def _read(self, n: int | None) -> bytes:
        try:
            data: bytes = self._body.read(n)
        except (BotoCoreError, ClientError) as exc:
            raise self._translate(exc, "read an object") from exc
        return data


class _Prepended:
    """Bytes already read, then the rest of a stream."""

    def __init__(self, head: bytes, rest: _Readable) -> None:
        self._head = memoryview(head)
        self._rest = rest

    def read(self, n: int = -1) -> bytes:
        if self._head:
            size = len(self._head) if n < 0 else min(n, len(self._head))
            data = bytes(self._head[:size])
            self._head = self._head[size:]
            return data
        return self._rest.read(n)


def _read_full(stream: _Readable, n: int) -> bytes:
    """Read exactly ``n`` bytes, fewer only at the end of the stream."""
    chunks: list[bytes] = []
    remaining = n
    while remaining > 0:
        chunk = stream.read(remaining)
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "error"))
